"""Cost analytics: every table adds up to the ledger's spend; plots are Figures."""

from __future__ import annotations

import io

import pytest

from plotpalette.analytics import (
    BY_COLUMNS,
    cost_facts,
    costs_by,
    filter_facts,
    job_costs,
    plot_budget_efficiency,
    plot_cost_per_record,
    plot_costs,
)
from plotpalette.errors import ConfigError, JobNotFoundError
from plotpalette.jobs import JobSpec, iter_records, job_status, list_jobs, run_job
from plotpalette.testing import InstantBackend


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Three jobs: two templates' worth of steps, one stopped by its budget."""
    from plotpalette import Workspace

    ws = Workspace.open(tmp_path_factory.mktemp("costs-ws") / "ws")
    base = dict(template="question_answer", seeds="sample:poetry", concurrency=1)
    first = run_job(ws, JobSpec(records=5, **base), backend=InstantBackend(), handle_signals=False)
    per_record = job_status(ws, first.job_id).spend_usd / 5
    run_job(
        ws,
        JobSpec(records=4, tier="premium", **base),
        backend=InstantBackend(),
        handle_signals=False,
    )
    run_job(
        ws,
        JobSpec(records=12, budget_usd=per_record * 10, **base),
        backend=InstantBackend(),
        handle_signals=False,
    )
    return ws


def _ledger_spend(ws) -> float:
    return sum(info.spend_usd for info in list_jobs(ws))


def test_every_grouping_sums_to_the_ledger_spend(ws):
    facts = cost_facts(ws)
    total = _ledger_spend(ws)
    assert total > 0
    for by in BY_COLUMNS:
        table = costs_by(facts, by)
        assert table["cost_usd"].sum() == pytest.approx(total, rel=1e-9, abs=1e-12)
        assert table["share"].sum() == pytest.approx(1.0)


def test_per_job_costs_match_the_registry(ws):
    facts = cost_facts(ws)
    by_job = costs_by(facts, "job").set_index("job_id")["cost_usd"]
    for info in list_jobs(ws):
        assert by_job[info.job_id] == pytest.approx(info.spend_usd, abs=1e-12)


def test_model_and_step_tables_come_from_settled_record_costs(ws):
    facts = cost_facts(ws)
    records = [r for info in list_jobs(ws) for r in iter_records(ws, info.job_id)]
    models = {s.model for r in records for s in r.steps.values() if not s.skipped}
    by_model = costs_by(facts[facts["kind"] == "record"], "model")
    assert set(by_model["model"]) == models
    for model in models:
        expected = sum(
            s.cost_usd
            for r in records
            for s in r.steps.values()
            if s.model == model and not s.skipped
        )
        got = by_model.set_index("model").loc[model, "cost_usd"]
        assert got == pytest.approx(expected)
    tokens = sum(s.input_tokens for r in records for s in r.steps.values())
    assert facts["input_tokens"].sum() == tokens
    by_step = costs_by(facts, ["template", "step"])
    assert {"template", "step", "cost_usd"} <= set(by_step.columns)


def test_job_table_has_efficiency_figures(ws):
    table = job_costs(ws).set_index("job_id")
    for info in list_jobs(ws):
        row = table.loc[info.job_id]
        assert row["spend_usd"] == pytest.approx(info.spend_usd)
        assert row["spend_per_accepted_usd"] == pytest.approx(info.spend_usd / info.records_ok)
        assert row["accepted_per_dollar"] == pytest.approx(info.records_ok / info.spend_usd)
        if info.budget_usd:
            assert row["budget_used"] == pytest.approx(info.spend_usd / info.budget_usd)
            assert row["budget_used"] <= 1.0 + 1e-9
    assert "BUDGET_EXCEEDED" in set(table["state"])


def test_filters_and_bad_groupings(ws):
    facts = cost_facts(ws)
    day = facts["day"].iloc[0]
    assert len(filter_facts(facts, since="2999-01-01")) == 0
    assert len(filter_facts(facts, since=day, until=day)) > 0
    model = facts["model"].iloc[0]
    assert set(filter_facts(facts, models=[model])["model"]) == {model}
    assert len(filter_facts(facts, templates=["question_answer"])) == len(facts)
    with pytest.raises(ConfigError):
        costs_by(facts, "colour")
    with pytest.raises(JobNotFoundError):
        cost_facts(ws, ["no-such-job"])


@pytest.mark.parametrize("by", ["day", "model", "step", "template", "job"])
def test_plots_are_figures_that_render_without_a_display(ws, by):
    from matplotlib.figure import Figure

    facts = cost_facts(ws)
    fig = plot_costs(facts, by=by)
    assert isinstance(fig, Figure)
    bars = [p for p in fig.axes[0].patches]
    assert bars and sum(b.get_height() for b in bars) == pytest.approx(facts["cost_usd"].sum())
    fig.savefig(io.BytesIO(), format="png")


def test_job_plots(ws):
    jobs = job_costs(ws)
    for fig in (plot_budget_efficiency(jobs), plot_cost_per_record(jobs)):
        assert fig.axes and fig.axes[0].patches
        fig.savefig(io.BytesIO(), format="png")


def test_an_empty_workspace_gives_empty_tables(workspace):
    facts = cost_facts(workspace)
    assert facts.empty and costs_by(facts, "model").columns[0] == "model"
    assert job_costs(workspace).empty
    plot_costs(facts).savefig(io.BytesIO(), format="png")


def test_a_deleted_jobs_spend_stays_in_the_totals(tmp_path):
    from plotpalette import Workspace
    from plotpalette.jobs import delete_job

    ws = Workspace.open(tmp_path / "ws")
    spec = JobSpec(template="question_answer", seeds="sample:poetry", records=3, concurrency=1)
    kept = run_job(ws, spec, backend=InstantBackend(), handle_signals=False)
    gone = run_job(ws, spec, backend=InstantBackend(), handle_signals=False)
    spent = job_status(ws, kept.job_id).spend_usd + job_status(ws, gone.job_id).spend_usd
    delete_job(ws, gone.job_id)
    facts = cost_facts(ws)
    assert facts["cost_usd"].sum() == pytest.approx(spent, rel=1e-9)
    deleted = facts[facts["job_id"] == gone.job_id]
    assert set(deleted["kind"]) == {"unattributed"}
