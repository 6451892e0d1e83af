"""Round-trip contract: run a real job, export it in every format, read it back.

The job runs on the in-process InstantBackend. Expected values come from the job
engine's own shard reader (``iter_records``), never from the exporter.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
import pytest

from plotpalette.errors import ModelRequestError
from plotpalette.export import export_job, iter_rows, to_pandas
from plotpalette.jobs import JobSpec, iter_records, job_status, run_job
from plotpalette.testing import InstantBackend

TEMPLATE = "question_answer"


def _failing_every(n: int):
    return lambda request, i: ModelRequestError("injected bad request") if i % n == n - 1 else None


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A COMPLETED job with ok and failed records (module-scoped: generated once)."""
    from plotpalette import Workspace

    ws = Workspace.open(tmp_path_factory.mktemp("export-ws") / "ws")
    spec = JobSpec(
        template=TEMPLATE, seeds="sample:poetry", records=12, concurrency=1, error_threshold=1.0
    )
    result = run_job(
        ws, spec, backend=InstantBackend(failures=_failing_every(5)), handle_signals=False
    )
    return ws, result.job_id


def _ok_records(ws, job_id):
    return {r.record_id: r for r in iter_records(ws, job_id, status="ok")}


def _read(fmt: str, result) -> pd.DataFrame:
    if fmt == "parquet":
        return pa_ds.dataset(result.files, format="parquet").to_table().to_pandas()
    if fmt == "jsonl":
        return pd.concat([pd.read_json(f, lines=True, dtype=False) for f in result.files])
    if fmt == "csv":
        return pd.concat(
            [pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in result.files]
        )
    import datasets

    return datasets.load_from_disk(result.dest).to_pandas()


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv", "hf"])
def test_every_format_round_trips_the_ok_records_as_flat_columns(job, fmt, tmp_path):
    if fmt == "hf":
        pytest.importorskip("datasets")  # the "hf" extra
    ws, job_id = job
    expected = _ok_records(ws, job_id)
    assert expected, "the job produced no ok records"
    result = export_job(ws, job_id, tmp_path / fmt, format=fmt)

    frame = _read(fmt, result)
    assert list(frame.columns) == result.columns
    assert result.rows == len(frame) == len(expected)
    assert set(frame["record_id"]) == set(expected)
    first = next(iter(expected.values()))
    for column in first.outputs:
        assert column in frame.columns
    for _, row in frame.iterrows():
        record = expected[row["record_id"]]
        assert row["status"] == "ok"
        assert row["index"] == record.index and row["seed_index"] == record.seed_index
        for column, value in record.outputs.items():
            assert row[column] == value
        for step_id, step in record.steps.items():
            # a same-named output-mapping column wins over the metadata column
            if not step.skipped and f"{step_id}_model" not in record.outputs:
                assert row[f"{step_id}_model"] == step.model
        assert row["cost_usd"] == pytest.approx(record.cost_usd)
    # flat: no prompt columns by default, and no cell is a JSON object holding the record
    assert not [c for c in frame.columns if c.endswith("_prompt")]
    for column in frame.columns:
        for value in frame[column]:
            assert not (isinstance(value, str) and value.lstrip().startswith("{"))


def test_parquet_columns_are_typed_once_across_files(job, tmp_path):
    ws, job_id = job
    result = export_job(ws, job_id, tmp_path / "out", shard_size=3)
    schemas = {str(pq.read_schema(f)) for f in result.files}
    assert len(result.files) >= 2 and len(schemas) == 1
    schema = pq.read_schema(result.files[0])
    assert schema.field("index").type == pa.int64()
    assert schema.field("cost_usd").type == pa.float64()
    assert schema.field("flags").type == pa.list_(pa.string())


def test_shard_size_caps_rows_per_file(job, tmp_path):
    ws, job_id = job
    result = export_job(ws, job_id, tmp_path / "out", format="jsonl", shard_size=2)
    sizes = [len(Path(f).read_text().splitlines()) for f in result.files]
    assert max(sizes) <= 2 and sum(sizes) == result.rows
    assert len(result.files) == -(-result.rows // 2)


def test_only_ok_false_exports_failed_records_with_their_error(job, tmp_path):
    ws, job_id = job
    every = {r.record_id: r for r in iter_records(ws, job_id)}
    assert {r.status for r in every.values()} >= {"ok", "failed"}
    result = export_job(ws, job_id, tmp_path / "all", only_ok=False)
    frame = pd.read_parquet(result.files[0])
    assert set(frame["record_id"]) == set(every)
    failed = frame[frame["status"] == "failed"]
    assert len(failed) == sum(r.status == "failed" for r in every.values())
    assert failed["error"].str.contains("injected bad request").all()
    assert result.counts == dict(pd.Series([r.status for r in every.values()]).value_counts())


def test_include_prompts_adds_flat_prompt_columns(job, tmp_path):
    ws, job_id = job
    expected = _ok_records(ws, job_id)
    result = export_job(ws, job_id, tmp_path / "p", format="jsonl", include_prompts=True)
    rows = [json.loads(line) for f in result.files for line in Path(f).read_text().splitlines()]
    steps = next(iter(expected.values())).prompts
    for step_id in steps:
        assert f"{step_id}_prompt" in result.columns and f"{step_id}_system" in result.columns
    for row in rows:
        record = expected[row["record_id"]]
        for step_id, prompt in record.prompts.items():
            assert row[f"{step_id}_prompt"] == prompt.get("prompt")
            assert row[f"{step_id}_system"] == prompt.get("system")


def test_columns_selects_exactly_those_in_order(job, tmp_path):
    ws, job_id = job
    outputs = list(next(iter(_ok_records(ws, job_id).values())).outputs)
    wanted = [outputs[-1], "record_id", outputs[0]]
    result = export_job(ws, job_id, tmp_path / "c", format="csv", columns=wanted)
    assert list(pd.read_csv(result.files[0]).columns) == wanted


def test_partition_by_column_writes_hive_folders(job, tmp_path):
    ws, job_id = job
    every = list(iter_records(ws, job_id))
    result = export_job(ws, job_id, tmp_path / "part", only_ok=False, partition_by="status")
    folders = {f.split("/data/")[1].split("/")[0] for f in result.files}
    assert folders == {f"status={s}" for s in {r.status for r in every}}
    assert "status" not in pq.read_schema(result.files[0]).names  # it lives in the path
    table = (
        pa_ds.dataset(f"{result.dest}/data", format="parquet", partitioning="hive")
        .to_table()
        .to_pandas()
    )
    counts = table["status"].astype(str).value_counts().to_dict()
    assert counts == pd.Series([r.status for r in every]).value_counts().to_dict()
    assert sum(result.partitions.values()) == len(every)


def test_partition_by_date_uses_the_finish_day(job, tmp_path):
    ws, job_id = job
    days = {r.finished_at[:10] for r in iter_records(ws, job_id, status="ok")}
    result = export_job(ws, job_id, tmp_path / "d", partition_by="date", format="csv")
    assert set(result.partitions) == {f"date={d}" for d in days}


def test_to_pandas_and_iter_rows_match_the_export(job, tmp_path):
    ws, job_id = job
    frame = to_pandas(ws, job_id)
    exported = pd.read_parquet(export_job(ws, job_id, tmp_path / "x").files[0])
    pd.testing.assert_frame_equal(frame, exported)
    rows = list(iter_rows(ws, job_id))
    assert [r["record_id"] for r in rows] == list(frame["record_id"])
    assert set(rows[0]) == set(frame.columns)


def test_default_destination_is_under_the_job_exports_folder(job):
    ws, job_id = job
    result = export_job(ws, job_id, format="jsonl", overwrite=True)
    assert result.dest.endswith(f"jobs/{job_id}/exports/jsonl")
    assert all(f.startswith(result.dest) for f in result.files)
    again = export_job(ws, job_id, format="jsonl", overwrite=True)
    assert again.files == result.files


def test_job_state_is_reported(job, tmp_path):
    ws, job_id = job
    result = export_job(ws, job_id, tmp_path / "s")
    assert result.job_state == job_status(ws, job_id).state.value


def _cli(*argv: str) -> int:
    import argparse

    from plotpalette.cli import export as export_cmd
    from plotpalette.cli.common import common_options

    parser = argparse.ArgumentParser(parents=[common_options()])
    export_cmd.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.handler(args)


def test_cli_export_and_costs(job, tmp_path, capsys):
    ws, job_id = job
    code = _cli(
        "--workspace",
        str(ws.root),
        "export",
        job_id,
        "--format",
        "csv",
        "--dest",
        str(tmp_path / "cli"),
        "--columns",
        "record_id,status",
        "--json",
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["columns"] == ["record_id", "status"] and out["rows"] == len(_ok_records(ws, job_id))
    assert list(pd.read_csv(out["files"][0]).columns) == ["record_id", "status"]
    assert _cli("--workspace", str(ws.root), "costs", "--by", "model", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(job_status(ws, job_id).spend_usd)
    assert _cli("--workspace", str(ws.root), "costs") == 0
    assert job_id in capsys.readouterr().out
