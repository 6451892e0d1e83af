"""The job engine end to end through the public verbs, on the in-process InstantBackend."""

from __future__ import annotations

import time

import pytest

from plotpalette import layout
from plotpalette.errors import ThrottledError
from plotpalette.jobs import (
    JobHandle,
    JobSpec,
    JobState,
    RunOptions,
    cancel_job,
    create_job,
    iter_records,
    job_status,
    open_registry,
    resume_job,
    run_job,
    scan_shards,
)
from plotpalette.testing import InstantBackend, qa_template, topic_seeds
from plotpalette.workspace import Workspace

QA = qa_template("qa_test", fallback=["balanced"])
SEEDS = topic_seeds(7, "topic number ")
FAST = RunOptions(
    concurrency=4, flush_records=5, flush_seconds=0.05, progress_seconds=0.02, grace_s=5
)


def save_template(ws: Workspace, text: str = QA):
    from plotpalette.templates.library import TemplateLibrary

    return TemplateLibrary(ws).save(text)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    save_template(ws)
    return ws


def spec(**kw) -> JobSpec:
    return JobSpec(**{"template": "qa_test", "seeds": SEEDS, "records": 12, **kw})


def outputs(ws, job_id):
    return {r.index: (r.seed_index, r.outputs) for r in iter_records(ws, job_id)}


def test_run_completes_pins_the_template_and_bills_real_usage(ws):
    events = []
    result = run_job(
        ws, spec(budget_usd=1.0), backend=InstantBackend(), options=FAST, on_event=events.append
    )
    assert result.state is JobState.COMPLETED, result.error
    recs = list(iter_records(ws, result.job_id, ordered=True))
    assert [r.index for r in recs] == list(range(12))
    assert all(r.status == "ok" and r.outputs["answer"] for r in recs)
    # the spec has one home, the registry item; the folder holds the pinned snapshot
    assert ws.registry.get(result.job_id).spec["template"] == "qa_test@1"
    assert not ws.store.exists(layout.spec_key(result.job_id))
    assert ws.store.exists(layout.template_snapshot_key(result.job_id))
    info = job_status(ws, result.job_id)
    assert info.reserved_usd == pytest.approx(0.0, abs=1e-12)  # everything settled
    assert info.settled_usd == pytest.approx(sum(r.cost_usd for r in recs))
    assert info.settled_tokens == sum(
        s.input_tokens + s.output_tokens for r in recs for s in r.steps.values()
    )
    assert {e.kind for e in events} >= {"state", "progress", "records"}
    assert events[-1].data["state"] == "COMPLETED"


def test_bare_name_pins_the_latest_version_not_version_1(ws):
    save_template(ws, QA + "description: second version\n")
    job_id = create_job(ws, spec())
    assert job_status(ws, job_id).template == "qa_test@2"
    assert "second version" in ws.store.read_bytes(layout.template_snapshot_key(job_id)).decode()


def test_budget_stop_then_resume_equals_an_uninterrupted_run(ws):
    backend = InstantBackend()
    full = run_job(ws, spec(records=30), backend=backend, options=FAST)
    assert full.state is JobState.COMPLETED
    per_record = full.spend_usd / 30
    small = per_record * 8
    part = run_job(ws, spec(records=30, budget_usd=small), backend=backend, options=FAST)
    assert part.state is JobState.BUDGET_EXCEEDED
    assert 0 < part.records_ok < 30
    assert job_status(ws, part.job_id).spend_usd <= small + 1e-12
    # nothing paid for is lost: every settled call belongs to a stored record or is waste
    stored = sum(r.cost_usd for r in iter_records(ws, part.job_id))
    assert stored + part.waste_usd == pytest.approx(part.spend_usd)
    done = resume_job(ws, part.job_id, backend=backend, options=FAST, budget_usd=1.0)
    assert done.state is JobState.COMPLETED
    assert scan_shards(ws, part.job_id).duplicates == 0
    assert outputs(ws, part.job_id) == outputs(ws, full.job_id)


def test_no_model_access_fails_fast_with_the_fix(ws):
    backend = InstantBackend(no_access={"amazon.nova-micro-v1:0"})
    result = run_job(ws, spec(records=500), backend=backend, options=FAST)
    assert result.state is JobState.FAILED
    assert result.error["error"] == "ModelAccessError"
    assert "bedrock:InvokeModel" in result.error["fix"]
    assert backend.call_count <= FAST.concurrency  # fails fast: no call after the refusal
    assert not list(iter_records(ws, result.job_id))


def test_an_outage_never_ends_completed_and_resume_finishes(ws):
    def outage(request, index):  # every call fails for a while
        return ThrottledError("throttled (test outage)") if index < 400 else None

    backend = InstantBackend(failures=outage)
    result = run_job(ws, spec(records=40), backend=backend, options=FAST)
    assert result.state is JobState.FAILED
    # transient errors do not trip the error-rate stop; the records are left for a resume
    assert result.error["reason"] == "unsettled"
    assert "Resume" in result.error["fix"]
    assert result.records_ok < 40
    assert all(r.status == "ok" for r in iter_records(ws, result.job_id))
    healed = resume_job(ws, result.job_id, backend=InstantBackend(), options=FAST)
    assert healed.state is JobState.COMPLETED
    assert scan_shards(ws, result.job_id).indices == set(range(40))


def test_fallback_model_answers_when_the_primary_is_not_available(ws):
    backend = InstantBackend(
        failures=lambda req, i: (
            ThrottledError("busy")
            if req.model == "amazon.nova-micro-v1:0" and "Answer" in req.messages[0].text
            else None
        )
    )
    result = run_job(ws, spec(records=5), backend=backend, options=FAST)
    assert result.state is JobState.COMPLETED
    models = {r.steps["answer"].model for r in iter_records(ws, result.job_id)}
    assert models == {"amazon.nova-lite-v1:0"}


def test_handle_pause_resume_cancel_and_cancel_from_the_registry(ws):
    handle = JobHandle(
        ws, spec(records=400), backend=InstantBackend(latency_s=0.01), options=FAST
    ).start()
    time.sleep(0.3)
    handle.pause()
    time.sleep(0.2)
    frozen = scan_shards(ws, handle.job_id).indices
    time.sleep(0.3)
    assert len(scan_shards(ws, handle.job_id).indices) <= len(frozen) + FAST.concurrency
    handle.unpause()
    time.sleep(0.1)
    cancel_job(ws, handle.job_id)  # as another process would: through the registry
    result = handle.wait(10)
    assert result.state is JobState.CANCELLED
    assert 0 < result.records_ok < 400
    assert any(e.kind == "progress" for e in handle.drain_events())
    again = resume_job(ws, handle.job_id, backend=InstantBackend(), options=FAST)
    assert again.state is JobState.COMPLETED
    assert scan_shards(ws, handle.job_id).duplicates == 0


def test_quality_checks_filter_and_the_job_still_completes(ws):
    backend = InstantBackend(output_tokens=0)  # empty answers
    result = run_job(ws, spec(records=4), backend=backend, options=FAST)
    recs = list(iter_records(ws, result.job_id))
    assert result.state is JobState.COMPLETED
    assert {r.status for r in recs} == {"filtered"}
    assert all("ask:empty" in r.flags for r in recs)
    assert all("answer" not in r.steps for r in recs)  # later steps were not paid for


def test_registry_records_states_and_ledger(ws):
    t0 = time.monotonic()
    result = run_job(ws, spec(records=3), backend=InstantBackend(), options=FAST)
    wall = time.monotonic() - t0
    # the run's own duration, so never more than the call took (not a speed check: it
    # once reported the monotonic clock's reading, hours since boot)
    assert 0 < result.elapsed_s <= wall
    reg = open_registry(ws)
    rows = reg.ledger(result.job_id)
    reg.close()
    assert sum(r.reserve_usd for r in rows) == pytest.approx(0.0, abs=1e-12)
    assert sum(r.settle_usd for r in rows) == pytest.approx(result.spend_usd)


def test_model_columns_name_the_model_that_answered_not_the_tier(tmp_path):
    # the built-in question_answer maps question_model/answer_model from steps.<id>.model
    ws = Workspace.open(tmp_path / "qa")
    job = JobSpec(template="question_answer", seeds="sample:poetry", records=3, budget_usd=1.0)
    result = run_job(ws, job, backend=InstantBackend(), options=FAST)
    assert result.state is JobState.COMPLETED
    tiers = {"cheap", "balanced", "premium"}
    for record in iter_records(ws, result.job_id):
        for column, step in (("question_model", "ask"), ("answer_model", "answer")):
            assert record.outputs[column] == record.steps[step].model
            assert record.outputs[column] not in tiers


def test_model_column_names_the_fallback_when_it_answered(ws):
    save_template(
        ws,
        QA.replace("name: qa_test", "name: qa_models")
        + '  answer_model: "{{ steps.answer.model }}"\n',
    )
    backend = InstantBackend(
        failures=lambda req, i: (
            ThrottledError("busy")
            if req.model == "amazon.nova-micro-v1:0" and "Answer" in req.messages[0].text
            else None
        )
    )
    result = run_job(ws, spec(template="qa_models", records=3), backend=backend, options=FAST)
    assert result.state is JobState.COMPLETED
    columns = {r.outputs["answer_model"] for r in iter_records(ws, result.job_id)}
    assert columns == {"amazon.nova-lite-v1:0"}  # the fallback, as its StepResult says


def test_a_short_job_whose_every_record_failed_is_not_completed(ws):
    from plotpalette.errors import ModelRequestError

    def refused(request, index):
        return ModelRequestError("ValidationException: bad request (test)")

    result = run_job(ws, spec(records=5), backend=InstantBackend(failures=refused), options=FAST)
    assert result.records_failed == 5 and result.records_missing == 0
    assert result.state is JobState.FAILED
    assert result.error["reason"] == "error_rate"
    assert "ValidationException" in result.error["message"]
    assert job_status(ws, result.job_id).state is JobState.FAILED
    # below the threshold a short job still completes with its failed records settled
    some = InstantBackend(failures=lambda request, i: refused(request, i) if i == 0 else None)
    mixed = run_job(ws, spec(records=5), backend=some, options=FAST)
    assert mixed.state is JobState.COMPLETED and mixed.records_failed == 1


def test_resume_runs_failed_records_again_and_a_success_replaces_them(ws):
    """A job that FAILED (say, a wrong model id) resumed once the cause is fixed ends
    with every record ok, each index once — not COMPLETED with the old failures."""
    from plotpalette.errors import ModelRequestError

    def refused(request, index):
        return ModelRequestError("ValidationException: bad request (test)")

    failed = run_job(ws, spec(records=6), backend=InstantBackend(failures=refused), options=FAST)
    assert failed.state is JobState.FAILED and failed.records_failed == 6
    resumed = resume_job(ws, failed.job_id, backend=InstantBackend(), options=FAST)
    assert resumed.state is JobState.COMPLETED
    assert (resumed.records_ok, resumed.records_failed) == (6, 0)
    records = list(iter_records(ws, failed.job_id))
    assert sorted(r.index for r in records) == list(range(6))
    assert {r.status for r in records} == {"ok"}
    uninterrupted = run_job(ws, spec(records=6), backend=InstantBackend(), options=FAST)
    assert [r.outputs for r in iter_records(ws, failed.job_id, ordered=True)] == [
        r.outputs for r in iter_records(ws, uninterrupted.job_id, ordered=True)
    ]


def test_shard_seconds_spaces_the_shards_out_and_a_units_end_still_writes_one(ws):
    import dataclasses

    from plotpalette.jobs.shards import shard_keys

    base = dataclasses.replace(FAST, flush_records=10_000, unit_size=20)
    every = run_job(ws, spec(records=40), backend=InstantBackend(latency_s=0.02), options=base)
    spaced = run_job(
        ws,
        spec(records=40, name="spaced"),
        backend=InstantBackend(latency_s=0.02),
        options=dataclasses.replace(base, shard_seconds=600),
    )
    assert every.records_ok == spaced.records_ok == 40
    assert len(shard_keys(ws.store, every.job_id)) > 2  # a shard at each checkpoint
    assert len(shard_keys(ws.store, spaced.job_id)) == 2  # one at each unit's end
    assert outputs(ws, spaced.job_id) == outputs(ws, every.job_id)
