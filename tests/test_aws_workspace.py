"""An s3:// workspace works like a local one: templates, seeds, exports, the CLI, info.

Everything runs against moto's threaded server (real HTTP); the CLI runs as a
subprocess pointed at it through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from plotpalette import Workspace
from plotpalette.aws.dynamo import create_table
from plotpalette.aws.moto_server import unique_name
from plotpalette.errors import ExportError
from plotpalette.export import export_job
from plotpalette.jobs import JobSpec, iter_records, run_job
from plotpalette.seeds import SeedSet, sample_seeds
from plotpalette.store import store_from_url
from plotpalette.templates import TemplateLibrary
from plotpalette.testing import InstantBackend


@pytest.fixture
def table(aws_env) -> str:
    name = unique_name("pp-registry")
    create_table(aws_env.client("dynamodb"), name)
    return name


@pytest.fixture
def s3_url(s3_bucket, table) -> str:
    return f"s3://{s3_bucket}/team/ws?table={table}"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "plotpalette", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def test_template_versions_are_shared_through_s3(s3_url, s3_bucket):
    ws = Workspace.open(s3_url)
    assert ws.root is None and ws.store.url == f"s3://{s3_bucket}/team/ws"
    lib = TemplateLibrary(ws)
    assert "question_answer" in lib.names()  # built-ins are seeded into the bucket
    base = lib.get("question_answer")
    forked = lib.fork("question_answer", "qa-team", message="ours")
    changed = forked.model_copy(update={"description": "the team's variant"})
    lib.save(changed, message="reworded")
    teammate = TemplateLibrary(Workspace.open(f"s3://{s3_bucket}/team/ws"))  # no table named
    assert teammate.versions("qa-team") == [1, 2]
    assert teammate.get("qa-team@2").description == "the team's variant"
    assert teammate.get("qa-team@1").steps == base.steps
    keys = store_from_url(f"s3://{s3_bucket}/team/ws").list("templates/qa-team/")
    assert keys == ["templates/qa-team/v000001.yaml", "templates/qa-team/v000002.yaml"]


def test_seed_sets_round_trip_by_hash(s3_url, s3_bucket):
    seeds = sample_seeds("poetry")
    key = seeds.save_to(Workspace.open(s3_url))
    assert store_from_url(f"s3://{s3_bucket}/team/ws").exists(key)
    again = SeedSet.from_workspace(Workspace.open(f"s3://{s3_bucket}/team/ws"), seeds.sha256)
    assert list(again) == list(seeds)


@pytest.fixture(scope="module")
def local_job(tmp_path_factory):
    ws = Workspace.open(tmp_path_factory.mktemp("ws-export") / "ws")
    spec = JobSpec(template="question_answer", seeds="sample:poetry", records=25, concurrency=2)
    result = run_job(ws, spec, backend=InstantBackend(), handle_signals=False)
    return ws, result.job_id


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_export_streams_to_an_s3_destination(local_job, s3_bucket, fmt):
    ws, job_id = local_job
    dest = f"s3://{s3_bucket}/exports/run-{fmt}"
    result = export_job(ws, job_id, dest, format=fmt)
    expected = {r.record_id for r in iter_records(ws, job_id, status="ok")}
    store = store_from_url(dest)
    data_keys = [k for k in store.list("data/")]
    assert result.files == [f"{dest}/{k}" for k in data_keys]
    if fmt == "parquet":
        rows = [
            r for k in data_keys for r in pq.read_table(io.BytesIO(store.read_bytes(k))).to_pylist()
        ]
    else:
        rows = [json.loads(line) for k in data_keys for line in store.read_bytes(k).splitlines()]
    assert {r["record_id"] for r in rows} == expected
    assert b"# " in store.read_bytes("README.md")  # the dataset card travels with it
    assert json.loads(store.read_bytes("export.json"))["rows"] == len(expected)
    with pytest.raises(ExportError, match="already holds files"):
        export_job(ws, job_id, dest, format=fmt)
    again = export_job(ws, job_id, dest, format=fmt, overwrite=True)
    assert again.rows == len(expected)


def test_hf_export_to_s3_uploads_the_saved_dataset(local_job, s3_bucket):
    ws, job_id = local_job
    dest = f"s3://{s3_bucket}/exports/hf"
    result = export_job(ws, job_id, dest, format="hf")
    keys = store_from_url(dest).list()
    assert "dataset_info.json" in keys and "README.md" in keys
    assert any(k.endswith(".arrow") for k in keys)
    assert result.files and all(f.startswith(dest + "/") for f in result.files)


def test_cli_takes_s3_workspaces_from_flag_and_environment(s3_url, s3_bucket, table):
    Workspace.open(s3_url)  # created once, with its table recorded
    flag = cli("--workspace", f"s3://{s3_bucket}/team/ws", "template", "list", "--json")
    assert flag.returncode == 0, flag.stderr
    assert "question_answer" in flag.stdout
    os.environ["PLOTPALETTE_WORKSPACE"] = f"s3://{s3_bucket}/team/ws"
    try:
        info = cli("info", "--json")
    finally:
        del os.environ["PLOTPALETTE_WORKSPACE"]
    assert info.returncode == 0, info.stderr
    storage = json.loads(info.stdout)["storage"]
    assert storage["store"] == f"S3 s3://{s3_bucket}/team/ws (us-east-1)"
    assert storage["registry"] == f"DynamoDB table {table} (us-east-1)"
    assert storage["versioning"] in ("Disabled", "Suspended", "Enabled")


def test_info_reports_a_broken_s3_workspace_with_its_fix(aws_env):
    os.environ["PLOTPALETTE_WORKSPACE"] = "s3://pp-no-such-bucket-y2/ws"
    try:
        info = cli("info")
    finally:
        del os.environ["PLOTPALETTE_WORKSPACE"]
    assert info.returncode == 0
    assert "store:       S3 s3://pp-no-such-bucket-y2/ws" in info.stdout
    assert "ERROR the bucket pp-no-such-bucket-y2 does not exist" in info.stdout


def test_local_info_names_the_folder_and_sqlite_registry(workspace):
    info = cli("info", "--no-aws")
    assert info.returncode == 0
    assert f"store:       local folder {workspace.location}" in info.stdout
    assert "registry.sqlite" in info.stdout


def test_cli_creates_a_registry_table_once(aws_env):
    name = unique_name("pp-cli-table")
    made = cli("workspace", "create-table", name, "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == {"table": name, "region": "us-east-1"}
    ttl = aws_env.client("dynamodb").describe_time_to_live(TableName=name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    again = cli("workspace", "create-table", name)
    assert again.returncode == 1
    assert "already exists" in again.stderr and f"PLOTPALETTE_TABLE={name}" in again.stderr
