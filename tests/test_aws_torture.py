"""Multi-worker kill torture on an s3:// workspace (S3 + DynamoDB on moto's server).

Four production workers (``python -m plotpalette.testing.worker``: the real worker on
the instant test backend) share one job; random workers are killed (SIGKILL or
SIGTERM) and replaced. At the end: every record exactly once, the job COMPLETED (or
BUDGET_EXCEEDED when the budget binds), and spend never above the budget.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest

from plotpalette import Workspace
from plotpalette.aws.dynamo import create_table
from plotpalette.aws.moto_server import unique_name
from plotpalette.jobs import (
    JobSpec,
    JobState,
    create_job,
    iter_records,
    job_status,
    scan_shards,
)
from plotpalette.templates import TemplateLibrary
from plotpalette.testing import qa_template, topic_seeds, worker_command

RECORDS = 400
LEASE_S = 2.0  # a killed worker's units are taken over after this much silence


def _start(ws: Workspace, job_id: str) -> subprocess.Popen:
    cmd = worker_command(ws, job_id, latency=0.004, flush_seconds=0.05, flush_records=7, grace=5)
    return subprocess.Popen(
        [*cmd, "--lease-seconds", str(LEASE_S)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("budget", "binding"), [(0.05, False), (0.003, True)])
def test_kill_torture_on_s3_and_dynamodb(aws_env, s3_bucket, budget, binding):
    table = unique_name("pp-registry")
    create_table(aws_env.client("dynamodb"), table)
    ws = Workspace.open(f"s3://{s3_bucket}/torture?table={table}")
    TemplateLibrary(ws).save(qa_template("qa_kill", output=False))
    spec = JobSpec(
        template="qa_kill", seeds=topic_seeds(11, "t"), records=RECORDS, budget_usd=budget
    )
    job_id = create_job(ws, spec)
    rng = random.Random(29 + int(binding))
    procs = [_start(ws, job_id) for _ in range(4)]
    kills = 0
    try:
        for _ in range(12):
            time.sleep(rng.uniform(0.3, 1.0))
            live = [p for p in procs if p.poll() is None]
            if not live:
                break
            victim = rng.choice(live)
            victim.send_signal(rng.choice([signal.SIGKILL, signal.SIGTERM]))
            victim.wait(120)
            kills += 1
            procs.remove(victim)
            procs.append(_start(ws, job_id))
            assert job_status(ws, job_id).spend_usd <= budget + 1e-12
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for p in procs:
                p.wait(max(1.0, deadline - time.monotonic()))
            if job_status(ws, job_id).state is not JobState.RUNNING:
                break
            time.sleep(LEASE_S)  # units of killed workers: their leases run out first
            procs = [_start(ws, job_id)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert kills >= 6
    info = job_status(ws, job_id)
    scan = scan_shards(ws, job_id)
    assert scan.duplicates == 0
    indices = [r.index for r in iter_records(ws, job_id)]
    assert len(indices) == len(set(indices)) == len(scan.indices)
    assert info.spend_usd <= budget + 1e-12
    if binding:
        assert info.state is JobState.BUDGET_EXCEEDED
        assert info.spend_usd >= 0.98 * budget  # the budget is used, not stranded in leases
        assert len(scan.indices) < RECORDS
    else:
        assert info.state is JobState.COMPLETED, info
        assert scan.indices == set(range(RECORDS))
        assert info.records_ok + info.records_failed + info.records_filtered == RECORDS
