"""The QualityReview app driven headless: clicks, quick-entry keys, the hidden judge."""

from __future__ import annotations

import pytest

from plotpalette import JobSpec, run_job
from plotpalette.quality import judge, judge_scores, load_labels
from plotpalette.testing import InstantBackend, qa_template, topic_seeds, workspace_with_template
from plotpalette.ui import QualityReview


@pytest.fixture
def judged(tmp_path):
    ws = workspace_with_template(tmp_path / "ws", qa_template("qa"))
    job = run_job(
        ws, JobSpec(template="qa", seeds=topic_seeds(12), records=12), backend=InstantBackend()
    ).job_id
    judge(ws, job, sample=8, backend=InstantBackend())
    return ws, job


def test_judge_is_hidden_until_the_reviewer_answers_then_labels_are_stored(judged):
    ws, job = judged
    app = QualityReview(job, workspace=ws, sample=5, reviewer="ann")
    judged_indices = set(judge_scores(ws, job)["index"])
    assert len(app.indices) == 5 and set(app.indices) <= judged_indices  # judged first
    first = app.current
    assert "hidden" in app.judge_html.value
    assert app.records[first].outputs["answer"][:20] in app.record_html.value
    # clicks: Accept, score 4, Save
    app.decision.value = "Accept"
    app.score.value = 4
    app.save_button.click()
    assert "hidden" not in app.judge_html.value and "Judge:" in app.judge_html.value
    labels = load_labels(ws, job, "ann")
    assert labels[["index", "accepted", "score"]].values.tolist() == [[first, True, 4]]
    # keyboard: the quick entry box, one command per Enter
    app.keys.value = "n"
    assert app.position == 1 and "hidden" in app.judge_html.value
    second = app.current
    app.keys.value = "r2"
    assert app.keys.value == ""  # cleared, ready for the next command
    app.keys.value = "n"
    app.keys.value = "a5"
    labels = load_labels(ws, job, "ann").set_index("index")
    assert bool(labels.loc[second, "accepted"]) is False and labels.loc[second, "score"] == 2
    assert len(labels) == 3
    # agreement is recomputed after every label, over the labelled records
    assert app.agreement is not None and len(app.agreement.pairs) == 3
    assert "kappa" in app.agreement_html.value.lower()
    # going back shows the stored label and the judge again
    app.keys.value = "p"
    app.keys.value = "p"
    assert app.current == first and app.decision.value == "Accept" and app.score.value == 4


def test_relabelling_replaces_and_a_new_app_remembers(judged):
    ws, job = judged
    app = QualityReview(job, workspace=ws, sample=3, reviewer="bob")
    app.label(True, 3)
    app.label(False, 1)
    labels = load_labels(ws, job, "bob")
    assert len(labels) == 1 and not bool(labels["accepted"][0])
    again = QualityReview(job, workspace=ws, sample=3, reviewer="bob")
    assert again.decision.value == "Reject" and again.score.value == 1


def test_bad_input_is_shown_with_its_fix(judged):
    ws, job = judged
    app = QualityReview(job, workspace=ws, sample=3, reviewer="cy")
    app.save_button.click()  # no decision or score yet
    assert "choose Accept or Reject" in app.status.value
    app.keys.value = "x9"
    assert "unknown quick-entry command" in app.status.value
    assert load_labels(ws, job, "cy").empty


def test_without_a_judge_the_app_still_collects_labels(tmp_path):
    ws = workspace_with_template(tmp_path / "ws", qa_template("qa"))
    job = run_job(
        ws, JobSpec(template="qa", seeds=topic_seeds(4), records=4), backend=InstantBackend()
    ).job_id
    app = QualityReview(job, workspace=ws, sample=2, reviewer="dee")
    assert app.agreement is None and "No judge" in app.agreement_html.value
    app.key("a4")
    assert "not scored" in app.judge_html.value
    assert len(load_labels(ws, job)) == 1


def test_cost_dashboard_shows_cost_per_accepted_record(judged):
    from plotpalette.ui import CostDashboard

    ws, _ = judged
    dash = CostDashboard(workspace=ws)
    frame = dash.quality_frame.set_index(["by", "group"])
    assert ("template", "qa@1") in frame.index  # the judge job is not a row of its own
    assert not any(str(g).startswith("judge_overall") for _, g in frame.index)
    assert bytes(dash.quality_plot.value).startswith(b"\x89PNG")
    assert "usd_per_accepted" in dash.quality_html.value
