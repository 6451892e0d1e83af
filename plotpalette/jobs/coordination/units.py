"""Work units: a job's record range cut into pieces that workers claim with a lease.

``unit/<job>/u000007`` holds ``start``/``end`` (indices), ``state`` (``pending``,
``leased``, ``done``), ``owner`` (a worker id) and ``epoch``. Claiming is one
compare-and-swap that bumps the epoch; every later write about the unit (completion,
hand-back) is a CAS that also checks ``owner`` and ``epoch``, so a worker that lost the
unit (fenced as dead, then taken over) cannot mark it done or hand it back.

A leased unit's lease is its owner's worker item (see :mod:`.workers`): one heartbeat
per worker keeps all its claims alive, instead of one write per unit. When the owner
is dead, another worker fences it, reclaims its budget lease and claims the unit; it
skips records already in the shards (records are identified by index, shards are
create-if-absent), so nothing is generated twice that was saved once.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...tables import Item, Tables, iter_items

__all__ = ["UNIT", "Claim", "claim_unit", "ensure_units", "finish_unit", "unit_size", "units"]

UNIT = "unit"


@dataclass(frozen=True)
class Claim:
    """A unit this worker holds: write about it only with this epoch."""

    key: str
    start: int
    end: int
    epoch: int
    taken_over: bool  # its previous owner died: re-read the shards before working


def unit_size(records: int, *, workers: int = 1) -> int:
    """Records per unit: enough units for every worker to get several (so the tail is
    shared), each between 50 and 1,000 records (tens of seconds of work at Bedrock
    rates); small jobs get small units."""
    if records <= 0:
        return 1
    target = math.ceil(records / max(8, 4 * workers))
    return max(1, min(1000, max(min(50, records), target)))


def ensure_units(tables: Tables, job_id: str, records: int, size: int) -> int:
    """Create the job's units if they do not exist (create-if-absent: safe to race)."""
    count = math.ceil(records / size) if records else 0
    for n in range(count):
        start = n * size
        tables.create(
            UNIT,
            f"{job_id}/u{n:06d}",
            {
                "start": start,
                "end": min(records, start + size),
                "state": "pending",
                "owner": None,
                "epoch": 0,
                "counts": {},
            },
        )
    return count


def units(tables: Tables, job_id: str) -> list[Item]:
    return list(iter_items(tables, UNIT, f"{job_id}/"))


def claim_unit(
    tables: Tables,
    job_id: str,
    worker: str,
    *,
    owner_dead: Callable[[str], bool],
    rng: random.Random | None = None,
) -> tuple[Claim | None, int]:
    """Claim a pending unit, or one whose owner is dead. Returns ``(claim, busy)``:
    ``busy`` counts units other live workers hold (0 and no claim: nothing left)."""
    items = units(tables, job_id)
    rng = rng or random.Random()
    # start at a random unit so workers joining together do not all race for the first
    order = sorted(items, key=lambda i: (i.data["state"] != "pending", rng.random()))
    busy = 0
    for item in order:
        d = item.data
        if d["state"] == "done":
            continue
        taken_over = False
        if d["state"] == "leased":
            if d["owner"] == worker or not owner_dead(d["owner"]):
                busy += 1
                continue
            taken_over = True
        new = {
            **d,
            "state": "leased",
            "owner": worker,
            "epoch": d["epoch"] + 1,
            "claimed_at": time.time(),
            "previous": d.get("owner"),
        }
        got = tables.replace(UNIT, item.key, new, version=item.version)
        if got is not None:
            taken = taken_over or bool(d.get("previous") or d.get("owner"))
            return Claim(item.key, d["start"], d["end"], new["epoch"], taken), busy
        busy += 1  # someone else won it
    return None, busy


def _owned(data: dict[str, Any], worker: str, claim: Claim) -> bool:
    return data["owner"] == worker and data["epoch"] == claim.epoch and data["state"] == "leased"


def finish_unit(
    tables: Tables, worker: str, claim: Claim, *, done: bool, counts: dict[str, int]
) -> bool:
    """Mark the unit done (or hand it back as pending); False if we no longer own it."""
    while True:
        item = tables.get(UNIT, claim.key)
        if item is None or not _owned(item.data, worker, claim):
            return False
        data = {
            **item.data,
            "state": "done" if done else "pending",
            "owner": None,
            "previous": worker,
            "counts": counts if done else item.data.get("counts", {}),
            "finished_at": time.time(),
        }
        if tables.replace(UNIT, claim.key, data, version=item.version) is not None:
            return True


def still_owned(tables: Tables, worker: str, claim: Claim) -> bool:
    item = tables.get(UNIT, claim.key)
    return item is not None and _owned(item.data, worker, claim)


def reset_units(tables: Tables, job_id: str, records: int, size: int) -> None:
    """At the start of a run (first start or resume): create the units, and put every
    unit back to pending so failed and missing records are tried again (a unit whose
    records are all in the shards is skipped in no time)."""
    ensure_units(tables, job_id, records, size)
    for item in units(tables, job_id):
        if item.data["state"] != "pending":
            data = {**item.data, "state": "pending", "owner": None}
            tables.replace(UNIT, item.key, data, version=item.version)


def unit_counts(items: list[Item], owner_dead: Callable[[str], bool]) -> dict[str, int]:
    out = {"done": 0, "leased": 0, "left": 0}
    for i in items:
        s = i.data["state"]
        if s == "done":
            out["done"] += 1
        elif s == "leased" and not owner_dead(i.data["owner"]):
            out["leased"] += 1
        else:
            out["left"] += 1
    return out
