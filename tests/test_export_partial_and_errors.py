"""Partial results, the dataset card, and every bad-input path of exports."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

import plotpalette.export.source as export_source
from plotpalette.errors import ExportError, JobNotFoundError
from plotpalette.export import export_job, plan_columns, write_files
from plotpalette.jobs import JobControls, JobSpec, iter_records, job_status, run_job
from plotpalette.records import Record
from plotpalette.store import LocalStore
from plotpalette.testing import InstantBackend

TEMPLATE = "question_answer"


def _spec(records: int, **kw) -> JobSpec:
    return JobSpec(template=TEMPLATE, seeds="sample:poetry", records=records, concurrency=1, **kw)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """A complete job, a BUDGET_EXCEEDED one and an INTERRUPTED one, in one workspace."""
    from plotpalette import Workspace

    ws = Workspace.open(tmp_path_factory.mktemp("partial-ws") / "ws")
    full = run_job(ws, _spec(6), backend=InstantBackend(), handle_signals=False)
    per_record = job_status(ws, full.job_id).spend_usd / 6
    assert per_record > 0
    budget = run_job(
        ws, _spec(12, budget_usd=per_record * 10), backend=InstantBackend(), handle_signals=False
    )
    controls = JobControls()

    def stop_at(request, i):
        if i == 4:
            controls.interrupt("test stop")
        return None

    stopped = run_job(
        ws,
        _spec(40),
        backend=InstantBackend(failures=stop_at),
        controls=controls,
        handle_signals=False,
    )
    return ws, {"full": full.job_id, "budget": budget.job_id, "interrupted": stopped.job_id}


@pytest.mark.parametrize(
    ("which", "state"), [("budget", "BUDGET_EXCEEDED"), ("interrupted", "INTERRUPTED")]
)
def test_a_stopped_job_exports_its_settled_records(jobs, which, state, tmp_path):
    ws, ids = jobs
    info = job_status(ws, ids[which])
    assert info.state.value == state
    settled = {r.record_id for r in iter_records(ws, ids[which], status="ok")}
    assert 0 < len(settled) < info.records_total
    result = export_job(ws, ids[which], tmp_path / which)
    assert result.job_state == state
    assert set(pd.read_parquet(result.files[0])["record_id"]) == settled
    card = Path(result.card_path).read_text()
    assert "Partial results" in card and state in card


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_dataset_card_records_provenance(jobs, tmp_path):
    ws, ids = jobs
    info = job_status(ws, ids["full"])
    result = export_job(ws, ids["full"], tmp_path / "card", license="cc-by-4.0")
    text = Path(result.card_path).read_text()
    meta = _front_matter(text)
    assert meta["license"] == "cc-by-4.0"
    assert meta["size_categories"] == ["n<1K"]
    assert "text-generation" in meta["task_categories"]
    data_files = meta["configs"][0]["data_files"][0]["path"]
    assert data_files == "data/**/*.parquet"
    assert info.template in text and info.spec["template_hash"] in text
    assert info.spec["seeds"] in text
    assert info.price_tables and all(v in text for v in info.price_tables)
    assert "plotpalette run --spec spec.json" in text
    assert f"ok {info.records_ok}" in text
    assert f"${info.spend_usd:.6f}" in text
    for record in iter_records(ws, ids["full"], status="ok"):
        for step in record.steps.values():
            assert f"`{step.model}`" in text
    assert f"plotpalette export {ids['full']} --format parquet" in text
    assert "Partial results" not in text
    assert os.path.dirname(result.card_path) == result.dest


def test_unknown_job_is_a_clear_error(workspace, tmp_path):
    with pytest.raises(JobNotFoundError) as err:
        export_job(workspace, "no-such-job", tmp_path / "x")
    assert "no-such-job" in str(err.value)


def test_destination_below_a_file_is_a_clear_error(jobs, tmp_path):
    ws, ids = jobs
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError) as err:
        export_job(ws, ids["full"], blocker / "export")
    assert str(blocker) in err.value.message and err.value.fix
    with pytest.raises(ExportError):
        export_job(ws, ids["full"], blocker)


def test_existing_export_needs_overwrite_and_foreign_folders_are_kept(jobs, tmp_path):
    ws, ids = jobs
    export_job(ws, ids["full"], tmp_path / "e", format="csv")
    with pytest.raises(ExportError, match="already holds files"):
        export_job(ws, ids["full"], tmp_path / "e", format="csv")
    again = export_job(ws, ids["full"], tmp_path / "e", format="jsonl", overwrite=True)
    assert not list((tmp_path / "e").rglob("*.csv")) and again.files
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not a Plot Palette export"):
        export_job(ws, ids["full"], foreign, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_an_export_interrupted_midway_leaves_no_file_under_a_final_name(
    jobs, tmp_path, monkeypatch
):
    ws, ids = jobs
    real = export_source.iter_records

    def crashing(*args, **kwargs):
        for n, record in enumerate(real(*args, **kwargs)):
            if n == 4:
                raise KeyboardInterrupt("simulated Ctrl-C during the export")
            yield record

    monkeypatch.setattr(export_source, "iter_records", crashing)
    dest = tmp_path / "crash"
    with pytest.raises(KeyboardInterrupt):
        export_job(ws, ids["full"], dest, shard_size=2)  # two files were complete
    assert [p for p in dest.rglob("*") if p.is_file()] == []


def _ok_records(outputs: list[dict]) -> list[Record]:
    """Hand-made ok records of a job "j", one per ``outputs`` mapping."""
    return [
        Record(job_id="j", index=i, seed_index=0, status="ok", outputs=out)
        for i, out in enumerate(outputs)
    ]


def test_nested_output_into_csv_is_an_error_naming_the_column(tmp_path):
    records = _ok_records([{"text": "t", "tags": ["a", "b"]}] * 3)
    plan = plan_columns(records, metadata=["record_id"])
    with pytest.raises(ExportError) as err:
        plan.for_flat_format("csv")
    assert "'tags'" in err.value.message and "json_columns" in err.value.fix
    plan = plan_columns(records, metadata=["record_id"], json_columns=["tags"])
    written = write_files(records, plan.for_flat_format("csv"), LocalStore(tmp_path), "", "csv")
    frame = pd.read_csv(tmp_path / written.keys[0])
    assert frame["tags"].tolist() == ['["a", "b"]'] * 3


def test_a_value_of_another_type_later_in_the_job_names_column_and_record(tmp_path):
    records = _ok_records([{"score": 3}, {"score": 3}, {"score": "high"}])
    plan = plan_columns(records[:2], metadata=[])
    with pytest.raises(ExportError) as err:
        write_files(records, plan, LocalStore(tmp_path), "", "parquet")
    assert "'score'" in err.value.message and "j:000000002" in err.value.message
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_bad_options_are_clear_errors(jobs, tmp_path):
    ws, ids = jobs
    cases = [
        dict(format="xlsx"),
        dict(columns=["nope"]),
        dict(metadata=["nope"]),
        dict(partition_by="nope"),
        dict(shard_size=0),
        dict(format="hf", partition_by="date"),
        dict(push_to_hub="me/data"),
    ]
    for n, options in enumerate(cases):
        with pytest.raises(ExportError) as err:
            export_job(ws, ids["full"], tmp_path / f"bad{n}", **options)
        assert err.value.fix
        assert not (tmp_path / f"bad{n}").exists()  # checked before anything is written
    kept = export_job(ws, ids["full"], tmp_path / "kept")
    with pytest.raises(ExportError):
        export_job(ws, ids["full"], tmp_path / "kept", overwrite=True, partition_by="nope")
    assert all(Path(f).exists() for f in kept.files)


def test_push_to_hub_without_a_token_fails_before_any_work(jobs, tmp_path, monkeypatch):
    ws, ids = jobs
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(ExportError, match="token") as err:
        export_job(ws, ids["full"], tmp_path / "hub", format="hf", push_to_hub="me/data")
    assert "HF_TOKEN" in err.value.fix
    assert not (tmp_path / "hub").exists()


def test_an_export_failing_after_its_data_files_leaves_nothing_behind(jobs, tmp_path, monkeypatch):
    ws, ids = jobs
    import plotpalette.export.api as export_api

    def broken_card(facts):
        raise KeyboardInterrupt("simulated Ctrl-C while the card is written")

    monkeypatch.setattr(export_api, "render_card", broken_card)
    dest = tmp_path / "late-crash"
    with pytest.raises(KeyboardInterrupt):
        export_job(ws, ids["full"], dest, format="csv")
    assert [p for p in dest.rglob("*") if p.is_file()] == []
    monkeypatch.undo()
    done = export_job(ws, ids["full"], dest, format="csv")  # the folder is usable again
    assert done.rows > 0


def test_a_failed_hub_upload_keeps_a_complete_local_export_that_can_be_replaced(
    jobs, tmp_path, monkeypatch
):
    pytest.importorskip("datasets")  # the "hf" extra
    ws, ids = jobs
    import plotpalette.export.hf as export_hf

    def offline(*args, **kwargs):
        raise ExportError(
            "push_to_hub to 'me/data' failed: offline", fix="the local copy is complete"
        )

    monkeypatch.setattr(export_hf, "push_dataset", offline)
    dest = tmp_path / "hub"
    with pytest.raises(ExportError, match="offline"):
        export_job(ws, ids["full"], dest, format="hf", push_to_hub="me/data", token="t")
    assert (dest / "README.md").exists() and (dest / "export.json").exists()
    again = export_job(ws, ids["full"], dest, format="hf", overwrite=True)
    assert again.rows == job_status(ws, ids["full"]).records_ok
