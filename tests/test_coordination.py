"""The multi-worker rules (units, budget leases, marks, fencing, finalizer) on real tables."""

from __future__ import annotations

import asyncio
import multiprocessing

import pytest

from plotpalette import layout
from plotpalette.errors import BudgetExceededError, JobNotFoundError
from plotpalette.jobs.budget import BudgetGovernor
from plotpalette.jobs.coordination import leases, units, workers
from plotpalette.jobs.coordination.finalize import reclaim_dead
from plotpalette.jobs.registry import SQLiteRegistry
from plotpalette.tables import tables_from_url


@pytest.fixture
def reg(tmp_path):
    r = SQLiteRegistry(tmp_path / layout.REGISTRY_FILE)
    r.create_job("j1", spec={"budget_usd": 1.0}, fingerprint="f", template="t@1", records_total=5)
    yield r
    r.close()


def _worker(reg, name: str, lease_s: float = 30.0) -> workers.WorkerItem:
    me = workers.WorkerItem(reg.tables, "j1", name, lease_s=lease_s)
    me.join(run=1)
    return me


def _settle(used: float, want: float, **kw) -> leases.Settlement:
    return leases.Settlement(
        used_usd=used,
        used_tokens=0,
        waste_usd=0.0,
        calls=0,
        want_usd=want,
        want_tokens=0,
        need_usd=kw.pop("need", 0.0),
        **kw,
    )


def test_unknown_job(reg):
    with pytest.raises(JobNotFoundError):
        reg.get("missing")


def test_leases_never_exceed_the_budget(reg):
    a, _ = leases.sync_lease(reg.tables, "j1", "wa", _settle(0, 0.7, need=0.7, create=True))
    b, _ = leases.sync_lease(reg.tables, "j1", "wb", _settle(0, 0.7, need=0.1, create=True))
    assert a.usd == pytest.approx(0.7)
    assert b.usd <= 0.3 + 1e-12  # only what is free
    info = reg.get("j1")
    assert info.spend_usd <= 1.0 + 1e-12 and info.leased_usd == pytest.approx(0.7 + b.usd)
    # a lease that was never opened cannot be written: the worker is fenced
    assert leases.sync_lease(reg.tables, "j1", "ghost", _settle(0.1, 0.1)) is None


def test_near_the_end_leases_are_a_fair_share(reg):
    got, _ = leases.sync_lease(
        reg.tables, "j1", "wa", _settle(0, 5.0, need=0.01, live_workers=4, create=True)
    )
    # 1.0 free among 4 workers: at most half of a quarter each time
    assert got.usd == pytest.approx(1.0 / 8)


def test_settle_books_and_close_returns_the_rest(reg):
    leases.sync_lease(reg.tables, "j1", "wa", _settle(0, 0.5, need=0.5, create=True))
    leases.sync_lease(reg.tables, "j1", "wa", _settle(0.2, 0.3))
    info = reg.get("j1")
    assert info.settled_usd == pytest.approx(0.2) and info.leased_usd == pytest.approx(0.3)
    leases.sync_lease(reg.tables, "j1", "wa", _settle(0.25, 0.0, close=True))
    info = reg.get("j1")
    assert info.settled_usd == pytest.approx(0.25) and info.leased_usd == 0
    assert reg.ledger_spend("j1") == pytest.approx(0.25)
    assert sum(r.settle_usd for r in reg.ledger("j1")) == pytest.approx(0.25)
    # closed is closed: a late write of the same worker is refused
    assert leases.sync_lease(reg.tables, "j1", "wa", _settle(0.3, 0.1, create=True)) is None


def test_reclaim_books_the_mark_not_the_whole_lease(reg):
    me = _worker(reg, "wdead", lease_s=-1)  # already expired
    leases.sync_lease(reg.tables, "j1", "wdead", _settle(0, 0.6, need=0.6, create=True))
    leases.sync_lease(reg.tables, "j1", "wdead", _settle(0.1, 0.5))
    with pytest.raises(workers.Fenced):  # the item expired, but it is not fenced yet...
        me.lease_s = 30
        reclaim_dead(reg.tables, "j1")  # ...now it is
        me.write(cap_usd=0.5)  # a zombie raising its mark after the fence: refused
    info = reg.get("j1")
    # no mark was written (cap 0 <= booked): nothing more than what was booked
    assert info.settled_usd == pytest.approx(0.1) and info.leased_usd == 0
    assert reclaim_dead(reg.tables, "j1") == 0.0  # twice is harmless


def test_reclaim_of_a_worker_with_a_mark(reg):
    me = _worker(reg, "wm", lease_s=0.05)
    leases.sync_lease(reg.tables, "j1", "wm", _settle(0, 0.6, need=0.6, create=True))
    me.write(cap_usd=0.25)  # it may have spent up to 0.25 on the lease
    import time

    time.sleep(0.1)
    assert reclaim_dead(reg.tables, "j1") == pytest.approx(0.25)
    info = reg.get("j1")
    assert info.settled_usd == pytest.approx(0.25) and info.waste_usd == pytest.approx(0.25)
    assert [r.kind for r in reg.ledger("j1")][-1] == "reclaim"


def test_units_claim_fence_and_finish(reg):
    units.ensure_units(reg.tables, "j1", 5, 2)
    alive = {"wa": True, "wb": True}

    def dead(w):
        return not alive.get(w, False)

    got = [units.claim_unit(reg.tables, "j1", w, owner_dead=dead)[0] for w in ("wa", "wb", "wa")]
    assert sorted((c.start, c.end) for c in got) == [(0, 2), (2, 4), (4, 5)]
    claim, busy = units.claim_unit(reg.tables, "j1", "wc", owner_dead=dead)
    assert claim is None and busy == 3
    alive["wb"] = False  # wb dies: wc takes its unit over with a new epoch
    taken, _ = units.claim_unit(reg.tables, "j1", "wc", owner_dead=dead)
    old = got[1]
    assert (taken.start, taken.end) == (old.start, old.end) and taken.taken_over
    assert taken.epoch == old.epoch + 1
    # the old owner's writes about the unit are refused
    assert not units.finish_unit(reg.tables, "wb", old, done=True, counts={})
    assert units.finish_unit(reg.tables, "wc", taken, done=True, counts={"ok": 2})


def _claim_all(url: str, name: str, out) -> None:  # pragma: no cover - child process
    t = tables_from_url(url)
    n = 0
    while True:
        claim, _ = units.claim_unit(t, "j1", name, owner_dead=lambda w: False)
        if claim is None:
            break
        n += claim.end - claim.start
    out.put(n)


def test_units_are_claimed_once_across_processes(tmp_path):
    reg = SQLiteRegistry(tmp_path / layout.REGISTRY_FILE)
    units.ensure_units(reg.tables, "j1", 1000, 10)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(reg.tables.url, f"w{i}", out)) for i in range(3)]
    for p in procs:
        p.start()
    claimed = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(claimed) == 1000  # every record once, whoever claimed it


def test_governor_settles_to_real_cost_and_closes(reg):
    me = _worker(reg, "wg")
    gov = BudgetGovernor(reg.tables, "j1", me)

    async def go():
        res = await gov.reserve(0.1, 50)
        gov.settle(res, 0.02, 20)
        res2 = await gov.reserve(0.1, 50)
        gov.release(res2)
        await gov.checkpoint(final=True)

    asyncio.run(go())
    info = reg.get("j1")
    assert info.settled_usd == pytest.approx(0.02) and info.leased_usd == 0
    assert info.settled_tokens == 20
    # the mark never runs ahead of the lease and covered every call
    assert 0.1 <= me.data["cap_usd"] <= 1.0


def test_governor_refuses_a_call_that_cannot_fit(reg):
    me = _worker(reg, "wr")
    gov = BudgetGovernor(reg.tables, "j1", me)

    async def go():
        first = await gov.reserve(0.7, 0)
        waiting = asyncio.ensure_future(gov.reserve(0.7, 0))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # it waits for the call in flight, never overspends
        gov.settle(first, 0.6, 0)  # 0.6 spent: 0.4 left, the 0.7 call cannot fit
        with pytest.raises(BudgetExceededError):
            await waiting
        await gov.checkpoint(final=True)

    asyncio.run(go())
    info = reg.get("j1")
    assert info.spend_usd == pytest.approx(0.6)


def test_an_unknown_outcome_is_booked_at_worst_case_for_every_attempt(reg):
    me = _worker(reg, "wu")
    gov = BudgetGovernor(reg.tables, "j1", me)

    async def go():
        res = await gov.reserve(0.2, 0)
        await gov.rebook(res)  # attempt 1: timed out after sending
        await gov.rebook(res)  # attempt 2: reset
        gov.settle(res, 0.05, 0)  # attempt 3 answered
        with pytest.raises(BudgetExceededError):
            res = await gov.reserve(0.2, 0)
            await gov.rebook(res)  # 0.45 + 0.2 + 0.2 ... the budget stops the retries
            await gov.rebook(res)
            await gov.rebook(res)
        await gov.checkpoint(final=True)

    asyncio.run(go())
    info = reg.get("j1")
    assert info.settled_usd <= 1.0 + 1e-9
    assert info.waste_usd >= 0.4 - 1e-9 and info.leased_usd == 0


def test_quota_shares_rebalance_and_a_storm_cuts_the_fleet_rate_once(reg):
    from plotpalette.jobs.coordination import quota

    t = reg.tables
    kw = {"lease_s": 30, "measured_per_s": 5.0, "limit_per_s": 10.0}
    assert quota.sync_share(t, "m@r", "a", throttled=False, **kw) == (1.0, None)
    share, rate = quota.sync_share(t, "m@r", "b", throttled=False, **kw)
    assert share < 0.5 and rate is None  # no room until a gave half back
    assert quota.sync_share(t, "m@r", "a", throttled=False, **kw)[0] == 0.5
    assert quota.sync_share(t, "m@r", "b", throttled=False, **kw)[0] == 0.5
    # both see the same throttle storm: the fleet rate is cut once, not twice
    _, cut = quota.sync_share(t, "m@r", "a", throttled=True, **kw)
    assert cut == pytest.approx(10.0 * quota.BACKOFF)
    _, again = quota.sync_share(t, "m@r", "b", throttled=True, **kw)
    assert again == pytest.approx(cut)
    _, grown = quota.sync_share(t, "m@r", "a", throttled=False, **kw)
    assert cut <= grown <= 10.0  # probes up with time, never above the configured limit
    quota.sync_share(t, "m@r", "c", throttled=False, lease_s=-1, measured_per_s=0, limit_per_s=None)
    share, _ = quota.sync_share(t, "m@r", "a", throttled=False, **kw)
    assert share == 0.5  # c's entry expired: the shares rebalance


@pytest.mark.parametrize("n", [2, 4, 8])
def test_quota_shares_of_workers_joining_in_a_row_stay_within_the_quota(reg, n):
    """Workers joining one after another, each at its own heartbeat: the shares in
    force (each member's latest) never sum to more than the quota once every member
    has heartbeated after the last join, and stay near it while they join (they
    summed to 1 + 1/2 + ... + 1/N, which throttled 8-28 % of requests)."""
    from plotpalette.jobs.coordination import quota

    kw = {"lease_s": 30, "measured_per_s": 0.0, "limit_per_s": 10.0, "throttled": False}
    current: dict[str, float] = {}
    for i in range(n):
        current[f"w{i}"] = quota.sync_share(reg.tables, "m@r", f"w{i}", **kw)[0]
        assert sum(current.values()) < 1.5  # 1/(4N) at most for a newcomer without room
    for _ in range(2):  # two heartbeat rounds: every member ends at 1/N
        for name in current:
            current[name] = quota.sync_share(reg.tables, "m@r", name, **kw)[0]
            assert sum(current.values()) <= 1.0 + 1e-9
    assert current == pytest.approx({name: 1.0 / n for name in current})


def _sync_backend(reg, backend, *, throttled: bool, measured: float, limit: float | None):
    """One heartbeat's quota sync for ``backend``'s process (model "m", no Region)."""
    from plotpalette.jobs.coordination import quota

    return quota.sync_share(
        reg.tables,
        "m@None",
        quota._member(backend),
        lease_s=30,
        throttled=throttled,
        measured_per_s=measured,
        limit_per_s=limit,
    )


def test_a_worker_that_leaves_gives_its_quota_share_back(reg):
    from types import SimpleNamespace

    from plotpalette.jobs.coordination import quota
    from plotpalette.llm.limits import LimiterRegistry

    fleet = [SimpleNamespace(limiters=LimiterRegistry({"*": {"rpm": 600}})) for _ in range(2)]
    for backend in fleet:
        quota.prime(backend, ["m"])
    for _ in range(2):
        for backend in fleet:
            quota.apply_shares(reg.tables, backend, 30.0, {})
    quota.leave(reg.tables, fleet[0])
    share, _ = _sync_backend(reg, fleet[1], throttled=False, measured=0.0, limit=10.0)
    assert share == 1.0  # not 1/2 until the leaver's entry expires


def test_discovery_newcomers_start_with_their_share_of_one_workers_in_flight(reg):
    """No limits and no learnt rate: workers joining a fleet together must not each
    start at the full in-flight ceiling (N times one worker's throttle storm)."""
    from types import SimpleNamespace

    from plotpalette.jobs.coordination import quota
    from plotpalette.llm.limits import LimiterRegistry

    fleet = [SimpleNamespace(limiters=LimiterRegistry({}, concurrency=16)) for _ in range(4)]
    for backend in fleet:
        quota.prime(backend, ["m"])
        quota.apply_shares(reg.tables, backend, 30.0, {})
    caps = [b.limiters.get("m").concurrency.cap for b in fleet]
    assert caps[0] == 16  # alone when it joined: it probes like a single worker
    assert sum(caps[1:]) <= 16  # the newcomers together probe like one worker more
    assert all(cap >= 1 for cap in caps)
    # a newcomer after the fleet learnt a rate paces at its share of it instead
    late = SimpleNamespace(limiters=LimiterRegistry({}, concurrency=16))
    quota.prime(late, ["m"])
    _sync_backend(reg, fleet[0], throttled=True, measured=2.5, limit=None)
    quota.apply_shares(reg.tables, late, 30.0, {})
    limiter = late.limiters.get("m")
    # the fleet got 2.5 calls/s through (only the first worker had answers): the rate
    # is cut to 0.9 of that, and the newcomer paces at its share of it
    assert 0 < limiter.rate.per_s <= 2.5 * 0.9 / 5 * 1.01  # (grown a hair since)
    assert limiter.concurrency.cap == 16  # paced by the learnt rate, not by in-flight


def test_a_throttle_never_cuts_the_fleet_below_half_the_configured_limit(reg):
    """Workers that have only just started have few successes to sum: a throttle then
    must not cut the fleet to a fraction of a quota the user told us."""
    from plotpalette.jobs.coordination import quota

    def sync(member: str, *, throttled: bool) -> float | None:
        _, rate = quota.sync_share(
            reg.tables,
            "m@r",
            member,
            lease_s=30,
            throttled=throttled,
            measured_per_s=0.2,
            limit_per_s=10.0,
        )
        return rate

    sync("a", throttled=False)
    rate = sync("b", throttled=True)
    assert rate is not None and 5.0 <= rate < 10.0


OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, name TEXT, state TEXT NOT NULL, spec TEXT NOT NULL,
    fingerprint TEXT NOT NULL, template TEXT NOT NULL, batch_id TEXT,
    records_total INTEGER NOT NULL, records_ok INTEGER DEFAULT 0,
    records_failed INTEGER DEFAULT 0, records_filtered INTEGER DEFAULT 0,
    budget_usd REAL, budget_tokens INTEGER,
    settled_usd REAL DEFAULT 0, reserved_usd REAL DEFAULT 0, waste_usd REAL DEFAULT 0,
    settled_tokens INTEGER DEFAULT 0, reserved_tokens INTEGER DEFAULT 0,
    calls INTEGER DEFAULT 0, error TEXT, price_tables TEXT, owner TEXT, owner_pid INTEGER,
    owner_host TEXT,
    heartbeat REAL, cancel_requested INTEGER DEFAULT 0, paused INTEGER DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL,
    deleted_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, worker TEXT NOT NULL,
    ts REAL NOT NULL, kind TEXT NOT NULL, reserve_usd REAL DEFAULT 0,
    settle_usd REAL DEFAULT 0, reserve_tokens INTEGER DEFAULT 0,
    settle_tokens INTEGER DEFAULT 0, waste_usd REAL DEFAULT 0, calls INTEGER DEFAULT 0,
    note TEXT
);
CREATE INDEX IF NOT EXISTS ledger_job ON ledger(job_id, worker);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, ts REAL NOT NULL,
    kind TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);
"""


def test_jobs_of_the_first_registry_format_are_migrated_once(tmp_path):
    """A workspace written by the previous release keeps its jobs and their spend."""
    import json
    import sqlite3

    from plotpalette import Workspace
    from plotpalette.jobs import JobState, list_jobs

    root = tmp_path / "old"
    root.mkdir()
    db = sqlite3.connect(root / layout.REGISTRY_FILE)
    db.executescript(OLD_SCHEMA)
    for job_id, state, reserved in (("done-job", "COMPLETED", 0.0), ("crashed", "RUNNING", 0.02)):
        db.execute(
            "INSERT INTO jobs (job_id, state, spec, fingerprint, template, records_total, "
            "records_ok, budget_usd, settled_usd, reserved_usd, waste_usd, calls, created_at, "
            "updated_at, started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                job_id,
                state,
                json.dumps({"records": 5}),
                "fp",
                "t@1",
                5,
                3,
                1.0,
                0.1,
                reserved,
                0.01,
                6,
                1.0,
                2.0,
                1.5,
            ),
        )
    db.commit()
    db.close()
    ws = Workspace.open(str(root))
    jobs = {j.job_id: j for j in list_jobs(ws)}
    assert set(jobs) == {"done-job", "crashed"}
    assert jobs["done-job"].state is JobState.COMPLETED and jobs["done-job"].records_ok == 3
    crashed = jobs["crashed"]
    assert crashed.state is JobState.INTERRUPTED  # resumable; its worker is gone
    # its open reservation is booked as spent and wasted, never dropped
    assert crashed.settled_usd == pytest.approx(0.12) and crashed.waste_usd == pytest.approx(0.03)
    assert ws.registry.ledger_spend("crashed") == pytest.approx(0.12)
    ws.close()
    again = Workspace.open(str(root))
    assert len(list_jobs(again)) == 2  # opening again changes nothing


def test_one_worker_claims_to_finalize_and_a_claim_lapses_when_its_process_is_gone(
    reg, monkeypatch
):
    from plotpalette.jobs import JobState
    from plotpalette.jobs.coordination import finalize

    job, _ = reg.start_run("j1", counts={}, price_table=None, unit_size=5)
    run = job["run"]
    assert finalize.claim_finalizer(reg.tables, "j1", "wa", run)  # the first to ask reads
    assert not finalize.claim_finalizer(reg.tables, "j1", "wb", run)  # the others wait
    assert finalize.claim_finalizer(reg.tables, "j1", "wa", run)  # asking again is fine
    # a live claimer holds it until FINALIZER_CLAIM_S has passed
    with monkeypatch.context() as m:
        m.setattr(finalize, "FINALIZER_CLAIM_S", 0.0)
        assert finalize.claim_finalizer(reg.tables, "j1", "wb", run)
    assert not finalize.claim_finalizer(reg.tables, "j1", "wa", run)
    # a claimer whose process is gone (this host) loses its claim at once
    gone = multiprocessing.get_context("spawn").Process(target=int)
    gone.start()
    gone.join()
    with monkeypatch.context() as m:
        m.setattr(finalize.os, "getpid", lambda: gone.pid)
        m.setattr(finalize, "FINALIZER_CLAIM_S", 0.0)  # (to take wb's claim over)
        assert finalize.claim_finalizer(reg.tables, "j1", "wc", run)
    assert finalize.claim_finalizer(reg.tables, "j1", "wd", run)  # wc's process is gone
    assert not finalize.claim_finalizer(reg.tables, "j1", "we", run)
    # a claimer that leaves while the job goes on gives its claim back (only its own)
    finalize.release_finalizer(reg.tables, "j1", "wx")
    assert not finalize.claim_finalizer(reg.tables, "j1", "we", run)
    finalize.release_finalizer(reg.tables, "j1", "wd")
    assert finalize.claim_finalizer(reg.tables, "j1", "we", run)
    # a claim made in an earlier run is no claim
    assert finalize.claim_finalizer(reg.tables, "j1", "wf", run + 1)
    reg.transition("j1", JobState.COMPLETED, expected=[JobState.RUNNING])
    assert not finalize.claim_finalizer(reg.tables, "j1", "wg", run)  # nothing to end


def test_a_lease_a_dead_worker_still_holds_is_reclaimed_before_a_call_is_refused(reg):
    # a killed worker's lease holds most of the budget until someone fences it; a
    # newcomer short of money reclaims it instead of stopping BUDGET_EXCEEDED
    ghost = _worker(reg, "ghost")
    leases.sync_lease(reg.tables, "j1", "ghost", _settle(0, 0.9, need=0.9, create=True))
    ghost.write(cap_usd=0.0, cap_tokens=0)  # it had spent nothing when it died
    item = reg.tables.get(workers.WORKER, workers.worker_key("j1", "ghost"))
    lapsed = {**item.data, "expires": 0.0}  # ... and its heartbeat has lapsed
    assert reg.tables.replace(workers.WORKER, item.key, lapsed, version=item.version)
    me = _worker(reg, "wn")
    gov = BudgetGovernor(reg.tables, "j1", me)
    gov.reclaim = lambda: reclaim_dead(reg.tables, "j1")

    async def go():
        res = await gov.reserve(0.5, 0)  # 0.1 free without the ghost's lease
        gov.settle(res, 0.5, 0)
        await gov.checkpoint(final=True)

    asyncio.run(go())
    info = reg.get("j1")
    assert info.spend_usd == pytest.approx(0.5)
    assert info.leased_usd == 0
