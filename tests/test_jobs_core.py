"""Job engine building blocks: states, spec fingerprint, registry, ledger, shards, checks."""

from __future__ import annotations

import json

import pytest

from plotpalette import layout
from plotpalette.errors import ConfigError, JobNotFoundError, JobStateError
from plotpalette.jobs import JobSpec, fingerprint, iter_records, scan_shards
from plotpalette.jobs.checks import run_checks
from plotpalette.jobs.sampling import Sampler
from plotpalette.jobs.shards import ShardCache, ShardWriter, record_line
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
    store.write_bytes(layout.template_snapshot_key("j1"), b"name: t\n")
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


class _CountingStore(LocalStore):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    def read_bytes(self, key: str) -> bytes:
        self.reads.append(key)
        return super().read_bytes(key)


def test_a_scan_with_a_cache_reads_only_new_shards_and_agrees_with_a_full_scan(tmp_path):
    store = _CountingStore(tmp_path)
    a, b = ShardWriter(store, "j1", "wa"), ShardWriter(store, "j1", "wb")
    a.add(_record(0))
    a.add(_record(1, status="failed"))
    a.flush()
    b.add(_record(1))  # a retry that succeeded replaces the failed copy
    b.add(_record(0, status="filtered"))  # a duplicate: the first shard's copy wins
    b.flush()
    cache = ShardCache()
    assert cache.refresh(store, "j1") == 2  # an idle finalizer read these ahead
    a.add(_record(2, status="filtered"))
    a.add(_record(3, status="failed"))
    last = a.flush()
    store.reads.clear()
    cached = scan_shards(store, "j1", cache=cache)
    assert store.reads == [last]  # only the shard written since
    full = scan_shards(store, "j1")
    assert (cached.indices, cached.failed, cached.counts) == (
        full.indices,
        full.failed,
        full.counts,
    )
    assert (cached.duplicates, cached.cost_usd) == (full.duplicates, full.cost_usd)
    assert cached.indices == {0, 1, 2, 3} and cached.failed == {3} and cached.duplicates == 2
    assert dict(cached.counts) == {"ok": 2, "filtered": 1, "failed": 1}


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
