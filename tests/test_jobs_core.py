"""Job engine building blocks: states, spec fingerprint, registry, ledger, shards, checks."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading

import pytest

from plotpalette import layout
from plotpalette.errors import BudgetExceededError, ConfigError, JobNotFoundError, JobStateError
from plotpalette.jobs import JobSpec, JobState, fingerprint, iter_records, scan_shards
from plotpalette.jobs.budget import BudgetGovernor
from plotpalette.jobs.checks import run_checks
from plotpalette.jobs.registry import SQLiteRegistry
from plotpalette.jobs.sampling import Sampler
from plotpalette.jobs.shards import ShardWriter, record_line
from plotpalette.jobs.states import check_transition
from plotpalette.records import Record, StepResult
from plotpalette.store import LocalStore

POLICIES = {
    "empty": "filter",
    "repetition": "filter",
    "refusal": "filter",
    "truncated": "keep",
    "invalid_json": "fail",
}


# -- states -------------------------------------------------------------------------
def test_state_machine_allows_resume_but_not_leaving_completed():
    check_transition("QUEUED", "RUNNING")
    for stopped in ("INTERRUPTED", "BUDGET_EXCEEDED", "FAILED", "CANCELLED"):
        check_transition("RUNNING", stopped)
        check_transition(stopped, "RUNNING")
    with pytest.raises(JobStateError):
        check_transition("COMPLETED", "RUNNING")
    with pytest.raises(JobStateError):
        check_transition("QUEUED", "COMPLETED")  # only the runner, from RUNNING
    with pytest.raises(JobStateError):
        check_transition("RUNNING", "RUNNING")


# -- spec -----------------------------------------------------------------------------
def _spec(**kw):
    base = dict(template="qa@2", seeds="ab" * 32, records=10, template_hash="h")
    return JobSpec(**{**base, **kw})


def test_fingerprint_ignores_limits_but_not_results():
    fp = fingerprint(_spec())
    for knob in (
        {"budget_usd": 5.0},
        {"budget_tokens": 100},
        {"concurrency": 3},
        {"rate_limits": {"m": {"rpm": 5}}},
        {"name": "x"},
        {"error_window": 7},
        {"export_formats": ["parquet"]},
    ):
        assert fingerprint(_spec(**knob)) == fp, knob
    for knob in (
        {"template": "qa@3"},
        {"seeds": "cd" * 32},
        {"records": 11},
        {"models": {"ask": "premium"}},
        {"tier": "cheap"},
        {"sampling_seed": 1},
        {"sampling": "with_replacement"},
        {"checks": {"truncated": "filter"}},
        {"backend": "bedrock"},
        {"template_hash": "other"},
    ):
        assert fingerprint(_spec(**knob)) != fp, knob
    # writing a default policy explicitly is the same job
    assert fingerprint(_spec(checks={"empty": "filter"})) == fp


@pytest.mark.parametrize(
    "bad",
    [
        {"records": 0},
        {"budget_usd": -1},
        {"sampling": "zigzag"},
        {"checks": {"empty": "explode"}},
        {"checks": {"nope": "keep"}},
        {"template": "qa@x"},
        {"concurrency": 0},
    ],
)
def test_spec_rejects_bad_fields_by_name(bad):
    with pytest.raises(ConfigError) as err:
        _spec(**bad)
    field = next(iter(bad)).split("_")[0]
    assert field in str(err.value).lower() or "template" in str(err.value)


# -- sampling -------------------------------------------------------------------------
def test_sampling_is_deterministic_and_without_replacement_covers_every_row():
    a, b = Sampler("without_replacement", 7, 3), Sampler("without_replacement", 7, 3)
    first = [a.seed_index(i) for i in range(7)]
    assert sorted(first) == list(range(7))
    assert [b.seed_index(i) for i in reversed(range(14))][::-1][:7] == first
    r = [Sampler("with_replacement", 5, 1).seed_index(i) for i in range(50)]
    assert r == [Sampler("with_replacement", 5, 1).seed_index(i) for i in range(50)]
    assert len(set(r)) > 1
    assert [Sampler("sequential", 3, 0).seed_index(i) for i in range(5)] == [0, 1, 2, 0, 1]


# -- registry -------------------------------------------------------------------------
@pytest.fixture
def reg(tmp_path):
    r = SQLiteRegistry(tmp_path / layout.REGISTRY_FILE)
    r.create_job("j1", spec={"budget_usd": 1.0}, fingerprint="f", template="t@1", records_total=5)
    yield r
    r.close()


def test_registry_reservations_never_exceed_the_budget(reg):
    assert not reg.reserve("j1", "w", 0.1, 0)  # nobody owns the job yet
    reg.acquire("j1", "w")
    assert reg.reserve("j1", "w", 0.6, 0)
    assert not reg.reserve("j1", "w", 0.5, 0)  # 1.1 > 1.0
    assert reg.reserve("j1", "w", 0.4, 0)
    assert not reg.reserve("j1", "other-worker", 0.0, 0)  # not the owner
    info = reg.get("j1")
    assert info.spend_usd == pytest.approx(1.0)


def test_dead_worker_reservations_become_waste_on_takeover(reg):
    reg.acquire("j1", "w1")
    assert reg.reserve("j1", "w1", 0.3, 10)
    # w1 "dies": its heartbeat is old; a new worker takes over after the lease
    info = reg.acquire("j1", "w2", lease_s=-1)
    assert info.state is JobState.RUNNING and info.owner == "w2"
    assert info.reserved_usd == pytest.approx(0.0)
    assert info.settled_usd == pytest.approx(0.3) and info.waste_usd == pytest.approx(0.3)
    kinds = [row.kind for row in reg.ledger("j1")]
    assert kinds == ["reserve", "recover"]


def test_acquire_refuses_a_live_runner(reg):
    reg.acquire("j1", "w1")
    with pytest.raises(JobStateError, match="RUNNING"):
        reg.acquire("j1", "w2")


def test_unknown_job(reg):
    with pytest.raises(JobNotFoundError):
        reg.get("missing")


def _reserve_many(path: str, worker: str, n: int, out) -> None:
    r = SQLiteRegistry(path)
    out.put(sum(r.reserve("j1", worker, 0.01, 0) for _ in range(n)))
    r.close()


def test_registry_is_safe_across_processes(tmp_path):
    path = tmp_path / layout.REGISTRY_FILE
    reg = SQLiteRegistry(path)
    reg.create_job("j1", spec={"budget_usd": 0.5}, fingerprint="f", template="t@1", records_total=1)
    reg.acquire("j1", "w")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_reserve_many, args=(str(path), "w", 40, out)) for _ in range(2)]
    for p in procs:
        p.start()
    threads = [
        threading.Thread(target=lambda: [reg.reserve("j1", "w", 0.01, 0) for _ in range(20)])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    info = reg.get("j1")
    # 100 attempts of 0.01 against 0.50: exactly 50 fit, whoever asked
    assert info.reserved_usd == pytest.approx(0.5)
    assert sum(granted) <= 50
    assert len(reg.ledger("j1")) == 50


# -- budget governor --------------------------------------------------------------------
def test_governor_settles_to_real_cost_and_releases_spare(reg):
    reg.acquire("j1", "w")
    gov = BudgetGovernor(reg, "j1", "w", grant_calls=4)

    async def go():
        res = await gov.reserve(0.1, 50)
        gov.settle(res, 0.02, 20)
        res2 = await gov.reserve(0.1, 50)
        gov.release(res2)

    asyncio.run(go())
    row = gov.ledger_row(final=True)
    reg.checkpoint("j1", "w", ledger=row)
    info = reg.get("j1")
    assert info.settled_usd == pytest.approx(0.02)
    assert info.reserved_usd == pytest.approx(0.0)
    assert info.settled_tokens == 20


def test_grants_follow_the_call_rate_so_a_killed_worker_books_little_unused(reg):
    """Slow calls get one-call grants: what a dead worker leaves open (and takeover
    books as waste) is its calls in flight and finished-unsettled, not a 32-call grant."""
    reg.acquire("j1", "w1")
    gov = BudgetGovernor(reg, "j1", "w1", grant_calls=32, grant_seconds=0.01)

    async def go():
        first = await gov.reserve(0.001, 10)
        gov.settle(first, 0.0004, 4)  # finished, not yet settled in the registry
        await asyncio.sleep(0.05)  # ~20 calls/s: a 10 ms grant covers one call
        await gov.reserve(0.001, 10)  # in flight when the worker "dies"

    asyncio.run(go())
    # in flight + finished-unsettled + at most one call's worth of unused grant
    assert reg.get("j1").reserved_usd <= 0.001 + 0.0004 + 0.001 + 1e-9
    info = reg.acquire("j1", "w2", lease_s=-1)
    assert 0.0014 - 1e-9 <= info.waste_usd <= 0.0024 + 1e-9
    assert info.waste_usd < 0.001 * 32  # what a fixed 32-call grant would have booked

    fast = BudgetGovernor(reg, "j1", "w2", grant_calls=32, grant_seconds=0.01)

    async def burst():
        for _ in range(200):  # an instant backend: grants grow to grant_calls
            fast.settle(await fast.reserve(0.0001, 1), 0.00005, 1)

    asyncio.run(burst())
    assert fast.grants <= 200 // 32 + 3


def test_governor_refuses_a_call_that_cannot_fit(reg):
    reg.acquire("j1", "w")
    gov = BudgetGovernor(reg, "j1", "w")

    async def go():
        first = await gov.reserve(0.7, 0)
        # 0.7 in flight + 0.7 > 1.0: while a call is in flight (it may settle cheaper),
        # the second call waits — it neither overspends nor gives up
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await asyncio.wait_for(gov.reserve(0.7, 0), 0.2)
        assert reg.get("j1").spend_usd <= 1.0 + 1e-9
        gov.release(first)
        # nothing in flight: a call that cannot fit is refused at once
        with pytest.raises(BudgetExceededError, match="does not fit"):
            await gov.reserve(1.1, 0)

    asyncio.run(go())


# -- shards ---------------------------------------------------------------------------
def _record(i: int, status: str = "ok", text: str = "x") -> Record:
    return Record(
        job_id="j1",
        index=i,
        seed_index=i % 3,
        status=status,
        outputs={"answer": text},
        steps={"ask": StepResult(model="m", output=text, input_tokens=3)},
        prompts={"ask": {"system": None, "prompt": "p"}},
        cost_usd=0.5,
    )


def test_shard_line_is_the_record_contract():
    rec = _record(4, text="héllo")
    assert json.loads(record_line(rec)) == rec.to_dict()
    assert Record.from_dict(json.loads(record_line(rec))) == rec


def test_shards_union_deduplicates_first_writer_wins(tmp_path):
    store = LocalStore(tmp_path)
    store.write_bytes(layout.spec_key("j1"), b"{}")
    a, b = ShardWriter(store, "j1", "wa"), ShardWriter(store, "j1", "wb")
    for i in range(3):
        a.add(_record(i, text="from a"))
    a.flush()
    b.add(_record(2, text="from b"))  # a duplicate of index 2 (e.g. two workers)
    b.add(_record(3, text="from b"))
    b.flush()
    recs = list(iter_records(store, "j1", ordered=True))
    assert [r.index for r in recs] == [0, 1, 2, 3]
    assert recs[2].outputs["answer"] == "from a"  # the shard that sorts first wins
    scan = scan_shards(store, "j1")
    assert scan.duplicates == 1 and scan.indices == {0, 1, 2, 3}
    with pytest.raises(JobNotFoundError):
        list(iter_records(store, "nope"))


# -- checks ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "stop", "json_expected", "flag", "verdict"),
    [
        ("   ", "end_turn", False, "empty", "filtered"),
        ("the cat sat on the mat. " * 10, "end_turn", False, "repetition", "filtered"),
        ("I'm sorry, but I can't help with that.", "end_turn", False, "refusal", "filtered"),
        ("A fine answer that ran out of", "max_tokens", False, "truncated", "ok"),
        ("{not json", "end_turn", True, "invalid_json", "failed"),
    ],
)
def test_checks_fire_with_their_policy(text, stop, json_expected, flag, verdict):
    out = run_checks(text, stop_reason=stop, policies=POLICIES, json_expected=json_expected)
    assert flag in out.flags
    assert out.verdict == verdict


def test_checks_pass_a_normal_answer_and_parse_fenced_json():
    out = run_checks(
        '```json\n{"a": 1}\n```', stop_reason="end_turn", policies=POLICIES, json_expected=True
    )
    assert out.flags == [] and out.verdict == "ok" and out.parsed_json == {"a": 1}
    plain = run_checks(
        "Rain falls softly on the old stone bridge while the river hums.",
        stop_reason="end_turn",
        policies=POLICIES,
    )
    assert plain.flags == []
