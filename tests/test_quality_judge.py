"""The LLM judge is a job: through the Bedrock emulator, under a hard budget, resumable
after a kill, and usable with models that have no native structured output."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plotpalette import JobSpec, Workspace, export_job, resume_job, run_job
from plotpalette.cli import main
from plotpalette.errors import QualityError
from plotpalette.jobs import JobState, iter_records, job_status
from plotpalette.llm.base import ModelResponse
from plotpalette.quality import judge, judge_scores, load_rubric
from plotpalette.templates import TemplateLibrary
from plotpalette.testing import (
    InstantBackend,
    qa_template,
    topic_seeds,
    wait_until_running,
    worker_command,
    workspace_with_template,
)


@pytest.fixture
def ws(tmp_path):
    return workspace_with_template(tmp_path / "ws", qa_template("qa"))


def _source(ws: Workspace, records: int = 12) -> str:
    spec = JobSpec(template="qa", seeds=topic_seeds(records), records=records)
    return run_job(ws, spec, backend=InstantBackend()).job_id


@pytest.fixture
def emulated(tmp_path, emulated_bedrock_env):
    """A workspace on the bedrock backend, pointed at a running emulator (conftest)."""
    return workspace_with_template(tmp_path / "ws", qa_template("qa")), emulated_bedrock_env


def test_judge_through_the_bedrock_emulator_joins_scores_by_index(emulated):
    ws, emu = emulated
    source = run_job(ws, JobSpec(template="qa", seeds=topic_seeds(10), records=10))
    assert source.state is JobState.COMPLETED, source.error
    run = judge(ws, source.job_id, sample=6, seed=3, budget_usd=0.01)
    # the default tier has no native structured output: the schema goes as a forced tool
    judge_requests = [r for r in emu.requests if "toolConfig" in r]
    assert run.result.state is JobState.COMPLETED, run.result.error
    assert run.rubric == "judge_overall@1"
    # the structured-output request carried the rubric's schema
    assert len(judge_requests) == 6
    schema = judge_requests[0]["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert set(schema["properties"]) == {"score", "rationale"}
    scores = judge_scores(ws, source.job_id)
    ok = {r.index: r for r in iter_records(ws, source.job_id, status="ok")}
    assert len(scores) == 6 and scores["valid"].all()
    assert set(scores["index"]) <= set(ok)
    assert scores["score"].between(1, 5).all()
    # each judge prompt showed the outputs of the record it is joined to
    for judge_record in iter_records(ws, run.job_id):
        prompt = judge_record.prompts["judge"]["prompt"]
        index = int(scores["index"][judge_record.seed_index])
        assert ok[index].outputs["answer"] in prompt
    assert job_status(ws, run.job_id).spend_usd <= 0.01


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(budget=st.floats(min_value=0.0, max_value=0.0004))
def test_the_judge_never_exceeds_its_budget(ws, budget):
    source = _source(ws, 8)
    run = judge(ws, source, budget_usd=budget, backend=InstantBackend())
    info = job_status(ws, run.job_id)
    assert info.spend_usd <= budget + 1e-12
    assert run.result.state in (JobState.COMPLETED, JobState.BUDGET_EXCEEDED)
    if run.result.state is JobState.BUDGET_EXCEEDED:
        assert len(judge_scores(ws, source, run.job_id)) < 8  # partial, resumable


def test_a_killed_judge_resumes_and_judges_every_sampled_record_once(ws):
    source = _source(ws, 30)
    run = judge(ws, source, sample=25, run=False)
    assert job_status(ws, run.job_id).state is JobState.QUEUED
    cmd = worker_command(ws, run.job_id, latency=0.05, concurrency=2, flush_seconds=0.05)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_until_running(ws, run.job_id, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert len(judge_scores(ws, source)) < 25
    result = resume_job(ws, run.job_id, backend=InstantBackend())
    assert result.state is JobState.COMPLETED, result.error
    scores = judge_scores(ws, source)
    assert len(scores) == 25 and scores["index"].is_unique and scores["valid"].all()
    # a judge job exports like any job
    exported = export_job(ws, run.job_id, format="jsonl")
    assert exported.rows == 25


class PromptOnlyBackend(InstantBackend):
    """A model without native structured output: the schema is not sent; it answers in
    prose, sometimes with the JSON in a code fence, sometimes with nothing usable."""

    async def generate(self, request):
        plain = request.__class__(**{**request.__dict__, "json_schema": None})
        resp = await super().generate(plain)
        n = len(self.requests)
        replies = [
            'Here you go:\n```json\n{"score": 4, "rationale": "clear and specific"}\n```',
            'Verdict: {"score": 2, "rationale": "vague"} -- hope that helps.',
            "This record looks fine to me, I would give it a four.",
            '{"score": 9, "rationale": "off the scale"}',
        ]
        return ModelResponse(
            text=replies[(n - 1) % 4],
            stop_reason=resp.stop_reason,
            usage=resp.usage,
            latency_ms=resp.latency_ms,
            model=resp.model,
        )


def test_a_judge_without_structured_output_parses_prose_and_counts_invalid(ws):
    source = _source(ws, 8)
    backend = PromptOnlyBackend()
    run = judge(ws, source, backend=backend)
    assert all(r.json_schema is None for r in backend.requests)
    assert run.result.state is JobState.COMPLETED
    scores = judge_scores(ws, source)
    assert len(scores) == 8
    assert sorted(scores.loc[scores["valid"], "score"].tolist()) == [2, 2, 4, 4]
    invalid = scores[~scores["valid"]]
    assert len(invalid) == 4 and invalid["score"].isna().all()
    assert any("no JSON object" in p for p in invalid["problem"])
    assert any("score" in p for p in invalid["problem"])  # 9 is above the maximum


def test_rubrics_are_versioned_templates_and_checked(ws):
    library = TemplateLibrary(ws)
    first = load_rubric(ws, "judge_qa")
    assert first.ref == "judge_qa@1" and library.versions("judge_qa") == [1]
    edited = first.to_yaml().replace("Score the answer 1-5", "Grade the answer 1-5")
    library.save(edited, message="stricter wording")
    assert load_rubric(ws, "judge_qa").ref == "judge_qa@2"
    library.save(qa_template("not_a_rubric"))
    with pytest.raises(QualityError, match="not a rubric"):
        load_rubric(ws, "not_a_rubric")
    with pytest.raises(QualityError, match="no rubric"):
        load_rubric(ws, "no_such_rubric")


def test_judging_needs_ok_records_and_a_sensible_sample(ws):
    source = _source(ws, 4)
    with pytest.raises(QualityError, match="sample"):
        judge(ws, source, sample=0, backend=InstantBackend())
    with pytest.raises(QualityError, match="fraction"):
        judge(ws, source, sample=1.5, backend=InstantBackend())
    with pytest.raises(QualityError, match="not been judged"):
        judge_scores(ws, source)
    run = judge(ws, source, sample=0.5, backend=InstantBackend())
    assert run.records == 2 and len(judge_scores(ws, source)) == 2


def test_cli_judge_then_quality_shows_the_scores(emulated, capsys):
    ws, _ = emulated
    source = run_job(ws, JobSpec(template="qa", seeds=topic_seeds(6), records=6)).job_id
    base = ["--workspace", ws.location, "--json"]
    code = main([*base, "judge", source, "--sample", "4", "--budget", "0.01", "--tier", "cheap"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["judged"] == 4 and out["valid"] == 4
    assert main([*base, "quality", source]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["judged"] == 4
    # a budget too small for one call: exit 3, resumable like any job
    code = main([*base, "judge", source, "--budget", "0"])
    out = json.loads(capsys.readouterr().out)
    assert code == 3 and out["result"]["state"] == "BUDGET_EXCEEDED"
    assert "resume" in out["result"]["resume_command"]
