"""A batch-mode job killed (SIGKILL, a real subprocess) while its batch job is
Submitted, while it is InProgress and while its output is being joined; each time
another process resumes it. Bedrock must see one batch job per step, bill it once,
and the records must be the ones an on-demand run makes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from plotpalette import JobSpec, run_job
from plotpalette.jobs import JobState, create_job, job_status
from plotpalette.jobs.batch_state import batch_items
from plotpalette.testing import topic_seeds, until, workspace_with_template

pytestmark = pytest.mark.slow


def _resume(ws, job_id, env):
    return subprocess.Popen(
        [sys.executable, "-m", "plotpalette", "resume", job_id],
        env={**os.environ, **env.env, "PLOTPALETTE_WORKSPACE": ws.location},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def _item(ws, job_id, step):
    items = batch_items(ws.registry.tables, job_id, step)
    return items[-1].data if items else {}


def test_killed_at_every_stage_then_resumed_pays_once(bedrock_batch_env, isolated_env):
    env = bedrock_batch_env
    env.batch.error_rate = 0.3  # stragglers: joining includes their on-demand calls
    ws = workspace_with_template(isolated_env)
    spec = dict(template="qa_two_step", seeds=topic_seeds(20), records=20)
    job_id = create_job(ws, JobSpec(**spec, inference_mode="batch"))

    # 1. killed while the batch job is Submitted
    p1 = _resume(ws, job_id, env)
    assert until(lambda: _item(ws, job_id, "ask").get("arn"), timeout=60)
    assert until(lambda: job_status(ws, job_id).activity == "WAITING_ON_BEDROCK")
    _kill(p1)
    (arn,) = env.batch.jobs
    assert env.batch.jobs[arn].status == "Submitted"

    # 2. killed while it is InProgress (another process adopted it)
    env.batch.advance(arn, steps=3)
    p2 = _resume(ws, job_id, env)
    assert until(lambda: _item(ws, job_id, "ask").get("status") == "InProgress", timeout=60)
    _kill(p2)
    assert list(env.batch.jobs) == [arn]  # adopted, never submitted again

    # 3. killed while joining: the output is read, stragglers run slowly on demand
    env.runtime.configure(latency_median_s=3.0)
    env.batch.finish(arn)
    p3 = _resume(ws, job_id, env)
    assert until(lambda: _item(ws, job_id, "ask").get("state") == "joined", timeout=60)
    _kill(p3)
    on_demand_before = env.meter.calls

    # 4. the last resume finishes the job (step 2 as its own batch job)
    env.runtime.configure(latency_median_s=0.0)
    stop = threading.Event()

    def drive():
        while not stop.wait(0.1):
            env.batch.advance()

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        p4 = _resume(ws, job_id, env)
        assert p4.wait(120) == 0, p4.stderr.read().decode()[-2000:]
    finally:
        stop.set()
        driver.join()
    info = job_status(ws, job_id)
    assert info.state is JobState.COMPLETED
    assert info.activity == "COMPLETED"
    steps = sorted(j.name.rsplit("-", 1)[0] for j in env.batch.jobs.values())
    assert len(env.batch.jobs) == 2 and len(set(steps)) == 2  # one batch job per step
    assert env.batch.billed_records == sum(j.counts["success"] for j in env.batch.jobs.values())
    # the ledger covers every dollar billed (kills book dead workers' marks: >=)
    assert info.spend_usd >= env.billed_usd - 1e-12
    assert env.meter.calls >= on_demand_before

    # the same records as an on-demand run of the same spec
    other = run_job(ws, JobSpec(**spec))
    from plotpalette.jobs.shards import iter_records

    got = sorted(iter_records(ws.store, job_id), key=lambda r: r.index)
    want = sorted(iter_records(ws.store, other.job_id), key=lambda r: r.index)
    assert [r.index for r in got] == [r.index for r in want] == list(range(20))
    assert [r.outputs for r in got] == [r.outputs for r in want]
