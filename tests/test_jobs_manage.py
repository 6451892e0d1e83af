"""Deleting jobs, pausing them from another process, and the per-step max_tokens cap."""

from __future__ import annotations

import subprocess
import time

import pytest

from plotpalette import layout
from plotpalette.errors import (
    ConfigError,
    JobNotFoundError,
    JobStateError,
    TemplateInUseError,
)
from plotpalette.jobs import (
    JobHandle,
    JobSpec,
    JobState,
    RunOptions,
    cancel_job,
    create_job,
    delete_job,
    estimate_job,
    fingerprint,
    job_status,
    list_jobs,
    open_registry,
    pause_job,
    run_job,
    scan_shards,
    unpause_job,
)
from plotpalette.templates.library import TemplateLibrary
from plotpalette.testing import (
    InstantBackend,
    qa_template,
    topic_seeds,
    until,
    wait_until_running,
    worker_command,
    workspace_with_template,
)

SEEDS = topic_seeds(9)
FAST = RunOptions(concurrency=2, flush_records=5, flush_seconds=0.05, progress_seconds=0.02)


@pytest.fixture
def ws(tmp_path):
    return workspace_with_template(tmp_path / "ws", qa_template("qa_manage"))


def _spec(**kw) -> JobSpec:
    return JobSpec(**{"template": "qa_manage", "seeds": SEEDS, "records": 6, **kw})


# -- delete --------------------------------------------------------------------------
def test_delete_removes_the_files_and_keeps_the_cost_history(ws):
    from plotpalette.export import export_job

    result = run_job(ws, _spec(budget_usd=1.0), backend=InstantBackend(), options=FAST)
    export_job(ws, result.job_id, format="jsonl")
    ws.store.write_bytes(layout.report_key(result.job_id), b"{}")
    files = ws.store.list(layout.job_prefix(result.job_id))
    assert any("/records/" in k for k in files) and any("/exports/" in k for k in files)
    registry = open_registry(ws)
    ledger_before = registry.ledger(result.job_id)
    registry.close()

    done = delete_job(ws, result.job_id)

    assert done.files_removed == len(files) and done.state is JobState.COMPLETED
    assert ws.store.list(layout.job_prefix(result.job_id)) == []
    assert not (ws.root / "jobs" / result.job_id).exists()
    with pytest.raises(JobNotFoundError, match="deleted"):
        job_status(ws, result.job_id)
    assert result.job_id not in [j.job_id for j in list_jobs(ws)]
    kept = [j for j in list_jobs(ws, include_deleted=True) if j.job_id == result.job_id]
    assert kept and kept[0].deleted_at is not None
    assert kept[0].spend_usd == pytest.approx(result.spend_usd) == pytest.approx(done.spend_usd)
    registry = open_registry(ws)
    try:
        assert registry.ledger(result.job_id) == ledger_before and done.ledger_rows > 0
    finally:
        registry.close()
    with pytest.raises(JobNotFoundError):  # deleted twice
        delete_job(ws, result.job_id)


def test_unknown_job_cannot_be_deleted(ws):
    with pytest.raises(JobNotFoundError):
        delete_job(ws, "no-such-job")


def test_a_template_can_be_deleted_once_its_last_job_is(ws):
    library = TemplateLibrary(ws)
    library.save(qa_template("mine"))
    jobs = [
        run_job(ws, _spec(template="mine", records=2), backend=InstantBackend()).job_id
        for _ in range(2)
    ]
    with pytest.raises(TemplateInUseError):
        library.delete("mine")
    delete_job(ws, jobs[0])
    with pytest.raises(TemplateInUseError, match=jobs[1]):
        library.delete("mine")
    delete_job(ws, jobs[1])
    assert library.delete("mine") == 1


def test_a_running_job_is_refused_and_force_cancels_it_first(ws):
    handle = JobHandle(
        ws, _spec(records=400), backend=InstantBackend(latency_s=0.02), options=FAST
    ).start()
    assert until(lambda: job_status(ws, handle.job_id).records_done > 0)
    with pytest.raises(JobStateError, match="RUNNING"):
        delete_job(ws, handle.job_id)
    assert ws.store.exists(layout.template_snapshot_key(handle.job_id))
    done = delete_job(ws, handle.job_id, force=True, wait_s=30)
    assert done.state is JobState.CANCELLED
    assert handle.wait(30).state is JobState.CANCELLED
    assert ws.store.list(layout.job_prefix(handle.job_id)) == []


def test_a_running_job_with_a_dead_worker_is_deleted_and_its_reservation_booked(ws):
    from plotpalette.jobs.coordination import leases, workers

    job_id = create_job(ws, _spec(budget_usd=1.0))
    registry = ws.registry
    registry.start_run(job_id, counts={}, unit_size=10)
    ghost = workers.WorkerItem(registry.tables, job_id, "ghost", lease_s=0.05)
    ghost.join(run=1)
    settle = leases.Settlement(
        0.0, 0, 0.0, 0, want_usd=0.5, want_tokens=0, need_usd=0.01, create=True
    )
    leases.sync_lease(registry.tables, job_id, "ghost", settle)
    ghost.write(cap_usd=0.01)  # a call in flight when it died
    time.sleep(0.1)  # its heartbeat is older than its lease: dead
    done = delete_job(ws, job_id)
    assert done.state is JobState.INTERRUPTED
    info = next(j for j in list_jobs(ws, include_deleted=True) if j.job_id == job_id)
    assert info.waste_usd == pytest.approx(0.01) and info.reserved_usd == 0
    assert info.spend_usd == pytest.approx(0.01)


def test_a_deleted_jobs_id_is_not_reused_and_leaves_no_files(ws):
    job_id = create_job(ws, _spec(), job_id="keep-me")
    delete_job(ws, job_id)
    with pytest.raises(JobStateError, match="deleted"):
        create_job(ws, _spec(), job_id="keep-me")
    assert ws.store.list(layout.job_prefix("keep-me")) == []


# -- pause across processes ------------------------------------------------------------
def test_pause_flag_in_the_registry_pauses_a_worker_subprocess(ws):
    job_id = create_job(ws, _spec(records=3000, budget_usd=10.0))
    proc = subprocess.Popen(
        worker_command(ws, job_id, latency=0.005, concurrency=2, flush_seconds=0.05),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_until_running(ws, job_id, proc)
        assert until(lambda: len(scan_shards(ws, job_id).indices) > 10)
        assert pause_job(ws, job_id).paused
        time.sleep(0.5)  # next checkpoint + calls in flight finish + their shard
        held = len(scan_shards(ws, job_id).indices)
        beat = job_status(ws, job_id).heartbeat
        time.sleep(0.6)
        info = job_status(ws, job_id)
        assert len(scan_shards(ws, job_id).indices) == held  # nothing new while paused
        assert info.state is JobState.RUNNING and info.paused
        assert info.heartbeat > beat  # the worker is alive, not stuck
        assert not unpause_job(ws, job_id).paused
        assert until(lambda: len(scan_shards(ws, job_id).indices) > held + 5)
        cancel_job(ws, job_id)
        assert proc.wait(30) == 5, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    info = job_status(ws, job_id)
    assert info.state is JobState.CANCELLED and not info.paused


def test_pause_in_one_process_is_seen_and_undone_through_the_registry(ws):
    handle = JobHandle(
        ws, _spec(records=2000), backend=InstantBackend(latency_s=0.005), options=FAST
    ).start()
    try:
        assert until(lambda: job_status(ws, handle.job_id).records_done > 0)
        handle.pause()  # the local control is published at the next checkpoint...
        assert until(lambda: job_status(ws, handle.job_id).paused, timeout=5)
        unpause_job(ws, handle.job_id)  # ...and a request from elsewhere reaches it
        assert until(lambda: not handle.controls.paused, timeout=5)
        done = job_status(ws, handle.job_id).records_done
        assert until(lambda: job_status(ws, handle.job_id).records_done > done)
    finally:
        handle.cancel()
        handle.wait(30)


def test_only_a_running_job_can_be_paused(ws):
    job_id = create_job(ws, _spec())
    with pytest.raises(JobStateError, match="QUEUED"):
        pause_job(ws, job_id)
    with pytest.raises(JobNotFoundError):
        unpause_job(ws, "no-such-job")


# -- max_tokens cap --------------------------------------------------------------------
def test_max_tokens_caps_every_step_and_changes_the_fingerprint(ws):
    backend = InstantBackend()
    result = run_job(ws, _spec(max_tokens=16, budget_usd=1.0), backend=backend)
    assert result.state is JobState.COMPLETED
    assert {r.max_tokens for r in backend.requests} == {16}  # template says 40 and 60
    assert all(s.output_tokens <= 16 for r in result.records() for s in r.steps.values())
    wide = InstantBackend()
    run_job(ws, _spec(max_tokens=50), backend=wide)
    assert {r.max_tokens for r in wide.requests} == {40, 50}  # min(step, cap)
    base = _spec(seeds="0" * 64)
    assert fingerprint(base) != fingerprint(base.replace(max_tokens=16))
    assert job_status(ws, result.job_id).spec["max_tokens"] == 16


def test_estimate_shows_the_cap_and_costs_less(ws):
    full = estimate_job(ws, _spec(), backend=InstantBackend())
    capped = estimate_job(ws, _spec(max_tokens=10), backend=InstantBackend())
    assert [s["max_tokens"] for s in full.steps] == [40, 60]
    assert [s["max_tokens"] for s in capped.steps] == [10, 10]
    assert capped.total_worst_usd < full.total_worst_usd
    assert "capped at 10" in capped.summary()


@pytest.mark.parametrize("bad", [0, -5, 2.5, "64", True])
def test_max_tokens_must_be_a_positive_whole_number(bad):
    with pytest.raises(ConfigError, match="max_tokens"):
        JobSpec(template="qa", seeds="sample:poetry", max_tokens=bad)
