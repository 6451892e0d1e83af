"""The quality report, the export filter and cost × quality, through public entry points."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from plotpalette import JobSpec, export_job, run_job
from plotpalette.cli import main
from plotpalette.errors import QualityError
from plotpalette.jobs import iter_records
from plotpalette.quality import (
    Label,
    QualityFilter,
    judge,
    judge_scores,
    quality_costs,
    quality_report,
    save_label,
)
from plotpalette.testing import InstantBackend, qa_template, topic_seeds, workspace_with_template


@pytest.fixture
def ws(tmp_path):
    ws = workspace_with_template(tmp_path / "ws", qa_template("qa"))
    # a second version with shorter outputs: more records cut at max_tokens
    from plotpalette.templates import TemplateLibrary

    TemplateLibrary(ws).save(qa_template("qa", max_tokens=(8, 8)))
    return ws


def _job(ws, template="qa@1", seeds=7, records=20):
    spec = JobSpec(template=template, seeds=topic_seeds(seeds), records=records)
    return run_job(ws, spec, backend=InstantBackend()).job_id


def test_report_counts_duplicates_flags_coverage_by_template_and_model(ws):
    job = _job(ws)
    report = quality_report(ws, job)
    records = list(iter_records(ws, job))
    # the same seed row gives the same prompt and (deterministic model) the same text
    texts = [(r.outputs["question"], r.outputs["answer"]) for r in records]
    assert report.totals()["exact_duplicates"] == len(texts) - len(set(texts))
    dup = report.duplicates.set_index(["by", "group"])
    assert dup.loc[("template", "qa@1"), "exact_duplicates"] == len(texts) - len(set(texts))
    assert ("model", "amazon.nova-micro-v1:0") in dup.index
    flagged = sum(1 for r in records if any(f.endswith(":truncated") for f in r.flags))
    flags = report.flags.set_index(["by", "group", "flag"])
    assert flags.loc[("template", "qa@1", "truncated"), "records"] == flagged
    cov = report.coverage.set_index(["by", "group"]).loc[("template", "qa@1")]
    assert cov["seed_rows"] == 7 and cov["rows_used"] == 7 and cov["max_per_row"] == 3
    div = report.diversity.set_index(["by", "group", "column"])
    assert set(report.text_columns) == {"question", "answer"}
    assert 0 < div.loc[("template", "qa@1", "answer"), "distinct_2"] <= 1
    lengths = report.lengths.set_index(["by", "group", "column"])
    assert lengths.loc[("template", "qa@1", "answer"), "max_chars"] == max(
        len(r.outputs["answer"]) for r in records
    )
    assert "not judged" in report.summary()


def test_report_compares_template_versions(ws):
    a, b = _job(ws, "qa@1"), _job(ws, "qa@2")
    report = quality_report(ws, [a, b])
    groups = set(report.lengths.loc[report.lengths["by"] == "template", "group"])
    assert groups == {"qa@1", "qa@2"}
    means = report.lengths.set_index(["by", "group", "column"])["mean_chars"]
    assert means[("template", "qa@2", "answer")] < means[("template", "qa@1", "answer")]
    # saved per job: each job's card describes that job only
    for job, key in zip([a, b], report.save(ws), strict=True):
        saved = json.loads(ws.store.read_bytes(key))
        assert saved["totals"]["jobs"] == [job] and saved["totals"]["records"] == 20


def test_report_includes_judge_scores_and_plots(ws):
    job = _job(ws)
    judge(ws, job, sample=6, backend=InstantBackend())
    report = quality_report(ws, job)
    row = report.judge.set_index(["by", "group"]).loc[("template", "qa@1")]
    assert row["judged"] == 6 and row["invalid"] == 0
    joined = report.records.dropna(subset=["judge_score"])
    scores = judge_scores(ws, job)
    assert sorted(joined["index"]) == sorted(scores["index"])
    for method in ("plot_lengths", "plot_flags", "plot_diversity", "plot_coverage", "plot_scores"):
        fig = getattr(report, method)()
        assert fig._repr_png_().startswith(b"\x89PNG")


def test_export_where_exports_exactly_the_passing_records_and_the_card_says_so(ws, tmp_path):
    job = _job(ws)
    judge(ws, job, sample=12, backend=InstantBackend())
    scores = judge_scores(ws, job)
    save_label(ws, job, Label(index=int(scores["index"][0]), accepted=False, score=1, reviewer="r"))
    quality_report(ws, job).save(ws)
    result = export_job(
        ws, job, tmp_path / "out", format="jsonl", where="min_score=4,unique,not_rejected"
    )
    rows = [json.loads(line) for f in result.files for line in Path(f).read_text().splitlines()]
    # what should pass, from the public pieces: first of each text, judged >= 4, not rejected
    seen, expected = set(), set()
    good = {int(i) for i, s in zip(scores["index"], scores["score"], strict=True) if s >= 4}
    for r in sorted(iter_records(ws, job, status="ok"), key=lambda r: r.index):
        key = (r.outputs["question"], r.outputs["answer"])
        first = key not in seen
        seen.add(key)
        if first and r.index in good and r.index != int(scores["index"][0]):
            expected.add(r.index)
    assert {r["index"] for r in rows} == expected
    card = Path(result.card_path).read_text()
    removed = 20 - len(expected)
    assert f"`min_score=4,unique,not_rejected`: it removed **{removed}** of 20" in card
    assert "--where min_score=4,unique,not_rejected" in card
    assert "| exact duplicates |" in card


def test_quality_filter_text_round_trips_and_rejects_nonsense():
    qf = QualityFilter.parse("min_score=3.5, unique, no-flags, threshold=0.8")
    assert qf == QualityFilter(min_score=3.5, unique=True, no_flags=True, threshold=0.8)
    assert QualityFilter.parse(qf.describe()) == qf
    with pytest.raises(QualityError, match="cannot read"):
        QualityFilter.parse("score>4")
    with pytest.raises(QualityError, match="unknown quality filter"):
        QualityFilter.parse({"min_scor": 4})


def test_cost_quality_dollars_per_accepted_record_and_waste_add_up(ws):
    job = _job(ws)
    judge_run = judge(ws, job, sample=10, backend=InstantBackend())
    table = quality_costs(ws, where="unique,no_flags")
    # a judge is charged to the records it judged, never listed as a job of its own
    assert set(table["group"]) == {"qa@1", "amazon.nova-micro-v1:0"}
    row = table.set_index(["by", "group"]).loc[("template", "qa@1")]
    records = list(iter_records(ws, job))
    assert row["records_usd"] == pytest.approx(sum(r.cost_usd for r in records))
    judge_cost = sum(r.cost_usd for r in iter_records(ws, judge_run.job_id))
    assert row["judge_usd"] == pytest.approx(judge_cost)
    assert row["usd_per_accepted"] == pytest.approx(
        (row["records_usd"] + row["judge_usd"]) / row["accepted"]
    )
    waste = [c for c in table.columns if c.startswith("waste_") and c != "waste_usd"]
    assert row["waste_usd"] == pytest.approx(sum(row[c] for c in waste) + row["unattributed_usd"])
    assert row["waste_duplicate_usd"] > 0 and row["waste_flagged_usd"] > 0


def test_cli_quality(ws, capsys):
    job = _job(ws)
    base = ["--workspace", ws.location, "--json"]
    assert main([*base, "quality", job, "--save", "--costs"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["ok"] == 20 and out["costs"]
    assert ws.store.exists(f"jobs/{job}/quality/report.json")
    assert main([*base, "quality", "no-such-job"]) == 1


def test_report_tables_are_dataframes(ws):
    report = quality_report(ws, _job(ws, records=3, seeds=3))
    for name in ("duplicates", "diversity", "lengths", "flags", "coverage", "judge"):
        assert isinstance(getattr(report, name), pd.DataFrame)
    assert json.loads(json.dumps(report.to_dict()))["totals"]["records"] == 3
