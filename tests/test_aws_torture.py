"""The engine's multi-worker kill torture, run on an s3:// workspace (S3 + DynamoDB on
moto's server) instead of a folder and SQLite.

The torture itself (``_torture``: four production workers on the instant test backend,
25 random SIGKILL/SIGTERM, each victim replaced) and its checks are imported from
``tests/test_scaleout.py`` unchanged (2,000 records, as there); only the workspace
differs.
"""

from __future__ import annotations

import pytest

from plotpalette import Workspace
from plotpalette.aws.dynamo import create_table
from plotpalette.aws.moto_server import unique_name
from plotpalette.jobs import JobState, create_job, job_status, scan_shards
from plotpalette.jobs.coordination.finalize import finalize
from plotpalette.templates import TemplateLibrary
from plotpalette.testing import qa_template
from tests.test_scaleout import (
    _assert_unique_and_within,
    _per_record_usd,
    _spec,
    _torture,
    _worker,
)

RECORDS = 2000


@pytest.fixture
def s3_ws(aws_env, s3_bucket) -> Workspace:
    table = unique_name("pp-registry")
    create_table(aws_env.client("dynamodb"), table)
    ws = Workspace.open(f"s3://{s3_bucket}/torture?table={table}")
    TemplateLibrary(ws).save(qa_template("qa_scale", output=False))
    return ws


@pytest.mark.slow
def test_kill_torture_on_s3_and_dynamodb_completes_without_duplicates_or_losses(s3_ws):
    job_id = create_job(s3_ws, _spec(records=RECORDS, budget_usd=None))
    _torture(s3_ws, job_id, kills=25, workers=4, seed=1)
    finalize(s3_ws.registry, s3_ws.store, job_id)
    records, info = _assert_unique_and_within(s3_ws, job_id)
    assert info.state is JobState.COMPLETED, info.error
    assert sorted(r.index for r in records) == list(range(RECORDS))
    scan = scan_shards(s3_ws, job_id)
    assert scan.indices == set(range(RECORDS))


@pytest.mark.slow
def test_kill_torture_on_s3_and_dynamodb_with_a_binding_budget(s3_ws):
    budget = 0.4 * RECORDS * _per_record_usd()
    job_id = create_job(s3_ws, _spec(records=RECORDS, budget_usd=budget))
    _torture(s3_ws, job_id, kills=25, workers=4, seed=2)
    while job_status(s3_ws, job_id).state is JobState.RUNNING:
        _worker(s3_ws, job_id, latency=0.0).wait(300)
    records, info = _assert_unique_and_within(s3_ws, job_id, budget)
    assert info.state is JobState.BUDGET_EXCEEDED, info.error
    assert info.spend_usd >= 0.98 * budget
    assert info.settled_usd >= sum(r.cost_usd for r in records) - 1e-12
