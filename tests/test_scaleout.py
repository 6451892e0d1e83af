"""N workers on one job: real worker processes, the Bedrock emulator, kills and zombies.

Workers run as ``sys.executable -m plotpalette.testing.worker`` (the production worker
on the InstantBackend) or ``-m plotpalette worker`` against the emulator, so this
worktree's code runs in every process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plotpalette.jobs import (
    JobSpec,
    JobState,
    RunOptions,
    create_job,
    iter_records,
    job_status,
    resume_job,
    run_job,
    scan_shards,
)
from plotpalette.jobs import worker as worker_module
from plotpalette.jobs.coordination.finalize import finalize
from plotpalette.jobs.worker import EXIT_INTERRUPTED
from plotpalette.llm import PriceTable, make_backend
from plotpalette.testing import (
    InstantBackend,
    qa_template,
    topic_seeds,
    until,
    worker_command,
    workspace_with_template,
)
from plotpalette.testing.billing import BillingMeter

SEEDS = topic_seeds(13, "t")
FAST = RunOptions(
    concurrency=4, flush_records=5, flush_seconds=0.05, progress_seconds=0.02, grace_s=5
)


@pytest.fixture
def ws(tmp_path):
    return workspace_with_template(tmp_path / "ws", qa_template("qa_scale", output=False))


def _spec(**kw):
    kw.setdefault("template", "qa_scale")
    kw.setdefault("seeds", SEEDS)
    return JobSpec(**kw)


def _per_record_usd() -> float:
    price = PriceTable.load().price("amazon.nova-micro-v1:0")
    return 150 * (price.input + price.output) / 1e6


def _worker(ws, job_id, *, latency=0.003, lease=2.0, extra=()):
    cmd = worker_command(
        ws, job_id, latency=latency, concurrency=4, flush_seconds=0.05, flush_records=7, grace=5
    )
    cmd += ["--lease-seconds", str(lease), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _assert_unique_and_within(ws, job_id, budget=None):
    records = list(iter_records(ws, job_id))
    assert len({r.index for r in records}) == len(records)
    info = job_status(ws, job_id)
    if budget is not None:
        assert info.spend_usd <= budget + 1e-12
    return records, info


# -- the budget in real dollars ---------------------------------------------------------
@pytest.mark.parametrize(
    ("fault_rate", "budget_records"), [(0.2, 6.0), (0.35, 3.5), (0.5, 8.0), (0.2, 1000.0)]
)
def test_lost_replies_are_billed_and_booked_never_over_the_budget(
    ws, bedrock_emulator, fault_rate, budget_records
):
    """The emulator bills calls whose reply it loses (reset, truncated body); the job
    must book them, so the provider's bill stays within the budget and the ledger never
    shows less than the bill."""
    bedrock_emulator.configure(
        failure_rate=fault_rate, failure_kinds=("reset", "malformed"), seed=int(fault_rate * 100)
    )
    meter = BillingMeter.attach(bedrock_emulator)
    settings_ = ws.settings.replace(
        backend="bedrock", region="us-east-1", bedrock_endpoint_url=bedrock_emulator.endpoint_url
    )
    budget = budget_records * _per_record_usd()
    result = run_job(
        ws,
        _spec(records=30, budget_usd=budget, backend="bedrock", error_threshold=1.0, workers=2),
        backend=make_backend(settings_),
        options=RunOptions(concurrency=4, flush_seconds=0.05, grace_s=5),
    )
    info = job_status(ws, result.job_id)
    billed = meter.report()
    assert billed["lost_calls"] > 0  # the fault really happened
    assert billed["billed_usd"] <= budget + 1e-12
    assert ws.registry.ledger_spend(result.job_id) >= billed["billed_usd"] - 1e-12
    assert info.settled_usd >= billed["billed_usd"] - 1e-12
    assert info.waste_usd >= billed["lost_usd"] - 1e-12  # lost calls show as waste
    assert info.spend_usd <= budget + 1e-12
    if budget_records < 100:
        assert result.state is JobState.BUDGET_EXCEEDED
        # the money left is less than one record's worst case (two calls at most)
        worst = 2 * PriceTable.load().worst_case("amazon.nova-micro-v1:0", 400, 60)
        assert budget - info.spend_usd <= worst
    else:
        assert result.state in (JobState.COMPLETED, JobState.FAILED)


# -- zombies and slow workers -----------------------------------------------------------
def test_a_zombie_worker_writes_nothing_that_counts(ws):
    """SIGSTOP a worker past its lease; another takes its unit and budget lease over;
    SIGCONT: the woken worker is fenced (exit 5), books nothing twice, and the job's
    records stay unique and within the budget."""
    budget = 300 * _per_record_usd()
    job_id = create_job(ws, _spec(records=200, budget_usd=budget))
    zombie = _worker(ws, job_id, latency=0.02, lease=1.0)
    try:
        assert until(lambda: job_status(ws, job_id).records_done > 5, timeout=60)
        zombie.send_signal(signal.SIGSTOP)
        frozen = job_status(ws, job_id)
        rescuer = _worker(ws, job_id, latency=0.002, lease=1.0)
        # the rescuer runs the pending units, then fences the zombie (its lease expired),
        # books its mark and takes its unit over
        assert until(
            lambda: any(r.kind == "reclaim" for r in ws.registry.ledger(job_id)), timeout=120
        )
        assert job_status(ws, job_id).records_done > frozen.records_done
        zombie.send_signal(signal.SIGCONT)
        assert zombie.wait(60) == EXIT_INTERRUPTED, zombie.stderr.read()
        assert rescuer.wait(120) in (0, 3), rescuer.stderr.read()
    finally:
        for p in (zombie,):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
    info = job_status(ws, job_id)
    finalize(ws.registry, ws.store, job_id)
    records, info = _assert_unique_and_within(ws, job_id, budget)
    assert info.state in (JobState.COMPLETED, JobState.BUDGET_EXCEEDED)
    assert info.settled_usd >= sum(r.cost_usd for r in records) - 1e-12
    assert info.leased_usd == pytest.approx(0.0, abs=1e-12)
    kinds = [row.kind for row in ws.registry.ledger(job_id)]
    assert "reclaim" in kinds  # the zombie's lease was reclaimed, once
    assert kinds.count("reclaim") == 1


def test_a_slow_worker_whose_lease_expires_is_fenced_in_process(ws):
    """A worker that is only slow (its loop blocked past the lease) loses its unit to
    another worker and must neither write it as done nor book its lease twice."""
    opts = RunOptions(
        concurrency=2, flush_seconds=0.05, lease_s=0.3, grace_s=2, unit_size=10, idle_poll_s=0.05
    )
    job_id = create_job(ws, _spec(records=60, budget_usd=1.0))
    slow = InstantBackend(latency_s=0.001)
    calls = {"n": 0}
    original = slow.generate

    async def stall(request):
        calls["n"] += 1
        if calls["n"] == 5:
            time.sleep(1.0)  # blocks the whole event loop: no heartbeat, no checkpoint
        return await original(request)

    slow.generate = stall
    out = {}
    t = threading.Thread(
        target=lambda: out.setdefault(
            "slow", run_job(ws, job_id, backend=slow, options=opts, handle_signals=False)
        )
    )
    t.start()
    assert until(lambda: calls["n"] >= 5, timeout=30)
    fast = run_job(ws, job_id, backend=InstantBackend(), options=opts, handle_signals=False)
    t.join(60)
    assert out["slow"].extra["lost_lease"] is True
    records, info = _assert_unique_and_within(ws, job_id, 1.0)
    assert fast.state is JobState.COMPLETED or info.state is JobState.COMPLETED
    assert len(records) == 60
    assert [row.kind for row in ws.registry.ledger(job_id)].count("reclaim") <= 1


def test_concurrent_finalizers_agree_and_finalizing_twice_is_harmless(ws):
    result = run_job(ws, _spec(records=20), backend=InstantBackend(), options=FAST)
    job_id = result.job_id
    # reopen it as RUNNING with every unit done: many finalizers race
    ws.registry._update(job_id, lambda d: {**d, "state": "RUNNING", "final_counts": None})
    before = len([e for e in ws.registry.events(job_id) if e[1] == "state"])
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(finalize(ws.registry, ws.store, job_id)))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(got) == {JobState.COMPLETED}
    states = [e for e in ws.registry.events(job_id) if e[1] == "state"]
    assert len(states) == before + 1  # one finalizer won the transition
    assert finalize(ws.registry, ws.store, job_id) is JobState.COMPLETED


# -- entry points ----------------------------------------------------------------------
def test_worker_exit_codes_and_nothing_left(ws):
    job_id = create_job(ws, _spec(records=30))
    first = _worker(ws, job_id, latency=0.0)
    assert first.wait(60) == 0, first.stderr.read()
    assert job_status(ws, job_id).state is JobState.COMPLETED
    late = _worker(ws, job_id)  # joins a finished job: nothing left, exit 0
    assert late.wait(60) == 0, late.stderr.read()
    assert "nothing left for this worker" in late.stderr.read().decode()


def test_a_batch_worker_never_restarts_a_job_that_failed_after_its_check(ws, monkeypatch):
    """A late Batch child checked the job (RUNNING), another worker then failed it, and
    the child's join restarted the FAILED job (seen on the Batch simulator: FAILED,
    RUNNING, INTERRUPTED, RUNNING, FAILED). The join itself now refuses, atomically."""
    job_id = create_job(ws, _spec(records=10))
    ws.registry.start_run(job_id, counts={}, unit_size=5)
    run = ws.registry.job_data(job_id)["run"]
    monkeypatch.setenv("AWS_BATCH_JOB_ID", "batch-1:0")
    real_check = worker_module.orchestrated_exit
    checks = []

    def check_then_another_worker_fails_the_job(ws_, job):
        code = real_check(ws_, job)
        if not checks:
            error = {"message": "no access to the model", "fix": "request access"}
            ws.registry.transition(
                job_id, JobState.FAILED, expected=[JobState.RUNNING], error=error
            )
        checks.append(code)
        return code

    monkeypatch.setattr(worker_module, "orchestrated_exit", check_then_another_worker_fails_the_job)
    parser = argparse.ArgumentParser()
    worker_module.add_arguments(parser)
    args = parser.parse_args([job_id, "--concurrency", "2"])
    code = worker_module.serve(ws, args, backend=InstantBackend())
    assert code == worker_module.EXIT_BY_STATE[JobState.FAILED]
    assert checks == [None, code]  # passed the first check, refused after the join
    data = ws.registry.job_data(job_id)
    assert data["state"] == JobState.FAILED.value and data["run"] == run
    assert job_status(ws, job_id).calls == 0


def test_sigterm_stops_one_worker_and_the_others_finish(ws):
    job_id = create_job(ws, _spec(records=300))
    procs = [_worker(ws, job_id, latency=0.01) for _ in range(3)]
    # once its worker item exists its signal handlers are installed
    joined = lambda: procs[0].pid in {w["pid"] for w in job_status(ws, job_id).workers}  # noqa: E731
    assert until(joined, timeout=60)
    assert until(lambda: job_status(ws, job_id).records_done > 10, timeout=60)
    procs[0].send_signal(signal.SIGTERM)
    assert procs[0].wait(60) == EXIT_INTERRUPTED
    assert [p.wait(120) for p in procs[1:]] == [0, 0]
    records, info = _assert_unique_and_within(ws, job_id)
    assert info.state is JobState.COMPLETED and len(records) == 300


def test_cli_run_with_workers_and_status(ws, capsys):
    from plotpalette.cli import main
    from plotpalette.llm.local_files import llama_cpp_available, local_model_file

    if local_model_file() is None or not llama_cpp_available():
        pytest.skip("embedded model not installed (plotpalette[local])")

    code = main(
        [
            "--workspace", ws.location, "run", "--template", "qa_scale", "--seeds", "sample:poetry",
            "-n", "12", "--workers", "2", "--backend", "local", "--json", "--no-progress",
            "--budget", "0",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code in (0, 3), out
    assert '"worker_exit_codes"' in out


# -- properties --------------------------------------------------------------------------
class ChaosBackend(InstantBackend):
    """Random latency and failures; some failures have an unknown bill (billed anyway)."""

    def __init__(self, rng: random.Random, fail_rate: float) -> None:
        super().__init__()
        self.rng, self.fail_rate = rng, fail_rate
        self.prices = PriceTable.load()
        self.billed_usd = 0.0

    async def generate(self, request):
        from plotpalette.errors import ThrottledError, TransientModelError
        from plotpalette.llm.attempts import before_retry, mark_unknown
        from plotpalette.llm.base import ModelResponse, Usage

        model = self.resolve_model(request.model)
        for _attempt in range(3):
            await asyncio.sleep(self.rng.uniform(0, 0.003))
            usage = Usage(
                input_tokens=self.rng.randint(1, self.max_input_tokens(request)),
                output_tokens=self.rng.randint(0, request.max_tokens),
            )
            roll = self.rng.random()
            if roll < self.fail_rate / 2:
                err = ThrottledError("chaos")  # refused: not billed
            elif roll < self.fail_rate:
                self.billed_usd += self.prices.cost(model, usage)  # ran, reply lost
                err = mark_unknown(TransientModelError("chaos: reply lost"))
            else:
                self.billed_usd += self.prices.cost(model, usage)
                return ModelResponse("An answer of some words.", "end_turn", usage, 1.0, model)
            if _attempt < 2:
                await before_retry(err)
        raise err


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    fail_rate=st.floats(0, 0.5),
    budget_records=st.floats(0.5, 15),
    workers=st.integers(1, 4),
)
def test_concurrent_workers_never_overspend(ws, seed, fail_rate, budget_records, workers):
    backend = ChaosBackend(random.Random(seed), fail_rate)
    budget = budget_records * _per_record_usd()
    opts = RunOptions(concurrency=3, flush_records=3, flush_seconds=0.02, grace_s=5, unit_size=4)
    result = run_job(
        ws,
        _spec(records=20, budget_usd=budget, error_threshold=1.0, workers=workers),
        backend=backend,
        options=opts,
    )
    info = job_status(ws, result.job_id)
    assert backend.billed_usd <= budget + 1e-12  # what the "provider" charged
    assert info.spend_usd <= budget + 1e-12
    assert info.settled_usd >= backend.billed_usd - 1e-12
    _assert_unique_and_within(ws, result.job_id, budget)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(budget_records=st.floats(1, 10), workers=st.integers(1, 3))
def test_a_budget_stop_then_resume_equals_an_uninterrupted_run(ws, budget_records, workers):
    opts = RunOptions(concurrency=3, flush_seconds=0.02, grace_s=5, unit_size=5)
    whole = run_job(ws, _spec(records=25), backend=InstantBackend(), options=opts)
    stopped = run_job(
        ws,
        _spec(records=25, budget_usd=budget_records * _per_record_usd(), workers=workers),
        backend=InstantBackend(),
        options=opts,
    )
    assert stopped.state is JobState.BUDGET_EXCEEDED
    resumed = resume_job(
        ws,
        stopped.job_id,
        backend=InstantBackend(),
        options=opts,
        budget_usd=1.0,
        workers=workers,
    )
    assert resumed.state is JobState.COMPLETED

    def outputs(job_id):
        return {r.index: (r.status, r.steps["answer"].output) for r in iter_records(ws, job_id)}

    assert outputs(stopped.job_id) == outputs(whole.job_id)


# -- kill torture ------------------------------------------------------------------------
def _torture(ws, job_id, *, kills: int, workers: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    procs = [_worker(ws, job_id, latency=0.04, lease=1.5) for _ in range(workers)]
    codes = []
    done = 0
    while done < kills:
        time.sleep(rng.uniform(0.1, 0.6))
        if job_status(ws, job_id).state is not JobState.RUNNING and done:
            break
        working = {w["pid"] for w in job_status(ws, job_id).workers}
        alive = [p for p in procs if p.poll() is None and p.pid in working]
        if not alive:  # kill only workers that joined (and hold units and leases)
            continue
        victim = rng.choice(alive)
        victim.send_signal(rng.choice([signal.SIGKILL, signal.SIGTERM]))
        codes.append(victim.wait(60))
        procs.remove(victim)
        procs.append(_worker(ws, job_id, latency=0.04, lease=1.5))  # its replacement
        done += 1
    codes += [p.wait(300) for p in procs]
    return codes


@pytest.mark.slow
def test_kill_torture_across_workers_completes_without_duplicates_or_losses(ws):
    job_id = create_job(ws, _spec(records=2000, budget_usd=None))
    _torture(ws, job_id, kills=25, workers=4, seed=1)
    finalize(ws.registry, ws.store, job_id)
    records, info = _assert_unique_and_within(ws, job_id)
    assert info.state is JobState.COMPLETED, info.error
    assert sorted(r.index for r in records) == list(range(2000))
    assert scan_shards(ws, job_id).indices == set(range(2000))


@pytest.mark.slow
def test_kill_torture_with_a_binding_budget_uses_it_and_never_passes_it(ws):
    budget = 800 * _per_record_usd()
    job_id = create_job(ws, _spec(records=2000, budget_usd=budget))
    _torture(ws, job_id, kills=25, workers=4, seed=2)
    # replacements keep joining until the money is gone
    while job_status(ws, job_id).state is JobState.RUNNING:
        p = _worker(ws, job_id, latency=0.0)
        p.wait(300)
    records, info = _assert_unique_and_within(ws, job_id, budget)
    assert info.state is JobState.BUDGET_EXCEEDED, info.error
    assert info.spend_usd >= 0.98 * budget
    assert info.settled_usd >= sum(r.cost_usd for r in records) - 1e-12


def test_the_worker_module_does_not_import_the_test_doubles():
    code = (
        "import sys, plotpalette.jobs.worker, plotpalette.cli; "
        "print(any(m.startswith('plotpalette.testing') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert out.stdout.strip() == "False", out.stderr
