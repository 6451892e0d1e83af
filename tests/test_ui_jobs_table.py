"""JobsTable driven headless: list, select, open console, resume, export."""

from __future__ import annotations

from pathlib import Path

import pytest

from plotpalette.errors import ConfigError
from plotpalette.jobs import JobSpec, JobState, job_status, run_job
from plotpalette.testing import InstantBackend
from plotpalette.ui import JobConsole, JobsTable

TEMPLATE = """
name: ui_table_qa
steps:
  - id: ask
    model: cheap
    max_tokens: 30
    prompt: "Write one question about {{ topic }}."
"""


@pytest.fixture
def jobs(workspace):
    from plotpalette.templates.library import TemplateLibrary

    name = TemplateLibrary(workspace).save(TEMPLATE).name
    done = run_job(
        workspace,
        JobSpec(template=name, seeds="sample:poetry", records=4, budget_usd=1.0),
        backend=InstantBackend(),
    )
    broke = run_job(
        workspace,
        JobSpec(template=name, seeds="sample:poetry", records=3, budget_usd=1e-7),
        backend=InstantBackend(),
    )
    return done, broke


def test_lists_every_job_with_state_progress_and_spend(workspace, jobs):
    done, broke = jobs
    table = JobsTable(workspace)
    assert set(table.job_ids) == {done.job_id, broke.job_id}
    html = table.table_html.value
    for result in jobs:
        assert result.job_id in html and result.state.value in html
    assert "4/4" in html and "0/3" in html
    frame = table.dataframe()
    assert set(frame["state"]) == {"COMPLETED", "BUDGET_EXCEEDED"}
    table.state_filter.value = "COMPLETED"
    assert table.job_ids == [done.job_id]


def test_open_console_on_the_selected_job(workspace, jobs):
    done, _ = jobs
    table = JobsTable(workspace)
    table.select(done.job_id)
    table.open_button.click()
    assert isinstance(table.console, JobConsole) and table.console.job_id == done.job_id
    assert table.console.widget in table.console_box.children
    assert table.console.progress_bar.value == 4


def test_export_button_writes_the_chosen_format(workspace, jobs):
    done, _ = jobs
    table = JobsTable(workspace)
    table.select(done.job_id)
    table.format.value = "jsonl"
    table.export_button.click()
    assert table.errors == []
    result = table.last_export
    assert result.rows == 4 and result.format == "jsonl"
    assert all(Path(f).exists() for f in result.files)
    assert result.dest in table.export_html.value


def test_resume_action_finishes_a_stopped_job_with_more_budget(workspace, jobs):
    _, broke = jobs
    table = JobsTable(workspace, backend=InstantBackend())
    console = table.resume(broke.job_id, budget_usd=1.0)
    console.wait(timeout=30)
    assert job_status(workspace, broke.job_id).state is JobState.COMPLETED
    table.refresh()
    assert "3/3" in table.table_html.value


def test_actions_without_a_selection_explain_what_to_do(workspace):
    table = JobsTable(workspace)
    assert "no jobs yet" in table.table_html.value
    table.open_button.click()
    assert isinstance(table.errors[-1], ConfigError)
    assert "fix:" in "".join(o.get("text", "") for o in table.log.outputs)
