"""JobsTable driven headless: list, select, open console, resume, export."""

from __future__ import annotations

from pathlib import Path

import pytest

from plotpalette.errors import ConfigError, JobNotFoundError, JobStateError
from plotpalette.jobs import JobSpec, JobState, job_status, run_job
from plotpalette.testing import InstantBackend, qa_template
from plotpalette.ui import JobConsole, JobsTable

TEMPLATE_NAME = "ui_table_qa"
TEMPLATE = qa_template(TEMPLATE_NAME, steps=1, max_tokens=(30, 0), output=False)


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
    table = JobsTable(workspace=workspace)
    assert set(table.job_ids) == {done.job_id, broke.job_id}
    shown = table.grid.data  # indexed by job id
    for result in jobs:
        assert shown.loc[result.job_id, "state"] == result.state.value
    assert (shown.loc[done.job_id, "done"], shown.loc[done.job_id, "of"]) == (4, 4)
    assert (shown.loc[broke.job_id, "done"], shown.loc[broke.job_id, "of"]) == (0, 3)
    frame = table.dataframe()
    assert set(frame["state"]) == {"COMPLETED", "BUDGET_EXCEEDED"}
    table.state_filter.value = "COMPLETED"
    assert table.job_ids == [done.job_id]


def test_open_console_on_the_selected_job(workspace, jobs):
    done, _ = jobs
    table = JobsTable(workspace=workspace)
    table.select(done.job_id)
    table.open_button.click()
    assert isinstance(table.console, JobConsole) and table.console.job_id == done.job_id
    assert table.console.widget in table.console_box.children
    assert table.console.progress_bar.value == 4


def test_export_button_writes_the_chosen_format(workspace, jobs):
    done, _ = jobs
    table = JobsTable(workspace=workspace)
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
    table = JobsTable(workspace=workspace, backend=InstantBackend())
    console = table.resume(broke.job_id, budget_usd=1.0)
    console.wait(timeout=30)
    assert job_status(workspace, broke.job_id).state is JobState.COMPLETED
    table.refresh()
    row = table.grid.data.loc[broke.job_id]
    assert (row["done"], row["of"], row["state"]) == (3, 3, "COMPLETED")


def test_actions_without_a_selection_explain_what_to_do(workspace):
    table = JobsTable(workspace=workspace)
    assert "no jobs yet" in table.table_html.value
    table.open_button.click()
    assert isinstance(table.errors[-1], ConfigError)
    assert "fix:" in "".join(o.get("text", "") for o in table.log.outputs)


def test_delete_asks_for_a_second_click_then_removes_the_job(workspace, jobs):
    done, broke = jobs
    table = JobsTable(workspace=workspace)
    table.select(done.job_id)
    table.open_console()
    table.delete_button.click()  # first click: armed, nothing deleted yet
    assert table.errors == [] and table.pending_delete == done.job_id
    assert table.delete_button.description == "Confirm delete"
    assert done.job_id in table.delete_html.value
    assert job_status(workspace, done.job_id).state is JobState.COMPLETED
    table.select(broke.job_id)  # choosing another job calls it off
    assert table.pending_delete is None and table.delete_button.description == "Delete"
    table.select(done.job_id)
    table.delete_button.click()
    table.delete_button.click()  # second click on the same job: deleted
    assert table.errors == [] and table.last_deleted.job_id == done.job_id
    assert table.job_ids == [broke.job_id] and table.console is None
    assert not workspace.store.list(f"jobs/{done.job_id}/")
    with pytest.raises(JobNotFoundError):
        job_status(workspace, done.job_id)
    assert table.delete(broke.job_id, confirm=True).files_removed > 0  # headless: one call
    assert table.job_ids == []


def test_delete_refuses_a_running_job_with_its_fix(workspace, jobs):
    import time

    from plotpalette.jobs import JobHandle

    name = job_status(workspace, jobs[0].job_id).template
    handle = JobHandle(
        workspace,
        JobSpec(template=name, seeds="sample:poetry", records=300, budget_usd=10.0),
        backend=InstantBackend(latency_s=0.05),
    ).start()
    try:
        deadline = time.monotonic() + 20
        while job_status(workspace, handle.job_id).state is not JobState.RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        table = JobsTable(workspace=workspace)
        with pytest.raises(JobStateError):
            table.delete(handle.job_id, confirm=True)
        assert "cancel" in "".join(o.get("text", "") for o in table.log.outputs).lower()
        assert workspace.store.exists(f"jobs/{handle.job_id}/template.yaml")
    finally:
        handle.cancel()
        handle.wait(30)


def test_clicking_a_row_chooses_that_job_for_the_buttons(workspace, jobs):
    _, broke = jobs
    table = JobsTable(workspace=workspace)
    row = list(table.grid.data.index).index(broke.job_id)
    # what the browser sends when the row is clicked
    table.grid.selections = [{"r1": int(row), "c1": 0, "r2": int(row), "c2": 3}]
    assert table.selected.value == broke.job_id
    table.open_button.click()
    assert table.console.job_id == broke.job_id


def test_resume_is_disabled_for_a_final_job_and_refused_once(workspace, jobs):
    done, broke = jobs
    table = JobsTable(workspace=workspace)
    table.select(done.job_id)
    assert table.resume_button.disabled  # COMPLETED is final
    table.select(broke.job_id)
    assert not table.resume_button.disabled  # BUDGET_EXCEEDED can go on with more money
    with pytest.raises(JobStateError):
        table.resume(done.job_id)
    assert len(table.errors) == 1 and table.console is None  # one message, no console


def test_the_list_refreshes_itself_while_a_job_runs(workspace, jobs):
    from plotpalette.jobs import JobHandle, JobSpec
    from plotpalette.testing import until

    spec = JobSpec(template=TEMPLATE_NAME, seeds="sample:poetry", records=5, concurrency=1)
    handle = JobHandle(workspace, spec, backend=InstantBackend(latency_s=0.2)).start()
    table = JobsTable(workspace=workspace)
    table.auto_refresh_seconds = 0.1
    assert "refreshes itself" in table.status.value
    try:
        # no Refresh click: the table sees the job finish, then stops refreshing
        assert until(lambda: "refreshes itself" not in table.status.value, timeout=60)
    finally:
        table.close()
        handle.wait(60)
    row = table.grid.data.iloc[0]
    assert (row["state"], row["done"]) == ("COMPLETED", 5)
