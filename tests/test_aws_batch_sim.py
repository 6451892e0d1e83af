"""Jobs submitted to AWS Batch, run to the end by the Batch simulator: every array
child is a real ``python -m plotpalette.jobs.worker`` process (the job definition's
command) against moto's S3/DynamoDB and the Bedrock emulator; Spot interruptions hit
random workers and the job definition's retry strategy decides what Batch retries."""

from __future__ import annotations

import time

import pytest

from plotpalette import JobSpec, JobState, cancel_job, iter_records, job_status, submit_job
from plotpalette.config import DEFAULT_TIERS
from plotpalette.testing.batch_sim import SPOT_REASON, BatchSimulator
from tests.batch_fixtures import SEEDS

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


def _simulator(stack, emulator, batch_job_id, **kw):
    return BatchSimulator(
        stack.client("batch"),
        batch_job_id,
        env={"PLOTPALETTE_BEDROCK_ENDPOINT_URL": emulator.endpoint_url},
        # a worker killed outright holds its unit until its lease lapses: keep it short
        extra_args=["--lease-seconds", "3"],
        stop_timeout_s=10.0,
        **kw,
    )


def _joined(ws, job_id):
    """Only interrupt workers that joined the job (and hold units and a lease)."""
    seen: dict[str, object] = {"at": 0.0, "pids": set()}

    def ok(child) -> bool:
        if time.monotonic() - seen["at"] > 0.5:  # type: ignore[operator]
            seen["pids"] = {w["pid"] for w in job_status(ws, job_id).workers}
            seen["at"] = time.monotonic()
        return child.proc.pid in seen["pids"]  # type: ignore[operator]

    return ok


@pytest.mark.slow
def test_spot_interruptions_are_retried_and_the_job_completes_exactly_once(
    batch_stack, bedrock_emulator, tmp_path
):
    bedrock_emulator.configure(latency_median_s=0.15)
    ws = batch_stack.workspace
    records, budget = 240, 1.0
    spec = JobSpec(
        template="qa",
        seeds=SEEDS,
        records=records,
        budget_usd=budget,
        concurrency=4,
        runtime="aws",
        workers=4,
    )
    done = submit_job(ws, spec)
    sim = _simulator(batch_stack, bedrock_emulator, done.batch_job_id, log_dir=str(tmp_path))
    children = sim.run(
        interruptions=4,
        kill_share=0.25,
        seed=3,
        every_s=(0.5, 1.5),
        may_interrupt=_joined(ws, done.job_id),
        timeout_s=400,
    )

    info = job_status(ws, done.job_id)
    assert info.state is JobState.COMPLETED, info.error
    got = [r.index for r in iter_records(ws, done.job_id)]
    assert len(got) == len(set(got))  # 0 duplicates
    assert sorted(got) == list(range(records))  # 0 missing
    assert info.spend_usd <= budget
    # Batch's view: every child ended SUCCEEDED; each interrupted attempt was retried
    assert [c.status for c in children] == ["SUCCEEDED"] * 4
    hit = [a for a in sim.attempts() if a.interrupted]
    assert len(hit) == 4
    for a in hit:
        assert a.status_reason == SPOT_REASON and a.action == "RETRY"
        assert a.exit_code == (137 if a.interrupted == "kill" else 5)
    # every other attempt either succeeded (one per child) or was a worker that gave up its
    # unit and asked to be retried (exit 5, e.g. fenced after its lease lapsed on a loaded
    # machine); nothing else, and nothing Batch would not retry
    others = [a for a in sim.attempts() if not a.interrupted]
    assert sum(a.exit_code == 0 for a in others) == 4
    assert all(a.exit_code == 0 or (a.exit_code == 5 and a.action == "RETRY") for a in others)


@pytest.mark.slow
def test_no_model_access_fails_the_job_once_and_batch_retries_nobody(batch_stack, bedrock_emulator):
    bedrock_emulator.configure(no_access={DEFAULT_TIERS["cheap"]}, latency_median_s=0.05)
    ws = batch_stack.workspace
    done = submit_job(
        ws, JobSpec(template="qa", seeds=SEEDS, records=60, budget_usd=1.0, workers=3)
    )
    children = _simulator(batch_stack, bedrock_emulator, done.batch_job_id).run(timeout_s=300)

    info = job_status(ws, done.job_id)
    assert info.state is JobState.FAILED
    assert "access" in (info.error or {}).get("fix", "").lower() + info.error["message"].lower()
    failed = [e for e in ws.registry.events(done.job_id) if e[1] == "state"]
    assert [e[2]["state"] for e in failed].count("FAILED") == 1
    # not retried: one attempt per child, each ended by the EXIT rule
    assert [len(c.attempts) for c in children] == [1, 1, 1]
    assert {c.attempts[0].action for c in children} == {"EXIT"}
    assert {c.attempts[0].exit_code for c in children} <= {0, 4}
    assert any(c.attempts[0].exit_code == 4 for c in children)


@pytest.mark.slow
def test_a_cancelled_job_stays_cancelled_until_it_is_submitted_again(batch_stack, bedrock_emulator):
    ws = batch_stack.workspace
    first = submit_job(ws, JobSpec(template="qa", seeds=SEEDS, records=30, workers=2))
    assert cancel_job(ws, first.job_id).state is JobState.CANCELLED
    # children of the cancelled submission that start anyway do no work and ask no retry
    old = _simulator(batch_stack, bedrock_emulator, first.batch_job_id).run(timeout_s=120)
    assert [(c.status, len(c.attempts), c.attempts[0].exit_code) for c in old] == [
        ("SUCCEEDED", 1, 0)
    ] * 2
    assert job_status(ws, first.job_id).state is JobState.CANCELLED
    assert job_status(ws, first.job_id).calls == 0

    again = submit_job(ws, first.job_id, workers=2)
    assert again.batch_job_id != first.batch_job_id
    _simulator(batch_stack, bedrock_emulator, again.batch_job_id).run(timeout_s=300)
    info = job_status(ws, first.job_id)
    assert info.state is JobState.COMPLETED, info.error
    assert sorted(r.index for r in iter_records(ws, first.job_id)) == list(range(30))
