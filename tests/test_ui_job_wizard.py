"""JobWizard driven headless: set widget values, click, check the app and the registry."""

from __future__ import annotations

import pytest

from plotpalette.errors import PlotPaletteError
from plotpalette.jobs import JobState, iter_records, job_status
from plotpalette.testing import InstantBackend, qa_template
from plotpalette.ui import JobConsole, JobWizard

TEMPLATE = qa_template("ui_wizard_qa", output=False)


@pytest.fixture
def template(workspace):
    from plotpalette.templates.library import TemplateLibrary

    return TemplateLibrary(workspace).save(TEMPLATE).name


def _log_text(app) -> str:
    return "".join(o.get("text", "") for o in app.log.outputs)


def test_form_offers_library_templates_and_one_model_box_per_step(workspace, template):
    wizard = JobWizard(workspace=workspace, model_backend=InstantBackend())
    assert template in wizard.template.options
    wizard.template.value = template
    assert [b.step_id for b in wizard.step_models.children] == ["ask", "answer"]
    wizard.step_models.children[1].value = "premium"
    assert wizard.models == {"answer": "premium"}
    estimate = wizard.review()
    models = {s["step"]: s["model"] for s in estimate.steps}
    assert models["ask"] != models["answer"]  # the override reached the estimate


def test_review_then_launch_by_click_runs_the_job_to_completion(workspace, template):
    wizard = JobWizard(
        workspace=workspace,
        template=template,
        seeds="sample:poetry",
        records=5,
        budget_usd=1.0,
        model_backend=InstantBackend(),
    )
    wizard.review_button.click()
    assert wizard.errors == []
    assert wizard.estimate is not None and wizard.estimate.total_worst_usd > 0
    assert "worst case" in wizard.review_html.value
    assert wizard.warnings == []
    wizard.launch_button.click()
    assert wizard.errors == []
    console = wizard.console
    assert isinstance(console, JobConsole)
    assert console.widget in wizard.console_box.children
    info = console.wait(timeout=30)
    assert info.state is JobState.COMPLETED
    assert job_status(workspace, console.job_id).state is JobState.COMPLETED
    assert console.progress_bar.value == console.progress_bar.max == 5
    assert "COMPLETED" in console.state_label.value
    assert console.spend_bar.value > 0
    first = next(iter_records(workspace, console.job_id))
    assert first.outputs  # the latest-records table shows what the job wrote
    shown = [
        str(v)[:20] for r in iter_records(workspace, console.job_id) for v in r.outputs.values()
    ]
    grid = console.records_grid.data.to_string()
    assert any(text.split()[0] in grid for text in shown if text)


def test_budget_too_small_is_warned_and_the_job_stops_budget_exceeded(workspace, template):
    wizard = JobWizard(
        workspace=workspace,
        template=template,
        records=5,
        budget_usd=1e-7,
        model_backend=InstantBackend(),
    )
    estimate = wizard.review()
    assert estimate.records_within_budget == 0
    assert any("too small" in w for w in wizard.warnings)
    assert "too small" in wizard.review_html.value
    console = wizard.launch()
    info = console.wait(timeout=30)
    assert info.state is JobState.BUDGET_EXCEEDED
    assert "BUDGET_EXCEEDED" in console.state_label.value
    assert "bigger budget" in console.failures_html.value  # the fix is shown
    assert not console.resume_button.disabled


def test_unknown_template_error_goes_to_the_log_with_its_fix(workspace, template):
    wizard = JobWizard(workspace=workspace, model_backend=InstantBackend())
    wizard.template.value = "no_such_template"
    wizard.review_button.click()  # must not raise out of the callback
    assert wizard.errors and isinstance(wizard.errors[-1], PlotPaletteError)
    text = _log_text(wizard)
    assert "no_such_template" in text and "fix:" in text
    assert "⚠" in wizard.status.value
    with pytest.raises(PlotPaletteError):  # called directly (headless) it raises
        wizard.launch()


def test_invalid_template_version_is_named(workspace, template):
    wizard = JobWizard(workspace=workspace, template=template, model_backend=InstantBackend())
    wizard.template.value = "bad@zero"
    wizard.launch_button.click()
    assert "version" in _log_text(wizard)


def two_record_wizard(workspace, template):
    """A wizard for a 2-record job on the instant test backend."""
    return JobWizard(
        workspace=workspace,
        template=template,
        records=2,
        budget_usd=1.0,
        model_backend=InstantBackend(),
    )


def test_seeds_passed_in_as_rows_are_used(workspace, template):
    from plotpalette.seeds import load_seeds

    rows = [{"topic": "salt"}, {"topic": "lanterns"}]
    wizard = two_record_wizard(workspace, template)
    wizard.set_seeds(rows)
    assert wizard.seeds.disabled and "2 rows" in wizard.seeds_note.value
    console = wizard.launch()
    console.wait(timeout=30)
    spec = job_status(workspace, console.job_id).spec
    assert spec["seeds"] == load_seeds(rows).sha256
    backend_prompts = " ".join(req.prompt_text for req in wizard.model_backend.requests)
    assert "salt" in backend_prompts and "lanterns" in backend_prompts


def test_max_tokens_per_step_caps_the_estimate_and_the_job(workspace, template):
    backend = InstantBackend()
    wizard = JobWizard(
        workspace=workspace, template=template, records=3, budget_usd=1.0, model_backend=backend
    )
    full = wizard.review().total_worst_usd
    wizard.max_tokens.value = 8
    capped = wizard.review()
    assert [s["max_tokens"] for s in capped.steps] == [8, 8]
    assert capped.total_worst_usd < full
    assert "max tokens per step 8" in wizard.review_html.value
    console = wizard.launch()
    info = console.wait(timeout=30)
    assert info.state is JobState.COMPLETED and info.spec["max_tokens"] == 8
    assert {r.max_tokens for r in backend.requests} == {8}


def test_the_console_slot_of_a_later_cell_fills_in_on_launch(workspace, template):
    wizard = two_record_wizard(workspace, template)
    assert "Press <b>Launch</b>" in wizard.console_slot.children[0].value
    console = wizard.launch()
    assert wizard.console_slot.children == (console.widget,)
    console.wait(timeout=30)
