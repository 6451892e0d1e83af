"""Jobs on an s3:// workspace (S3 + DynamoDB on moto's server): run, export, steer
from another process, and copy a whole workspace up to S3 and back."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from plotpalette import Workspace, layout
from plotpalette.analytics import job_costs
from plotpalette.aws.dynamo import create_table
from plotpalette.aws.moto_server import unique_name
from plotpalette.cli import main as cli_main
from plotpalette.export import export_job
from plotpalette.jobs import (
    JobSpec,
    JobState,
    cancel_job,
    create_job,
    iter_records,
    job_status,
    pause_job,
    run_job,
    scan_shards,
    unpause_job,
)
from plotpalette.templates import TemplateLibrary
from plotpalette.testing import InstantBackend, until, wait_until_running, worker_command
from plotpalette.workspace_copy import REGISTRY_KINDS, REGISTRY_LOGS


@pytest.fixture
def s3_ws(aws_env, s3_bucket) -> Workspace:
    table = unique_name("pp-registry")
    create_table(aws_env.client("dynamodb"), table)
    return Workspace.open(f"s3://{s3_bucket}/ws?table={table}")


def _spec(records: int = 30, **kw) -> JobSpec:
    return JobSpec(template="question_answer", seeds="sample:poetry", records=records, **kw)


def test_a_job_runs_and_exports_on_an_s3_workspace(s3_ws):
    result = run_job(s3_ws, _spec(budget_usd=5.0), backend=InstantBackend(), handle_signals=False)
    info = job_status(s3_ws, result.job_id)
    assert info.state is JobState.COMPLETED and info.records_ok == 30
    shards = s3_ws.store.list(layout.records_prefix(result.job_id))
    assert shards and all(k.endswith(".jsonl") for k in shards)
    assert sorted(r.index for r in iter_records(s3_ws, result.job_id)) == list(range(30))
    job_item = s3_ws.registry.tables.get("job", result.job_id)
    assert job_item is not None and job_item.data["state"] == "COMPLETED"
    exported = export_job(s3_ws, result.job_id, format="parquet")
    assert exported.rows == 30
    assert exported.files[0].startswith(s3_ws.store.url + "/jobs/")
    card = s3_ws.store.read_bytes(layout.export_prefix(result.job_id) + "parquet/README.md")
    assert result.job_id.encode() in card
    costs = job_costs(s3_ws)  # cost analytics read the DynamoDB ledger and the S3 shards
    row = costs[costs["job_id"] == result.job_id].iloc[0]
    assert row["spend_usd"] == pytest.approx(info.spend_usd)


def test_one_process_pauses_and_cancels_a_worker_on_the_same_s3_workspace(s3_ws):
    job_id = create_job(s3_ws, _spec(records=3000, budget_usd=10.0))
    proc = subprocess.Popen(
        worker_command(s3_ws, job_id, latency=0.005, concurrency=2, flush_seconds=0.05),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_until_running(s3_ws, job_id, proc, timeout=60)
        assert until(lambda: len(scan_shards(s3_ws, job_id).indices) > 10, timeout=60)
        assert pause_job(s3_ws, job_id).paused
        assert until(lambda: job_status(s3_ws, job_id).paused, timeout=30)
        assert not unpause_job(s3_ws, job_id).paused
        held = len(scan_shards(s3_ws, job_id).indices)
        assert until(lambda: len(scan_shards(s3_ws, job_id).indices) > held, timeout=60)
        cancel_job(s3_ws, job_id)
        assert proc.wait(60) == 5, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert job_status(s3_ws, job_id).state is JobState.CANCELLED


def test_a_cli_process_sees_the_template_versions_a_notebook_saved(s3_ws):
    lib = TemplateLibrary(s3_ws)
    base = lib.fork("question_answer", "shared-qa")
    lib.save(base.model_copy(update={"description": "v2"}))
    command = ["template", "history", "shared-qa", "--json"]
    out = subprocess.run(
        [sys.executable, "-m", "plotpalette", "--workspace", s3_ws.location, *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert [v["version"] for v in json.loads(out.stdout)] == [1, 2]


def _registry_kinds(root) -> tuple[set[str], set[str]]:
    db = sqlite3.connect(root / layout.REGISTRY_FILE)
    try:
        kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM items")}
        logs = {k for (k,) in db.execute("SELECT DISTINCT log FROM logs")}
    finally:
        db.close()
    return kinds, logs


def test_workspace_copy_up_to_s3_and_back(tmp_path, s3_bucket, aws_env, capsys):
    local = Workspace.open(tmp_path / "local")
    TemplateLibrary(local).fork("question_answer", "mine", message="kept")
    done = run_job(local, _spec(), backend=InstantBackend(), handle_signals=False).job_id
    stopped = run_job(
        local,
        _spec(records=200, budget_usd=0.000001),
        backend=InstantBackend(),
        handle_signals=False,
    ).job_id
    kinds, logs = _registry_kinds(local.root)
    assert kinds <= set(REGISTRY_KINDS) and logs <= set(REGISTRY_LOGS)  # nothing left behind
    table = unique_name("pp-registry")
    create_table(aws_env.client("dynamodb"), table)
    up = f"s3://{s3_bucket}/copied?table={table}"

    assert cli_main(["workspace", "copy", str(local.root), up, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] and report["objects"] > 0 and report["items"]["job"] == 2
    s3_ws = Workspace.open(f"s3://{s3_bucket}/copied")
    for job_id in (done, stopped):
        a, b = job_status(local, job_id), job_status(s3_ws, job_id)
        assert (a.state, a.records_ok, a.spend_usd) == (b.state, b.records_ok, b.spend_usd)
        assert [r.to_dict() for r in iter_records(local, job_id, ordered=True)] == [
            r.to_dict() for r in iter_records(s3_ws, job_id, ordered=True)
        ]
    assert TemplateLibrary(s3_ws).versions("mine") == [1]

    # again: everything is already there, nothing is rewritten
    assert cli_main(["workspace", "copy", str(local.root), up, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["objects"] == 0 and again["objects_present"] == report["objects"]

    back = tmp_path / "back"
    assert cli_main(["workspace", "copy", f"s3://{s3_bucket}/copied", str(back)]) == 0
    assert "verified" in capsys.readouterr().out
    home = Workspace.open(back)
    assert job_status(home, done).records_ok == job_status(local, done).records_ok
    assert _registry_kinds(back)[0] == kinds


def test_copy_refuses_a_destination_with_other_content(tmp_path, capsys):
    a, b = Workspace.open(tmp_path / "a"), Workspace.open(tmp_path / "b")
    a.store.write_bytes("seeds/x.jsonl", b"1\n")
    b.store.write_bytes("seeds/x.jsonl", b"2\n")
    assert cli_main(["workspace", "copy", str(a.root), str(b.root)]) == 1
    err = capsys.readouterr().err
    assert "already holds different content" in err and "seeds/x.jsonl" in err
    assert b.store.read_bytes("seeds/x.jsonl") == b"2\n"


def test_copy_refuses_while_a_job_is_running(tmp_path, capsys):
    a = Workspace.open(tmp_path / "a")
    job_id = create_job(a, _spec())
    a.registry.tables.replace(
        "job",
        job_id,
        {**a.registry.tables.get("job", job_id).data, "state": "RUNNING"},
        version=a.registry.tables.get("job", job_id).version,
    )
    assert cli_main(["workspace", "copy", str(a.root), str(tmp_path / "b")]) == 1
    assert "RUNNING" in capsys.readouterr().err
    time.sleep(0)  # nothing was copied:
    assert not (tmp_path / "b" / "jobs").exists()
