"""On-demand vs Bedrock batch: the planner, the estimate, job creation and the CLI."""

from __future__ import annotations

import json

import pytest

from plotpalette import JobSpec, Workspace, create_job, estimate_job
from plotpalette.cli import main
from plotpalette.config import Settings
from plotpalette.errors import BatchUnavailableError, ConfigError
from plotpalette.jobs import list_jobs
from plotpalette.jobs.batch_plan import StepInput, plan_inference
from plotpalette.jobs.inference import resolve_inference_mode
from plotpalette.llm import PriceTable

NOVA = "amazon.nova-micro-v1:0"
HAIKU = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"  # not offered in batch
HAIKU_35 = "anthropic.claude-3-5-haiku-20241022-v1:0"  # batch, but no batch price listed
STAGING = {
    "batch_s3_uri": "s3://bucket/workspace/batch/",
    "batch_role_arn": "arn:aws:iam::1:role/r",
}


def settings(**changes) -> Settings:
    return Settings(backend="bedrock", **{**STAGING, **changes})


def plan(*steps: StepInput, records: int = 1000, prices=None, **kw):
    return plan_inference(
        list(steps),
        records=records,
        prices=prices or PriceTable.load(),
        settings=kw.pop("settings", settings()),
        backend=kw.pop("backend", "bedrock"),
        **kw,
    )


def step(model: str = NOVA, name: str = "ask", inp: float = 100, out: float = 50) -> StepInput:
    return StepInput(step=name, model=model, input_tokens=inp, output_tokens=out)


# ---------------------------------------------------------------- the planner


def test_batch_is_priced_at_the_models_batch_rates_with_stragglers_on_demand():
    p = plan(step(), records=1000)
    (s,) = p.steps
    # 1000 x (100 in x 0.035 + 50 out x 0.14) / 1M, the listed Nova Micro rates
    assert s.on_demand_usd == pytest.approx(0.0105)
    # 98 % at the batch rates (0.0175 / 0.07), 2 % re-run on demand, plus S3 requests
    assert s.batch_usd == pytest.approx(0.98 * 0.00525 + 0.02 * 0.0105, abs=2e-5)
    assert 0.5 < p.batch_fraction < 0.55
    assert p.choose("auto") == "batch" and p.choose("on-demand") == "on-demand"


def test_two_models_are_priced_each_at_their_own_rates():
    p = plan(step(NOVA, "ask"), step(HAIKU, "answer", 200, 200), records=500)
    haiku = p.steps[1]
    assert haiku.on_demand_usd == pytest.approx(500 * (200 * 1.0 + 200 * 5.0) / 1e6)
    assert haiku.batch_usd < haiku.on_demand_usd * 0.55
    assert p.batch_hours == 48  # each step waits for its own batch job


def test_a_model_bedrock_does_not_batch_blocks_batch_and_says_why():
    p = plan(step(NOVA, "ask"), step(MISTRAL, "answer"))
    assert not p.can_batch and p.batch_usd is None
    assert any("not offered in Bedrock batch" in r and "'answer'" in r for r in p.reasons)
    assert p.choose("auto") == "on-demand"
    with pytest.raises(BatchUnavailableError) as err:
        p.choose("batch")
    assert "--mode on-demand" in err.value.fix and "--model STEP=MODEL" in err.value.fix


def test_a_model_without_a_batch_price_cannot_batch_rather_than_guessing_one():
    p = plan(step(HAIKU_35))
    assert p.steps[0].batch_usd is None
    assert "no batch price" in p.steps[0].reason


def test_too_few_records_local_backend_and_missing_staging_are_all_named():
    p = plan(step(), records=99, backend="local", settings=Settings(backend="local"))
    text = " ".join(p.reasons)
    assert "below batch_min_records (100" in text
    assert "'local' backend" in text
    assert "batch_role_arn" in text and "batch_s3_uri" in text
    with pytest.raises(BatchUnavailableError) as err:
        p.require_batch()
    assert "plotpalette deploy" in err.value.fix and "--records" in err.value.fix


def test_an_s3_workspace_bucket_stands_in_for_batch_s3_uri():
    p = plan(step(), settings=settings(batch_s3_uri=None), s3_workspace=True)
    assert p.can_batch


def test_the_batch_minimum_comes_from_settings():
    assert plan(step(), records=50, settings=settings(batch_min_records=20)).can_batch
    assert not plan(step(), records=500, settings=settings(batch_min_records=1000)).can_batch


def test_auto_keeps_on_demand_when_the_wait_is_not_accepted():
    p = plan(step(NOVA, "ask"), step(HAIKU, "answer"))
    assert p.choose("auto", max_wait_hours=48) == "batch"
    assert p.choose("auto", max_wait_hours=24) == "on-demand"
    assert "--max-wait" in p.why("auto", max_wait_hours=24)
    assert p.steps[0].choose("auto", max_wait_hours=24) == "batch"  # one step fits


def test_crossover_is_the_minimum_unless_the_fixed_cost_outweighs_the_saving():
    assert plan(step(HAIKU), records=1000).crossover_records() == 100
    thin = PriceTable.load(
        {"acme.tiny-v1": {"input": 0.001, "output": 0.001, "batch_input": 0.0009,
                          "batch_output": 0.0009}}
    )  # fmt: skip
    crossover = plan(step("acme.tiny-v1", inp=10, out=10), prices=thin).crossover_records()
    assert crossover > 1000  # a few S3 requests cost more than 1000 records save
    assert plan(step(MISTRAL)).crossover_records() is None


def test_on_demand_latency_follows_concurrency_and_the_rpm_quota():
    free = plan(step(), records=600, concurrency=8)
    quota = plan(step(), records=600, concurrency=8, rate_limits={NOVA: {"rpm": 60}})
    assert quota.on_demand_hours >= 10 / 60  # 600 calls at 60 a minute
    assert free.on_demand_hours < quota.on_demand_hours
    assert plan(step(), records=600, concurrency=64).on_demand_hours < free.on_demand_hours


def test_an_unknown_mode_is_refused():
    with pytest.raises(ConfigError, match="unknown inference mode"):
        plan(step()).choose("overnight")


# --------------------------------------------------- estimate and job creation


@pytest.fixture
def bedrock_ws(emulated_bedrock_env, isolated_env, monkeypatch):
    monkeypatch.setenv("PLOTPALETTE_BATCH_S3_URI", STAGING["batch_s3_uri"])
    monkeypatch.setenv("PLOTPALETTE_BATCH_ROLE_ARN", STAGING["batch_role_arn"])
    return Workspace.open(isolated_env)


def qa(records: int, mode: str) -> JobSpec:
    return JobSpec(
        template="question_answer", seeds="sample:poetry", records=records, inference_mode=mode
    )


def test_estimate_shows_both_modes_and_what_auto_chooses(bedrock_ws):
    est = estimate_job(bedrock_ws, qa(400, "auto"))
    assert est.chosen_mode == "batch"
    assert est.inference.batch_usd < 0.55 * est.inference.on_demand_usd
    assert est.inference.on_demand_usd == pytest.approx(est.total_typical_usd)
    text = est.summary()
    assert "batch (Bedrock batch inference)" in text and "mode auto: batch" in text
    assert "up to 48 h" in text
    data = json.loads(json.dumps(est.to_dict()))
    assert data["chosen_mode"] == "batch" and data["inference"]["crossover_records"] == 100


def test_auto_is_resolved_at_creation_and_stored(bedrock_ws):
    big = create_job(bedrock_ws, qa(400, "auto"))
    small = create_job(bedrock_ws, qa(20, "auto"))
    stored = {j.job_id: j.spec["inference_mode"] for j in list_jobs(bedrock_ws)}
    assert stored == {big: "batch", small: "on-demand"}


def test_resolve_tells_why(bedrock_ws):
    said = []
    spec = resolve_inference_mode(
        bedrock_ws, qa(400, "auto"), max_wait_hours=1, on_choice=said.append
    )
    assert spec.inference_mode == "on-demand"
    assert "more than the 1 h accepted" in said[0]


def test_batch_on_a_job_that_cannot_batch_is_refused_before_anything_is_stored(bedrock_ws):
    with pytest.raises(BatchUnavailableError, match="below batch_min_records"):
        create_job(bedrock_ws, qa(20, "batch"))
    with pytest.raises(BatchUnavailableError, match="'local' backend"):
        create_job(bedrock_ws, qa(400, "batch").replace(backend="local"))
    assert list_jobs(bedrock_ws) == []


def test_cli_estimate_and_run_take_mode_and_max_wait(bedrock_ws, capsys):
    argv = ["estimate", "-t", "question_answer", "-n", "300", "--mode", "auto", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["chosen_mode"] == "batch"
    assert main([*argv, "--max-wait", "30"]) == 0
    assert json.loads(capsys.readouterr().out)["chosen_mode"] == "on-demand"
    assert main(["run", "-t", "question_answer", "-n", "5", "--mode", "batch"]) != 0
    err = capsys.readouterr().err
    assert "below batch_min_records" in err and "--mode on-demand" in err
    assert list_jobs(bedrock_ws) == []


# ------------------------------------------------------------------ the wizard


def test_wizard_review_shows_both_modes_and_auto_picks_batch_for_a_big_job(bedrock_ws):
    from plotpalette.ui import JobWizard

    wizard = JobWizard(workspace=bedrock_ws, template="question_answer", records=300)
    assert wizard.mode.mode.options == ("on-demand", "batch", "auto")
    wizard.mode.mode.value = "auto"
    estimate = wizard.review()
    assert wizard.spec().inference_mode == "auto"
    assert estimate.chosen_mode == "batch"
    shown = wizard.review_html.value
    assert "<b>Inference</b> (auto): batch:" in shown and "batch ✔" in shown
    assert "up to 48 h" in shown and f"{estimate.inference.batch_fraction:.2f}x" in shown


def test_wizard_auto_beyond_the_accepted_wait_launches_on_demand(bedrock_ws):
    from plotpalette.testing import InstantBackend
    from plotpalette.ui import JobWizard

    wizard = JobWizard(
        workspace=bedrock_ws,
        template="question_answer",
        records=120,
        budget_usd=None,
        model_backend=InstantBackend(),
    )
    wizard.mode.mode.value = "auto"
    wizard.mode.max_wait.value = 1.0
    console = wizard.launch()
    try:
        assert wizard.errors == []
        (job,) = list_jobs(bedrock_ws)
        assert job.spec["inference_mode"] == "on-demand"
        assert "more than the 1 h accepted" in "".join(
            o.get("text", "") for o in wizard.log.outputs
        )
    finally:
        console.wait(timeout=60)
        console.close()


def test_wizard_batch_on_a_small_job_is_warned_and_launch_is_refused(bedrock_ws):
    from plotpalette.ui import JobWizard

    wizard = JobWizard(workspace=bedrock_ws, template="question_answer", records=10)
    wizard.mode.mode.value = "batch"
    wizard.review()
    assert any("below batch_min_records" in w for w in wizard.warnings)
    wizard.launch_button.click()
    assert wizard.errors and "below batch_min_records" in str(wizard.errors[-1])
    assert list_jobs(bedrock_ws) == []


def test_a_local_estimate_mentions_batch_only_when_asked(workspace):
    from plotpalette.testing import InstantBackend

    spec = qa(20, "on-demand").replace(backend="local")
    plain = estimate_job(workspace, spec, backend=InstantBackend())
    assert "batch" not in plain.summary() and plain.chosen_mode == "on-demand"
    asked = estimate_job(workspace, spec.replace(inference_mode="batch"), backend=InstantBackend())
    assert "'local' backend" in asked.summary() and asked.chosen_mode == "unavailable"
