"""Jobs on Bedrock, through a REAL boto3 client against the emulator: JSON steps on the
default tiers, the pre-flight check, faults that must not fail a healthy job, and the
stops that must come (daily quota, a silent service)."""

# ruff: noqa: F811 - the bedrock_emulator fixture is imported, then used as an argument

from __future__ import annotations

import jsonschema
import pytest

from plotpalette import JobSpec, JobState, Workspace, estimate_job, iter_records, run_job
from plotpalette.config import Settings, parse_rate_limits
from plotpalette.errors import ConfigError
from plotpalette.jobs.runner import RunOptions
from plotpalette.llm import BedrockBackend, make_backend
from plotpalette.llm.retry import RetryPolicy
from plotpalette.templates.library import TemplateLibrary
from plotpalette.testing import qa_template, topic_seeds
from plotpalette.testing.pytest_plugin import bedrock_emulator  # noqa: F401 - fixture

FAST = RunOptions(flush_seconds=0.05, progress_seconds=0.05, grace_s=5)
GPT_OSS = "openai.gpt-oss-20b-1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
IDEAS = {
    "type": "object",
    "properties": {"ideas": {"type": "array", "items": {"type": "string"}}},
    "required": ["ideas"],
}


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    TemplateLibrary(ws).save(qa_template("qa_test"))
    return ws


def bedrock(emulator, **settings) -> BedrockBackend:
    backend = make_backend(
        Settings(backend="bedrock", bedrock_endpoint_url=emulator.endpoint_url, **settings)
    )
    backend.retry = RetryPolicy(base_s=0.005, cap_s=0.05, not_ready_base_s=0.005)
    return backend


def billed_calls(emulator) -> list[dict]:
    """Record calls (the pre-flight probes ask for 1 token)."""
    return [r for r in emulator.requests if r["inferenceConfig"]["maxTokens"] > 1]


def test_json_steps_work_on_the_default_tier_out_of_the_box(ws, bedrock_emulator):
    spec = JobSpec(template="brainstorm", seeds="sample:poetry", records=4, backend="bedrock")
    backend = bedrock(bedrock_emulator)
    result = run_job(ws, spec, backend=backend, options=FAST)
    assert result.state is JobState.COMPLETED, result.error
    for record in iter_records(ws, result.job_id):
        assert record.status == "ok"
        jsonschema.validate({"ideas": record.outputs["ideas"]}, IDEAS)
    sent = billed_calls(bedrock_emulator)
    assert sent and all("toolConfig" in r and "outputConfig" not in r for r in sent)
    steps = estimate_job(ws, spec, backend=backend).steps
    assert steps[0]["structured_output"] == "tool"


def test_a_reply_that_fails_its_schema_is_asked_again(ws, bedrock_emulator):
    spec = JobSpec(
        template="brainstorm",
        seeds="sample:poetry",
        records=1,
        backend="bedrock",
        models={"ideas": MISTRAL},
    )
    bedrock_emulator.script_failures([None, "bad_json"])  # the probe, then the record
    result = run_job(ws, spec, backend=bedrock(bedrock_emulator), options=FAST)
    assert result.state is JobState.COMPLETED
    (record,) = iter_records(ws, result.job_id)
    assert record.status == "ok" and record.outputs["ideas"]
    assert len(billed_calls(bedrock_emulator)) == 2  # asked again, and both were paid for
    assert record.cost_usd > record.steps["ideas"].input_tokens * 0.15 / 1e6  # both tries


def test_preflight_finds_an_unpriced_step_2_model_before_any_call(ws, bedrock_emulator):
    spec = JobSpec(
        template="qa_test", seeds=topic_seeds(5), records=5, models={"answer": "acme.typo-v1"}
    )
    result = run_job(ws, spec, backend=bedrock(bedrock_emulator), options=FAST)
    assert result.state is JobState.FAILED
    assert "step 'answer'" in result.error["message"] and result.error["error"] == "PricingError"
    assert bedrock_emulator.counts["requests"] == 0 and result.run_spend_usd == 0


def test_preflight_probes_each_model_before_the_first_billed_call(ws, bedrock_emulator):
    bedrock_emulator.configure(marketplace={GPT_OSS})
    spec = JobSpec(template="qa_test", seeds=topic_seeds(5), records=5, models={"answer": GPT_OSS})
    result = run_job(ws, spec, backend=bedrock(bedrock_emulator), options=FAST)
    assert result.state is JobState.FAILED
    assert result.error["error"] == "ModelAccessError"
    assert "aws-marketplace:Subscribe" in result.error["fix"]
    assert billed_calls(bedrock_emulator) == []  # step 1 was never paid for
    assert bedrock_emulator.counts["requests"] == 2  # one probe per model
    assert result.run_spend_usd > 0  # the probe that was answered is booked


def test_model_not_ready_on_a_fifth_of_calls_does_not_fail_the_job(ws, bedrock_emulator):
    bedrock_emulator.configure(failure_rate=0.2, failure_kinds=("not_ready",), seed=3)
    spec = JobSpec(template="qa_test", seeds=topic_seeds(30), records=30)
    result = run_job(ws, spec, backend=bedrock(bedrock_emulator), options=FAST)
    assert result.state is JobState.COMPLETED, result.error
    assert result.records_ok == 30 and bedrock_emulator.counts["failures"] > 0


@pytest.mark.slow
def test_a_quota_below_the_one_told_costs_time_not_records(ws, bedrock_emulator):
    bedrock_emulator.configure(rpm=600, burst_s=0.3)  # the real quota
    spec = JobSpec(
        template="qa_test",
        seeds=topic_seeds(40),
        records=40,
        concurrency=16,
        rate_limits={"amazon.nova-micro-v1:0": {"rpm": 6000}},  # what the client is told
    )
    result = run_job(ws, spec, backend=bedrock(bedrock_emulator), options=FAST)
    assert result.state is JobState.COMPLETED, result.error
    assert result.records_failed == 0 and bedrock_emulator.counts["throttled"] > 0


def test_a_used_up_daily_quota_interrupts_with_the_resume_command(ws, bedrock_emulator):
    bedrock_emulator.configure(tpd=1500)
    spec = JobSpec(template="qa_test", seeds=topic_seeds(50), records=50)
    result = run_job(ws, spec, backend=bedrock(bedrock_emulator), options=FAST)
    assert result.state is JobState.INTERRUPTED
    assert result.error["reason"] == "quota_day" and result.error["error"] == "DailyQuotaError"
    assert "resume" in result.resume_command and result.records_ok < 50
    assert bedrock_emulator.counts["throttled_tpd"] >= 1


@pytest.mark.slow
def test_a_silent_service_interrupts_the_job_with_a_message(ws, bedrock_emulator):
    backend = bedrock(bedrock_emulator)
    backend.deadline_s = 2.0  # each call gives up after 2 s, each record after 2 tries
    bedrock_emulator.configure(failure_rate=1.0, failure_kinds=("hang",))
    bedrock_emulator.script_failures([None])  # the probe answers
    spec = JobSpec(template="qa_test", seeds=topic_seeds(20), records=20)
    result = run_job(ws, spec, backend=backend, options=FAST)
    assert result.state is JobState.INTERRUPTED
    assert result.error["reason"] == "stalled" and "no progress" in result.error["message"]
    assert result.records_ok == 0 and result.resume_command
    # the calls cut off at their deadline were sent: each is booked at its worst case
    assert result.waste_usd > 0 and result.run_spend_usd >= result.waste_usd


def test_workers_of_a_job_share_one_preflight(ws, tmp_path, bedrock_emulator):
    def probes() -> int:
        return sum(r["inferenceConfig"]["maxTokens"] == 1 for r in bedrock_emulator.requests)

    spec = JobSpec(template="qa_test", seeds=topic_seeds(12), records=12)
    alone = run_job(ws, spec, backend=bedrock(bedrock_emulator), options=FAST)
    assert alone.state is JobState.COMPLETED and probes() >= 1
    one_worker = probes()
    other = Workspace.open(tmp_path / "other")
    TemplateLibrary(other).save(qa_template("qa_test"))
    team = run_job(other, spec, backend=bedrock(bedrock_emulator), options=FAST, workers=3)
    assert team.state is JobState.COMPLETED and team.records_ok == 12
    assert probes() == 2 * one_worker  # three workers, one set of probes


def test_unusable_stop_reasons_are_checks_of_their_own(ws, bedrock_emulator):
    bedrock_emulator.script_failures([None, "content_filtered"])  # the probe, then "ask"
    spec = JobSpec(template="qa_test", seeds=topic_seeds(1), records=1)
    result = run_job(ws, spec, backend=bedrock(bedrock_emulator), options=FAST)
    (record,) = iter_records(ws, result.job_id)
    assert record.status == "filtered" and "ask:content_filtered" in record.flags
    assert record.steps["ask"].stop_reason == "content_filtered"


def test_job_rate_limits_and_concurrency_reach_the_backend(ws, bedrock_emulator):
    backend = bedrock(bedrock_emulator, concurrency=4)
    spec = JobSpec(
        template="qa_test",
        seeds=topic_seeds(3),
        records=3,
        concurrency=24,
        rate_limits={"amazon.nova-micro-v1:0": {"rpm": 1234}},
    )
    result = run_job(ws, spec, backend=backend)
    assert result.state is JobState.COMPLETED
    (stats,) = backend.stats()
    assert stats.rpm_limit == 1234
    assert backend.concurrency == 24  # above the settings' 4


def test_rate_limits_read_the_same_from_env_cli_config_and_python(monkeypatch):
    one_line = "amazon.nova-micro-v1:0=rpm:600,tpm:400000; *=rpm:50"
    expected = {"amazon.nova-micro-v1:0": {"rpm": 600, "tpm": 400000}, "*": {"rpm": 50}}
    assert parse_rate_limits(one_line) == expected
    assert parse_rate_limits('{"*": {"rpm": 50}}') == {"*": {"rpm": 50}}
    monkeypatch.setenv("PLOTPALETTE_RATE_LIMITS", one_line)
    assert Settings.load().rate_limits == expected
    for bad in ("nova=rpm", "nova=rph:5", '{"nova": {"rpm": 0}}'):
        with pytest.raises(ConfigError):
            parse_rate_limits(bad)
    with pytest.raises(ConfigError):
        JobSpec(template="qa_test", seeds="sample:poetry", rate_limits={"nova": {"rpd": 1}})


def test_preview_names_the_json_mode_of_each_step():
    from plotpalette import preview, sample_seeds

    rows = sample_seeds("poetry").rows[:1]
    on_bedrock = preview("brainstorm", rows, backend_name="bedrock")
    on_local = preview("brainstorm", rows, backend_name="local")
    assert on_bedrock.rows[0].steps[0].structured_output == "tool"  # Nova Micro, cheap tier
    assert on_local.rows[0].steps[0].structured_output == "native"
    assert "JSON: tool" in str(on_bedrock)
