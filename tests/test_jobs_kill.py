"""Kill tests: a worker subprocess stopped by SIGTERM or SIGKILL at random points, then
resumed: no duplicates, no losses, spend within the budget. Plus the budget property."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plotpalette.errors import ThrottledError, TransientModelError
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
from plotpalette.llm import PriceTable
from plotpalette.llm.base import ModelResponse, Usage
from plotpalette.testing import (
    InstantBackend,
    qa_template,
    topic_seeds,
    wait_until_running,
    worker_command,
    workspace_with_template,
)
from plotpalette.workspace import Workspace

SEEDS = topic_seeds(11, "t")
FAST = RunOptions(
    concurrency=4, flush_records=5, flush_seconds=0.05, progress_seconds=0.02, grace_s=5
)


@pytest.fixture
def ws(tmp_path):
    return workspace_with_template(tmp_path / "ws", qa_template("qa_kill", output=False))


def _worker(ws: Workspace, job_id: str) -> subprocess.Popen:
    cmd = worker_command(ws, job_id, latency=0.004, flush_seconds=0.05, flush_records=7, grace=5)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_worker_resumes_without_duplicates_or_losses(ws, sig):
    rng = random.Random(int(sig))
    budget = 0.05
    job_id = create_job(
        ws, JobSpec(template="qa_kill", seeds=SEEDS, records=600, budget_usd=budget)
    )
    kills = 0
    for _ in range(3):
        proc = _worker(ws, job_id)
        wait_until_running(ws, job_id, proc)  # its signal handlers are installed by then
        time.sleep(rng.uniform(0.05, 0.5))  # then a random point of the run
        if proc.poll() is None:
            proc.send_signal(sig)
            kills += 1
        code = proc.wait(30)
        state = job_status(ws, job_id).state
        if sig == signal.SIGTERM:
            # a Spot notice never falls through to COMPLETED unless all is done
            assert state in (JobState.INTERRUPTED, JobState.COMPLETED), proc.stderr.read()
            # -15: the signal landed after the job had finished, while the process exited
            assert code in (0, 5) or (code == -15 and state is JobState.COMPLETED)
            if state is JobState.INTERRUPTED:
                assert len(scan_shards(ws, job_id).indices) < 600
        else:
            assert state in (JobState.RUNNING, JobState.COMPLETED)
        assert job_status(ws, job_id).spend_usd <= budget + 1e-12
    assert kills >= 1
    result = resume_job(ws, job_id, backend=InstantBackend(), options=FAST)
    assert result.state is JobState.COMPLETED, result.error
    scan = scan_shards(ws, job_id)
    assert scan.indices == set(range(600)) and scan.duplicates == 0
    assert len(list(iter_records(ws, job_id))) == 600
    info = job_status(ws, job_id)
    assert info.spend_usd <= budget + 1e-12
    assert info.reserved_usd == pytest.approx(0.0, abs=1e-12)
    # the ledger holds at least what the stored records cost
    assert info.settled_usd >= sum(r.cost_usd for r in iter_records(ws, job_id)) - 1e-12


class ChaosBackend(InstantBackend):
    """InstantBackend with random latency, failures and usage up to the request's bound."""

    def __init__(self, rng: random.Random, fail_rate: float) -> None:
        super().__init__()
        self.rng, self.fail_rate = rng, fail_rate
        self.prices = PriceTable.load()
        self.billed_usd = 0.0

    async def generate(self, request):
        await asyncio.sleep(self.rng.uniform(0, 0.003))
        if self.rng.random() < self.fail_rate:
            raise self.rng.choice([ThrottledError("chaos"), TransientModelError("chaos")])
        model = self.resolve_model(request.model)
        usage = Usage(
            input_tokens=self.rng.randint(1, self.max_input_tokens(request)),
            output_tokens=self.rng.randint(0, request.max_tokens),
        )
        self.billed_usd += self.prices.cost(model, usage)
        return ModelResponse(
            text="An answer of some words here.",
            stop_reason="end_turn",
            usage=usage,
            latency_ms=1.0,
            model=model,
        )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    fail_rate=st.floats(0, 0.6),
    budget_records=st.floats(0.5, 12),
    concurrency=st.integers(1, 8),
)
def test_random_latency_failures_and_usage_never_overspend(
    ws, seed, fail_rate, budget_records, concurrency
):
    backend = ChaosBackend(random.Random(seed), fail_rate)
    price = PriceTable.load().price("amazon.nova-micro-v1:0")
    budget = budget_records * 150 * (price.input + price.output) / 1e6
    opts = RunOptions(
        concurrency=concurrency,
        flush_records=3,
        flush_seconds=0.02,
        progress_seconds=0.01,
        grace_s=5,
    )
    result = run_job(
        ws,
        JobSpec(
            template="qa_kill", seeds=SEEDS, records=15, budget_usd=budget, error_threshold=1.0
        ),
        backend=backend,
        options=opts,
    )
    info = job_status(ws, result.job_id)
    assert backend.billed_usd <= budget + 1e-12  # what the "provider" really charged
    assert info.spend_usd <= budget + 1e-12
    assert info.settled_usd == pytest.approx(backend.billed_usd, rel=1e-9, abs=1e-15)
    assert result.state in (JobState.COMPLETED, JobState.BUDGET_EXCEEDED, JobState.FAILED)
    if result.state is JobState.COMPLETED:
        assert len(scan_shards(ws, result.job_id).indices) == 15


@pytest.mark.skipif(os.environ.get("CI_NO_EMULATOR") == "1", reason="emulator disabled")
def test_throttling_storm_still_finishes_every_record(ws, monkeypatch):
    from plotpalette.llm import make_backend
    from plotpalette.testing import BedrockEmulator

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with BedrockEmulator(rpm=1200, burst_s=0.05, latency_median_s=0.005) as emu:
        settings_ = ws.settings.replace(
            backend="bedrock", region="us-east-1", bedrock_endpoint_url=emu.endpoint_url
        )
        backend = make_backend(settings_)
        result = run_job(
            ws,
            JobSpec(template="qa_kill", seeds=SEEDS, records=20, budget_usd=1.0, backend="bedrock"),
            backend=backend,
            options=RunOptions(concurrency=16, flush_seconds=0.1),
        )
    assert result.state is JobState.COMPLETED, result.error
    assert len(scan_shards(ws, result.job_id).indices) == 20
