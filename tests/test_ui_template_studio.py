"""TemplateStudio driven headless: set widget values, click buttons, check the library."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pandas as pd
import pytest

from plotpalette.errors import TemplateError, TemplateFormatError
from plotpalette.seeds import sample_seeds
from plotpalette.templates import parse_template
from plotpalette.templates.library import TemplateLibrary
from plotpalette.ui import (
    CostDashboard,
    JobConsole,
    JobsTable,
    JobWizard,
    SeedExplorer,
    TemplateStudio,
)

MY_TEMPLATE = """\
name: haiku_notes
description: one haiku per topic
steps:
  - id: write
    model: cheap
    prompt: "Write a haiku about {{ topic }} for {{ reader }}."
"""


def with_description(yaml_text: str, text: str) -> str:
    """The same template YAML with its top-level description replaced."""
    return re.sub(r"^description: .*$", f"description: {text}", yaml_text, count=1, flags=re.M)


@pytest.fixture
def studio(workspace):
    return TemplateStudio("question_answer", workspace=workspace)


def test_opens_a_builtin_template_into_the_editor(studio):
    assert "name: question_answer" in studio.editor.value
    assert studio.current.ref == "question_answer@1"
    assert studio.parsed is not None and studio.problems == []
    assert "valid" in studio.messages.value
    assert ("question_answer", "question_answer") in studio.template.options
    assert list(studio.history_frame["version"]) == [1]


def test_open_button_loads_the_dropdown_choice(studio):
    studio.template.value = "poem"
    studio.open_button.click()
    assert studio.current.name == "poem"
    assert "name: poem" in studio.editor.value


def test_invalid_edit_lists_the_problem_with_its_line_as_you_type(studio, workspace):
    studio.editor.value = studio.editor.value.replace("prompt:", "promt:", 1)
    assert studio.parsed is None
    assert any("promt" in p and "did you mean prompt" in p for p in studio.problems)
    assert "promt" in studio.messages.value and "line" in studio.messages.value
    assert "⚠" in studio.status.value
    studio.save_button.click()  # refused: the error goes to the log, nothing is saved
    assert isinstance(studio.errors[-1], TemplateFormatError)
    assert "promt" in "".join(o["text"] for o in studio.log.outputs)
    assert TemplateLibrary(workspace).versions("question_answer") == [1]


def test_malformed_yaml_is_reported_not_raised(studio):
    studio.editor.value = "name: x\nsteps: [\n"
    assert studio.parsed is None and studio.problems
    with pytest.raises(TemplateFormatError):
        studio.validate()


def test_save_creates_a_new_version_and_identical_content_creates_none(studio, workspace):
    studio.editor.value = with_description(studio.editor.value, "edited in the studio")
    studio.message.value = "my edit"
    studio.save_button.click()
    library = TemplateLibrary(workspace)
    assert library.versions("question_answer") == [1, 2]
    assert library.get("question_answer@2").description == "edited in the studio"
    assert studio.current.ref == "question_answer@2"
    assert "question_answer@2" in studio.version_label.value
    assert studio.history_frame["message"].tolist()[-1] == "my edit"
    studio.save_button.click()
    assert library.versions("question_answer") == [1, 2]


def test_preview_renders_the_seed_rows_text_and_estimates_cost(studio):
    studio.sample_rows.value = 2
    studio.records.value = 500
    studio.preview_button.click()
    assert studio.errors == []
    frame = studio.last_preview
    first = sample_seeds("poetry").rows[0]
    assert set(frame["step"]) == {s.id for s in studio.current.steps}
    assert len(frame) == 2 * len(studio.current.steps)
    assert any(first["poem"]["title"] in p for p in frame["prompt"])
    assert (frame["input_tokens"] > 0).all()
    # The workspace's backend is the local model: every tier maps to it, and it is free.
    per, total = studio.estimate["cost_per_record_usd"], studio.estimate["cost_for_records_usd"]
    assert per == 0 and total == 0
    assert first["poem"]["title"] in studio.preview_view.value
    assert "500 records" in studio.estimate_view.value


def test_preview_under_bedrock_prices_the_tiers(workspace):
    studio = TemplateStudio("question_answer", workspace=workspace, backend="bedrock")
    studio.records.value = 500
    studio.preview_button.click()
    assert studio.errors == []
    per, total = studio.estimate["cost_per_record_usd"], studio.estimate["cost_for_records_usd"]
    assert per > 0 and total == pytest.approx(per * 500)


def test_preview_uses_rows_passed_in_as_a_dataframe(workspace):
    rows = pd.DataFrame([{"topic": "lighthouses", "reader": "a child"}])
    app = TemplateStudio(None, seeds=rows, workspace=workspace)
    app.editor.value = MY_TEMPLATE
    frame = app.preview()
    assert frame["prompt"].tolist() == ["Write a haiku about lighthouses for a child."]
    assert "unsaved" in app.status.value


def test_preview_of_a_row_missing_a_field_names_the_field(workspace, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"topic": "rain"}\n')
    app = TemplateStudio(None, workspace=workspace)
    app.editor.value = MY_TEMPLATE
    app.seed_source.value = str(path)
    frame = app.preview()
    assert "reader" in str(frame["error"].iloc[0])
    assert "reader" in "".join(o["text"] for o in app.log.outputs)


def test_history_diff_and_restore(studio, workspace):
    original = studio.editor.value
    studio.editor.value = with_description(original, "v2 text")
    studio.save()
    studio.show_history()
    assert [v for _, v in studio.history.options] == ["question_answer@1", "question_answer@2"]
    assert (studio.diff_a.value, studio.diff_b.value) == ("question_answer@1", "question_answer@2")
    studio.diff_button.click()
    assert "+description: v2 text" in studio.diff_view.value
    assert "+description: v2 text" in studio.diff(1, 2)
    studio.history.value = "question_answer@1"
    studio.restore_button.click()
    library = TemplateLibrary(workspace)
    assert library.versions("question_answer") == [1, 2, 3]
    assert (
        library.get("question_answer@3").content_hash
        == library.get("question_answer@1").content_hash
    )
    assert studio.current.ref == "question_answer@3"
    assert "v2 text" not in studio.editor.value


def test_fork_keeps_lineage(studio, workspace):
    studio.fork_name.value = "my_qa"
    studio.fork_button.click()
    forked = TemplateLibrary(workspace).get("my_qa")
    assert forked.forked_from == "question_answer@1"
    assert studio.current.ref == "my_qa@1"
    assert studio.template.value == "my_qa"


def test_fork_to_an_existing_name_is_logged(studio):
    studio.fork_name.value = "poem"
    studio.fork_button.click()
    assert isinstance(studio.errors[-1], TemplateError)
    assert "already exists" in studio.status.value


def test_export_then_import_round_trips(studio, workspace, tmp_path):
    target = tmp_path / "qa.yaml"
    studio.path.value = str(target)
    studio.export_button.click()
    assert parse_template(target.read_text()).name == "question_answer"
    studio.editor.value = with_description(studio.editor.value, "not saved yet")
    studio.export_button.click()  # exports the saved version and says so
    assert "not saved yet" not in target.read_text()
    assert "unsaved edits" in "".join(o["text"] for o in studio.log.outputs)
    mine = tmp_path / "haiku.yaml"
    mine.write_text(MY_TEMPLATE)
    studio.path.value = str(mine)
    studio.import_button.click()
    assert TemplateLibrary(workspace).get("haiku_notes").version == 1
    assert studio.current.ref == "haiku_notes@1"


def test_import_of_a_missing_file_is_logged(studio, tmp_path):
    studio.path.value = str(tmp_path / "nope.yaml")
    studio.import_button.click()
    assert "nope.yaml" in studio.status.value


def test_upload_widget_imports_the_file(studio, workspace):
    studio.upload.value = (
        {
            "name": "haiku.yaml",
            "type": "application/x-yaml",
            "size": len(MY_TEMPLATE),
            "content": memoryview(MY_TEMPLATE.encode()),
            "last_modified": datetime.datetime.now(datetime.timezone.utc),
        },
    )
    assert TemplateLibrary(workspace).versions("haiku_notes") == [1]
    assert studio.current.name == "haiku_notes"


def test_unknown_template_is_an_error_with_a_suggestion(workspace):
    with pytest.raises(TemplateError, match="question_answer"):
        TemplateStudio("question_answr", workspace=workspace)


# -- preview with the model: a budgeted job in the ledger, one client per studio ----------


def bedrock_workspace(workspace, emulator):
    from plotpalette import Workspace

    settings = workspace.settings.replace(
        backend="bedrock", region="us-east-1", bedrock_endpoint_url=emulator.endpoint_url
    )
    return Workspace(workspace.store, settings)


def test_model_preview_is_a_budgeted_job_with_ledger_entries(workspace, bedrock_emulator):
    from plotpalette.jobs import list_jobs, open_registry

    ws = bedrock_workspace(workspace, bedrock_emulator)
    studio = TemplateStudio("question_answer", workspace=ws)
    studio.with_model.value = True
    studio.sample_rows.value = 2
    studio.preview_budget.value = 0.25
    studio.preview_button.click()
    studio.preview_button.click()
    assert studio.errors == []
    previews = [j for j in list_jobs(ws) if j.name == "preview of question_answer@1"]
    assert len(previews) == 2  # each click is one job, in the jobs table like any other
    info = previews[0]
    assert info.job_id == studio.last_job_id
    assert info.budget_usd == pytest.approx(0.25)
    assert 0 < info.spend_usd <= 0.25
    reg = open_registry(ws)
    rows = reg.ledger(info.job_id)
    reg.close()
    assert sum(r.settle_usd for r in rows) == pytest.approx(info.spend_usd)
    frame = studio.last_preview
    # the job's spend is the rows' cost plus the pre-flight probes (1 token each)
    assert 0 < frame["cost_usd"].sum() < info.spend_usd
    assert set(frame["step"]) == {"ask", "answer"} and len(frame) == 4
    assert "[output of step" not in " ".join(frame["output"])  # real text, no placeholder
    assert "billed $" in studio.preview_view.value
    assert studio.model_preview.backends_built == 1  # one client for every click


def test_model_preview_stops_at_the_budget_the_user_set(workspace, bedrock_emulator):
    from plotpalette.jobs import job_status

    ws = bedrock_workspace(workspace, bedrock_emulator)
    studio = TemplateStudio("question_answer", workspace=ws)
    studio.with_model.value = True
    studio.sample_rows.value = 3
    studio.preview_budget.value = 0.000001  # less than one call's worst case
    studio.preview()
    info = job_status(ws, studio.last_job_id)
    assert info.state.value == "BUDGET_EXCEEDED"
    assert info.spend_usd <= 0.000001


def test_model_preview_refuses_unsaved_edits_and_a_missing_budget(studio):
    studio.with_model.value = True
    studio.editor.value = with_description(studio.editor.value, "edited, not saved")
    with pytest.raises(TemplateError, match="unsaved edits"):
        studio.preview()
    assert "Save new version" in studio.errors[-1].fix
    studio.load("question_answer")
    studio.preview_budget.value = 0.0
    with pytest.raises(Exception, match="needs a budget"):
        studio.preview()
    assert studio.last_job_id is None  # nothing was run


# -- one constructor convention: the workspace is a keyword ---------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda ws: TemplateStudio(ws),
        lambda ws: SeedExplorer(ws),
        lambda ws: JobsTable(ws),
        lambda ws: JobWizard(ws),
        lambda ws: CostDashboard(ws),
        lambda ws: JobConsole(ws),
        lambda ws: JobConsole("j", ws),
        lambda ws: TemplateStudio(Path(ws.location)),
    ],
    ids=["studio", "explorer", "table", "wizard", "dashboard", "console", "console2", "path"],
)
def test_a_workspace_passed_positionally_gets_a_clear_type_error(workspace, make):
    with pytest.raises(TypeError, match=r"workspace=") as info:
        make(workspace)
    assert "strip" not in str(info.value)  # not the old confusing attribute error


def test_every_app_takes_the_workspace_by_keyword(workspace):
    apps = [
        TemplateStudio("question_answer", workspace=workspace),
        SeedExplorer("sample:poetry", workspace=workspace),
        JobsTable(workspace=workspace),
        JobWizard(workspace=workspace),
        CostDashboard(workspace=workspace),
    ]
    assert {str(app.workspace.location) for app in apps} == {str(workspace.location)}


def test_the_status_line_clears_when_the_error_is_fixed(studio):
    good = studio.editor.value
    studio.editor.value = good.replace("steps:", "steps: [", 1)  # broken YAML
    assert "⚠" in studio.status.value
    studio.editor.value = good
    assert "⚠" not in studio.status.value and "question_answer@1" in studio.status.value


def test_a_misspelt_field_is_caught_as_you_type_before_any_preview(studio):
    assert studio.field_problems == []  # the sample rows give every field it reads
    studio.editor.value = studio.editor.value.replace("poem.title", "poem.titel")
    assert studio.parsed is not None  # valid YAML and Jinja...
    assert any("poem.titel" in p for p in studio.field_problems)  # ...but no such field
    assert "poem.titel" in studio.messages.value


def test_saving_a_new_version_warns_that_jobs_by_name_pick_it_up(studio):
    studio.editor.value = with_description(studio.editor.value, "A new description.")
    studio.save()
    assert "question_answer@2" in studio.status.value
    assert "without a version" in studio.status.value


def test_edit_in_jupyterlab_follows_the_file(studio, tmp_path):
    path = studio.edit_in_file(tmp_path / "qa.yaml")
    assert path.read_text() == studio.editor.value
    text = path.read_text().replace("Reply with the question only.", "Ask about the imagery.")
    path.write_text(text)  # as JupyterLab's editor saves it
    studio.follower.check()
    assert "Ask about the imagery." in studio.editor.value and studio.parsed is not None
    path.write_text(text.replace("steps:", "steps: [", 1))  # a broken save...
    studio.follower.check()
    assert studio.parsed is None and studio.problems  # ...is shown with its problems
    studio.follower.stop()
