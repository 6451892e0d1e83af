"""CostDashboard driven headless: filters by period, model and template."""

from __future__ import annotations

import datetime as dt

import pytest

from plotpalette.jobs import JobSpec, list_jobs, run_job
from plotpalette.testing import InstantBackend
from plotpalette.ui import CostDashboard

TEMPLATE = """
name: {name}
steps:
  - id: ask
    model: {tier}
    max_tokens: 30
    prompt: "Write one question about {{{{ topic }}}}."
"""


@pytest.fixture
def two_jobs(workspace):
    from plotpalette.templates.library import TemplateLibrary

    library = TemplateLibrary(workspace)
    for name, tier in (("ui_cost_cheap", "cheap"), ("ui_cost_premium", "premium")):
        library.save(TEMPLATE.format(name=name, tier=tier))
        run_job(
            workspace,
            JobSpec(template=name, seeds="sample:poetry", records=3, budget_usd=1.0),
            backend=InstantBackend(),
        )
    return list_jobs(workspace)


def test_totals_match_the_registry_and_plots_render(workspace, two_jobs):
    dash = CostDashboard(workspace=workspace)
    assert dash.total_usd == pytest.approx(sum(j.spend_usd for j in two_jobs))
    assert dash.total_usd > 0
    assert dash.cost_plot.value[:4] == b"\x89PNG"
    assert dash.efficiency_plot.value[:4] == b"\x89PNG"
    assert len(dash.jobs_frame) == 2
    shown = dash.jobs_grid.data  # one row per job, indexed by job id
    for job in two_jobs:
        assert shown.loc[job.job_id, "spend"] == pytest.approx(job.spend_usd)


def test_model_and_template_filters(workspace, two_jobs):
    dash = CostDashboard(workspace=workspace)
    everything = dash.total_usd
    assert len(dash.models.options) == 2
    model = dash.models.options[0]
    dash.models.value = (model,)  # widget change re-applies the filters
    assert set(dash.filtered["model"]) == {model}
    assert 0 < dash.total_usd < everything
    dash.clear_button.click()
    assert dash.total_usd == pytest.approx(everything)
    dash.set_filters(templates=["ui_cost_premium"], group_by="template")
    assert list(dash.jobs_frame["template"].str.split("@").str[0]) == ["ui_cost_premium"]
    assert list(dash.table["template"]) == [
        two_jobs[0].template
        if two_jobs[0].template.startswith("ui_cost_premium")
        else two_jobs[1].template
    ]


def test_period_filter(workspace, two_jobs):
    dash = CostDashboard(workspace=workspace)
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    dash.set_filters(since=tomorrow.isoformat())
    assert dash.total_usd == 0 and len(dash.jobs_frame) == 0
    assert "No call matches these filters" in dash.empty_html.value
    dash.since.value = dt.date.today() - dt.timedelta(days=2)
    assert dash.total_usd > 0


def test_refresh_sees_new_jobs(workspace, two_jobs):
    dash = CostDashboard(workspace=workspace)
    before = dash.total_usd
    run_job(
        workspace,
        JobSpec(template="ui_cost_premium", seeds="sample:poetry", records=2, budget_usd=1.0),
        backend=InstantBackend(),
    )
    dash.refresh_button.click()
    assert dash.total_usd > before
    assert len(dash.jobs_frame) == 3


def test_an_empty_workspace_says_what_to_do_instead_of_empty_charts(workspace):
    dash = CostDashboard(workspace=workspace)
    assert dash.errors == []
    assert "No costs to show" in dash.empty_html.value and "Refresh" in dash.empty_html.value
    assert dash.results_box.layout.display == "none"


def test_template_filter_lists_each_template_once(workspace, two_jobs):
    dash = CostDashboard(workspace=workspace)
    names = {j.template.split("@")[0] for j in two_jobs}
    assert sorted(dash.templates.options) == sorted(names)  # no name@version twins
