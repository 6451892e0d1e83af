"""Bedrock batch inference through run_job: the emulated control plane, moto's S3 and
the runtime emulator for stragglers; the registry, ledger and shards are real."""

from __future__ import annotations

import threading

import pytest

from plotpalette import JobSpec, Workspace, run_job
from plotpalette.jobs import JobState, cancel_job, create_job, job_status, resume_job
from plotpalette.jobs.batch_state import batch_items
from plotpalette.jobs.events import JobControls
from plotpalette.jobs.shards import iter_records
from plotpalette.testing import topic_seeds, until, workspace_with_template
from tests.bedrock_batch_fixtures import batch_spec, driving


@pytest.fixture
def ws(bedrock_batch_env, isolated_env):
    """The workspace with the QA templates, opened once the batch settings are set."""
    return workspace_with_template(isolated_env)


def _records(ws, job_id):
    return sorted(iter_records(ws.store, job_id), key=lambda r: r.index)


def _waiting_job(ws, controls=None):
    """A 10-record batch job running in a thread, once it waits on Bedrock (nobody
    advances the emulator's clock); returns its id, the thread and its result dict."""
    job_id = create_job(ws, batch_spec(10))
    out = {}
    thread = threading.Thread(target=lambda: out.update(r=run_job(ws, job_id, controls=controls)))
    thread.start()
    assert until(lambda: job_status(ws, job_id).activity == "WAITING_ON_BEDROCK")
    return job_id, thread, out


def test_two_step_batch_job_matches_on_demand(driven, ws):
    spec = dict(template="qa_two_step", seeds=topic_seeds(12), records=12)
    batch = run_job(ws, JobSpec(**spec, inference_mode="batch"))
    assert batch.state is JobState.COMPLETED, batch.error
    assert len(driven.batch.jobs) == 2  # one batch job per step
    on_demand = run_job(ws, JobSpec(**spec))
    got, want = _records(ws, batch.job_id), _records(ws, on_demand.job_id)
    assert [r.index for r in got] == [r.index for r in want] == list(range(12))
    assert [sorted(r.outputs) for r in got] == [sorted(r.outputs) for r in want]
    assert [r.seed_index for r in got] == [r.seed_index for r in want]
    # the emulated model answers the same request the same way in both modes
    assert [r.outputs for r in got] == [r.outputs for r in want]
    assert all(r.status == "ok" for r in got)
    # batch rates: half the on-demand price of the same tokens
    assert sum(r.cost_usd for r in got) == pytest.approx(
        sum(r.cost_usd for r in want) / 2, rel=0.05
    )


def test_errored_records_are_rerun_on_demand_and_billed_once(driven, ws):
    driven.batch.error_rate = 0.3
    result = run_job(ws, batch_spec(20))
    assert result.state is JobState.COMPLETED, result.error
    statuses = sorted(j.status for j in driven.batch.jobs.values())
    assert statuses == ["PartiallyCompleted", "PartiallyCompleted"]
    errors = sum(j.counts["error"] for j in driven.batch.jobs.values())
    assert errors > 0
    # on demand: the preflight's probe of the model (1 output token), then exactly the
    # stragglers, each with its step's max_tokens
    sizes = sorted(r["inferenceConfig"]["maxTokens"] for r in driven.runtime.requests)
    assert sizes[0] == 1 and len(sizes) - 1 == errors
    assert driven.meter.calls == errors + 1
    records = _records(ws, result.job_id)
    assert [r.index for r in records] == list(range(20))
    assert all(r.status == "ok" and r.outputs["answer"] for r in records)
    # the ledger holds what the account was billed (batch + on demand), no more
    spend = ws.registry.get(result.job_id).spend_usd
    assert spend == pytest.approx(driven.billed_usd, rel=1e-6)
    # records carry their batch and straggler costs (the probe belongs to no record)
    assert driven.batch.billed_usd < sum(r.cost_usd for r in records) < driven.billed_usd


JSON_TEMPLATE = """\
name: facts
steps:
  - id: fact
    model: cheap
    prompt: "Give one fact about {{ topic }} as JSON."
    format: json
    json_schema:
      type: object
      properties:
        fact: {type: string}
        year: {type: integer}
      required: [fact, year]
    max_tokens: 120
output:
  fact: "{{ steps.fact.fact }}"
  year: "{{ steps.fact.year }}"
"""


def test_json_step_uses_prompt_and_validate(driven, isolated_env):
    ws = workspace_with_template(isolated_env, JSON_TEMPLATE)
    result = run_job(ws, batch_spec(10, template="facts"))
    assert result.state is JobState.COMPLETED, result.error
    (job,) = driven.batch.jobs.values()
    key = job.input_uri.split("/", 3)[3]
    staged = driven.s3.get_object(Bucket=driven.bucket, Key=key)["Body"].read().decode()
    first = __import__("json").loads(staged.splitlines()[0])["modelInput"]
    assert "toolConfig" not in first and "outputConfig" not in first  # batch has neither
    assert "JSON Schema" in first["system"][0]["text"]
    records = _records(ws, result.job_id)
    assert all(r.outputs["fact"] and str(r.outputs["year"]).lstrip("-").isdigit() for r in records)


def test_budget_is_never_exceeded_and_resume_pays_only_the_rest(driven, ws):
    full = run_job(ws, batch_spec(40))
    cost = ws.registry.get(full.job_id).spend_usd
    billed_full = driven.billed_usd
    budget = cost * 0.6  # worst-case reservations: fewer than 60% of records fit
    part = run_job(ws, batch_spec(40, budget_usd=budget))
    assert part.state is JobState.BUDGET_EXCEEDED
    assert "budget" in part.error["message"]
    billed = driven.billed_usd - billed_full
    info = ws.registry.get(part.job_id)
    assert billed <= budget and info.spend_usd <= budget + 1e-12
    assert info.spend_usd >= billed - 1e-12  # the ledger never under-counts
    done = len(_records(ws, part.job_id))
    assert 0 < done < 40, (part.error, budget, cost)
    before = driven.billed_usd
    again = run_job(ws, part.job_id, budget_usd=cost * 3)
    assert again.state is JobState.COMPLETED, again.error
    assert [r.index for r in _records(ws, part.job_id)] == list(range(40))
    # the resume paid for the records left, not for the whole job again
    assert driven.billed_usd - before < billed_full


def test_expired_batch_fails_the_job_with_a_fix(driven, ws):
    driven.batch.outcome = "Expired"
    result = run_job(ws, batch_spec(10))
    assert result.state is JobState.FAILED
    assert result.error["code"] == "PP411"
    assert "Expired" in result.error["message"]
    assert "resume" in result.error["fix"]
    driven.batch.outcome = "Completed"
    again = run_job(ws, result.job_id)  # a resume submits the records again
    assert again.state is JobState.COMPLETED, again.error
    assert len(driven.batch.jobs) == 3  # the expired one, then one per step


def test_cancel_stops_the_bedrock_job(bedrock_batch_env, ws, capsys):
    env = bedrock_batch_env
    job_id, thread, out = _waiting_job(ws)
    info = job_status(ws, job_id)
    assert info.state is JobState.RUNNING
    assert info.bedrock_batch["step"] == "ask"
    assert info.bedrock_batch["arn"] in env.batch.jobs
    assert info.to_dict()["activity"] == "WAITING_ON_BEDROCK"
    from plotpalette.cli import main

    assert main(["status", job_id]) == 0
    shown = capsys.readouterr().out
    assert "WAITING_ON_BEDROCK" in shown and "step 'ask'" in shown and "Submitted" in shown
    from plotpalette.ui import JobConsole  # another kernel's view of the same job

    console = JobConsole(job_id, workspace=ws, watch=False)
    assert "WAITING_ON_BEDROCK" in console.state_label.value
    assert "Bedrock batch job of step" in console.stats_html.value
    assert console.cancel_button.disabled is False
    cancel_job(ws, job_id)
    thread.join(30)
    assert out["r"].state is JobState.CANCELLED
    assert "StopModelInvocationJob" in env.batch.calls
    assert list(env.batch.statuses().values()) == ["Stopping"]
    assert env.batch.billed_usd == 0
    assert [i.data["state"] for i in batch_items(ws.registry.tables, job_id)] == ["submitted"]


def test_batch_mode_needs_bedrock_and_its_settings(ws, isolated_env, monkeypatch):
    from plotpalette.errors import ConfigError
    from plotpalette.testing import InstantBackend

    with pytest.raises(ConfigError, match="below batch_min_records"):  # refused at creation
        run_job(ws, batch_spec(3))
    spec = batch_spec(12)
    with pytest.raises(ConfigError, match=r"(?i)bedrock"):
        run_job(ws, spec, backend=InstantBackend())
    monkeypatch.delenv("PLOTPALETTE_BATCH_ROLE_ARN")
    with pytest.raises(ConfigError, match="batch_role_arn"):
        run_job(Workspace.open(str(isolated_env)), spec)
    with pytest.raises(ConfigError, match="inference_mode"):
        JobSpec(template="qa_two_step", seeds="x", inference_mode="overnight")


def test_a_step_under_the_threshold_runs_on_demand(driven, isolated_env, monkeypatch):
    # created while the minimum allowed it; run after it was raised (a config change
    # between creation and run): the engine sends such a step on demand, not to batch
    monkeypatch.setenv("PLOTPALETTE_BATCH_MIN_RECORDS", "4")
    ws = workspace_with_template(isolated_env)
    job_id = create_job(ws, batch_spec(4))
    monkeypatch.setenv("PLOTPALETTE_BATCH_MIN_RECORDS", "10")
    result = resume_job(Workspace.open(str(isolated_env)), job_id)
    assert result.state is JobState.COMPLETED, result.error
    assert driven.batch.jobs == {}  # 4 < batch_min_records (10): nothing submitted
    assert driven.meter.calls == 1 + 2 * 4  # the probe, then both steps on demand


def test_a_cancelled_job_resumes_with_a_new_batch_job(bedrock_batch_env, ws):
    env = bedrock_batch_env
    job_id, thread, out = _waiting_job(ws)
    cancel_job(ws, job_id)
    thread.join(30)
    assert out["r"].state is JobState.CANCELLED
    with driving(env):
        again = run_job(ws, job_id)
    assert again.state is JobState.COMPLETED, again.error
    statuses = sorted(env.batch.statuses().values())
    assert statuses == ["Completed", "Completed", "Stopped"]  # ask (stopped, again), answer
    assert len(_records(ws, job_id)) == 10


def test_interrupted_while_waiting_books_the_batch_and_resume_adopts_it(bedrock_batch_env, ws):
    env = bedrock_batch_env
    controls = JobControls()
    job_id, thread, out = _waiting_job(ws, controls)
    controls.interrupt("closing the notebook")
    thread.join(30)
    assert out["r"].state is JobState.INTERRUPTED
    (arn,) = env.batch.jobs
    booked = ws.registry.get(job_id).spend_usd  # the whole batch at its worst case
    assert booked > 0 and env.batch.jobs[arn].status == "Submitted"  # Bedrock goes on
    with driving(env):
        again = run_job(ws, job_id)
    assert again.state is JobState.COMPLETED, again.error
    assert next(iter(env.batch.jobs)) == arn and len(env.batch.jobs) == 2  # adopted
    assert ws.registry.get(job_id).spend_usd >= env.billed_usd
