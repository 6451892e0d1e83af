"""The budget item: one per job, with remaining money and a small map of budget leases.

``budget/<job>`` holds ``budget_usd``/``budget_tokens`` (``None`` = unlimited),
``spent_usd``/``spent_tokens`` (booked cost, waste included), ``waste_usd``, ``calls``
and ``leases``: ``{worker: {"usd", "tokens", "booked_usd", "booked_tokens", "seq"}}``
where ``usd``/``tokens`` is money leased to the worker and not yet booked, and
``booked_*`` what the worker has booked on this lease so far (cumulative).

The invariant, kept by every write (each one compare-and-swap of this one item):

    spent + sum(lease.usd for every open lease)  <=  budget

A worker spends only inside its lease, so the money really spent never passes the
budget even if every worker is killed: a dead worker's lease is *reclaimed*, booking
``min(lease, mark - booked)`` (its mark, see :mod:`.workers`, bounds what it may have
spent since its last booking) and freeing the rest.

Each write also appends an idempotent ledger entry keyed ``<job>/<worker>/<seq>``
carrying the lease's cumulative figures; nothing on the hot path reads the ledger, and
a reader reconstructs every booking from the latest entry per lease (a crash between a
write and its ledger entry loses nothing: the next entry, or the reclaim's, carries the
cumulative totals).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ...tables import Tables, update

__all__ = ["BUDGET", "LEDGER", "LeaseState", "Settlement", "reclaim", "sync_lease"]

BUDGET = "budget"
LEDGER = "ledger"
EPS = 1e-12


@dataclass
class Settlement:
    """What a worker books and asks for in one budget write (cumulative on its lease)."""

    used_usd: float  # cost of finished calls + waste, since the lease was opened
    used_tokens: int
    waste_usd: float
    calls: int
    want_usd: float  # the lease's unbooked amount the worker would like to hold now
    want_tokens: int
    need_usd: float = 0.0  # the least unbooked amount that lets its next call start
    need_tokens: int = 0
    live_workers: int = 1
    create: bool = False  # open the lease (first write of this worker)
    close: bool = False  # book and hand everything back; the lease is removed


@dataclass
class LeaseState:
    """The lease after a write, as the worker must now see it."""

    usd: float
    tokens: int
    booked_usd: float
    booked_tokens: int
    free_usd: float | None  # unleased money left in the job (None: unlimited)


def new_budget(budget_usd: float | None, budget_tokens: int | None) -> dict[str, Any]:
    return {
        "budget_usd": budget_usd,
        "budget_tokens": budget_tokens,
        "spent_usd": 0.0,
        "spent_tokens": 0,
        "waste_usd": 0.0,
        "calls": 0,
        "leases": {},
    }


def free(data: dict[str, Any]) -> tuple[float | None, int | None]:
    """Money and tokens neither spent nor leased."""
    leases = data["leases"].values()
    usd = tok = None
    if data.get("budget_usd") is not None:
        usd = data["budget_usd"] - data["spent_usd"] - sum(x["usd"] for x in leases)
    if data.get("budget_tokens") is not None:
        tok = data["budget_tokens"] - data["spent_tokens"] - sum(x["tokens"] for x in leases)
    return usd, tok


def _grant(want: float, have: float, need: float, avail: float | None, live: int) -> float:
    """How much more to lease: toward ``want``, but near the end at most a fair share
    of what is left (``avail / (2 * live)``) and at least what the next call ``need``s."""
    extra = max(0.0, want - have)
    if avail is None:
        return extra
    fair = max(max(0.0, need - have), avail / (2 * max(1, live)))
    return max(0.0, min(extra, fair, avail))


def sync_lease(
    tables: Tables, job_id: str, worker: str, s: Settlement
) -> tuple[LeaseState, dict[str, Any]] | None:
    """Book the worker's spend and resize its lease, in one write.

    Returns ``None`` when the lease is gone (it was reclaimed: the worker is fenced).
    """
    out: dict[str, Any] = {}

    def fn(data: dict[str, Any]) -> dict[str, Any] | None:
        leases = data["leases"]
        lease = leases.get(worker)
        if lease is None:
            if not s.create or data.get("closed", {}).get(worker):
                return None
            lease = {"usd": 0.0, "tokens": 0, "booked_usd": 0.0, "booked_tokens": 0}
            lease.update(waste_usd=0.0, calls=0, seq=0, opened=time.time())
        d_usd = max(0.0, s.used_usd - lease["booked_usd"])
        d_tok = max(0, s.used_tokens - lease["booked_tokens"])
        data["spent_usd"] += d_usd
        data["spent_tokens"] += d_tok
        data["waste_usd"] += max(0.0, s.waste_usd - lease["waste_usd"])
        data["calls"] += max(0, s.calls - lease["calls"])
        lease["usd"] = max(0.0, lease["usd"] - d_usd)
        lease["tokens"] = max(0, lease["tokens"] - d_tok)
        lease.update(
            booked_usd=lease["booked_usd"] + d_usd,
            booked_tokens=lease["booked_tokens"] + d_tok,
            waste_usd=max(lease["waste_usd"], s.waste_usd),
            calls=max(lease["calls"], s.calls),
            seq=lease["seq"] + 1,
        )
        if s.close:
            lease.update(usd=0.0, tokens=0)
            leases.pop(worker, None)
            data.setdefault("closed", {})[worker] = True
        else:
            leases[worker] = lease
            if s.want_usd < lease["usd"]:
                lease["usd"] = max(s.want_usd, 0.0)
            if s.want_tokens < lease["tokens"]:
                lease["tokens"] = max(s.want_tokens, 0)
            avail_usd, avail_tok = free(data)
            lease["usd"] += _grant(s.want_usd, lease["usd"], s.need_usd, avail_usd, s.live_workers)
            lease["tokens"] += int(
                _grant(s.want_tokens, lease["tokens"], s.need_tokens, avail_tok, s.live_workers)
            )
        out["lease"] = dict(lease)
        return data

    item = update(tables, BUDGET, job_id, fn)
    if item is None:
        return None
    lease = out["lease"]
    _ledger(tables, job_id, worker, "close" if s.close else "lease", lease)
    avail, _ = free(item.data)
    state = LeaseState(
        0.0 if s.close else lease["usd"],
        0 if s.close else lease["tokens"],
        lease["booked_usd"],
        lease["booked_tokens"],
        avail,
    )
    return state, item.data


def reclaim(
    tables: Tables, job_id: str, worker: str, cap_usd: float | None, cap_tokens: int | None
) -> float:
    """Close a fenced worker's lease, booking what its mark says it may have spent
    (the whole lease when there is no mark). Returns the dollars booked (0 if the lease
    was already closed: reclaiming twice is harmless)."""
    out: dict[str, Any] = {}

    def fn(data: dict[str, Any]) -> dict[str, Any] | None:
        lease = data["leases"].get(worker)
        if lease is None:
            return None
        usd = lease["usd"] if cap_usd is None else max(0.0, cap_usd - lease["booked_usd"])
        tok = lease["tokens"] if cap_tokens is None else max(0, cap_tokens - lease["booked_tokens"])
        usd, tok = min(usd, lease["usd"]), min(tok, lease["tokens"])
        data["spent_usd"] += usd
        data["spent_tokens"] += tok
        data["waste_usd"] += usd  # unknown outcome: counted spent, shown as waste
        lease.update(
            booked_usd=lease["booked_usd"] + usd,
            booked_tokens=lease["booked_tokens"] + tok,
            waste_usd=lease["waste_usd"] + usd,
            usd=0.0,
            tokens=0,
            seq=lease["seq"] + 1,
        )
        del data["leases"][worker]
        data.setdefault("closed", {})[worker] = True
        out.update(lease=lease, usd=usd)
        return data

    if update(tables, BUDGET, job_id, fn) is None:
        return 0.0
    _ledger(tables, job_id, worker, "reclaim", out["lease"])
    return float(out["usd"])


def _ledger(tables: Tables, job_id: str, worker: str, kind: str, lease: dict[str, Any]) -> None:
    tables.append(
        LEDGER,
        f"{job_id}/{worker}/{lease['seq']:08d}",
        {
            "job_id": job_id,
            "worker": worker,
            "kind": kind,
            "ts": time.time(),
            "leased_usd": lease["usd"],
            "leased_tokens": lease["tokens"],
            "booked_usd": lease["booked_usd"],
            "booked_tokens": lease["booked_tokens"],
            "waste_usd": lease["waste_usd"],
            "calls": lease["calls"],
        },
    )


def set_budget(
    tables: Tables, job_id: str, budget_usd: Any = ..., budget_tokens: Any = ...
) -> dict[str, Any]:
    """Create the budget item, or replace its limits (a resume with more money)."""
    if tables.get(BUDGET, job_id) is None:
        tables.create(
            BUDGET,
            job_id,
            new_budget(
                None if budget_usd is ... else budget_usd,
                None if budget_tokens is ... else budget_tokens,
            ),
        )
        return tables.get(BUDGET, job_id).data  # type: ignore[union-attr]

    def fn(data: dict[str, Any]) -> dict[str, Any]:
        if budget_usd is not ...:
            data["budget_usd"] = budget_usd
        if budget_tokens is not ...:
            data["budget_tokens"] = budget_tokens
        return data

    item = update(tables, BUDGET, job_id, fn)
    assert item is not None
    return item.data
