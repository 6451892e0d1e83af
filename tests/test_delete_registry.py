"""``delete_job`` removes a job's coordination items from the registry, on SQLite and on
DynamoDB (moto's threaded server), and keeps its cost history."""

from __future__ import annotations

import pytest

from plotpalette.aws.dynamo import create_table
from plotpalette.aws.moto_server import unique_name
from plotpalette.errors import JobNotFoundError
from plotpalette.jobs import JobSpec, JobState, RunOptions, delete_job, job_status, run_job
from plotpalette.jobs.coordination.leases import BUDGET
from plotpalette.jobs.coordination.units import UNIT
from plotpalette.jobs.coordination.workers import WORKER
from plotpalette.jobs.runner_preflight import PREFLIGHT
from plotpalette.tables import iter_items
from plotpalette.templates.library import TemplateLibrary
from plotpalette.testing import InstantBackend, qa_template, topic_seeds
from plotpalette.workspace import Workspace

FAST = RunOptions(concurrency=4, flush_records=5, flush_seconds=0.05, unit_size=10)


@pytest.fixture(params=["sqlite", "dynamodb"])
def ws(request, tmp_path):
    if request.param == "sqlite":
        ws = Workspace.open(str(tmp_path / "ws"))
    else:
        server = request.getfixturevalue("aws_env")
        bucket = request.getfixturevalue("s3_bucket")
        table = unique_name("pp-registry")
        create_table(server.client("dynamodb"), table)
        ws = Workspace.open(f"s3://{bucket}/ws?table={table}")
    TemplateLibrary(ws).save(qa_template("qa_del", output=False))
    return ws


def _items(ws, job_id):
    t = ws.registry.tables
    found = {
        kind: [i.key for i in iter_items(t, kind, prefix)]
        for kind, prefix in (
            (UNIT, f"{job_id}/"),
            (WORKER, f"{job_id}/"),
            (PREFLIGHT, f"{job_id}:"),
        )
    }
    found[BUDGET] = [job_id] if t.get(BUDGET, job_id) is not None else []
    return found


def test_delete_removes_units_workers_preflight_and_budget_items(ws):
    spec = JobSpec(template="qa_del", seeds=topic_seeds(5, "t"), records=30, budget_usd=1.0)
    doomed = run_job(ws, spec, backend=InstantBackend(), options=FAST, workers=2)
    kept = run_job(ws, spec, backend=InstantBackend(), options=FAST)
    assert doomed.state is kept.state is JobState.COMPLETED
    before = _items(ws, doomed.job_id)
    assert all(before.values()), before  # every kind was written by the run
    spent = job_status(ws, doomed.job_id).spend_usd
    ledger = len(ws.registry.ledger(doomed.job_id))
    events = len(ws.registry.events(doomed.job_id))

    gone = delete_job(ws, doomed.job_id)

    assert _items(ws, doomed.job_id) == {UNIT: [], WORKER: [], PREFLIGHT: [], BUDGET: []}
    assert all(_items(ws, kept.job_id).values())  # the other job's items stay
    assert gone.spend_usd == pytest.approx(spent) and spent > 0
    [info] = [i for i in ws.registry.list(include_deleted=True) if i.job_id == doomed.job_id]
    assert info.settled_usd == pytest.approx(spent) and info.budget_usd == 1.0
    assert len(ws.registry.ledger(doomed.job_id)) == ledger  # cost history kept
    assert len(ws.registry.events(doomed.job_id)) >= events
    assert job_status(ws, kept.job_id).records_ok == 30
    with pytest.raises(JobNotFoundError):  # nothing left to delete
        delete_job(ws, doomed.job_id)
