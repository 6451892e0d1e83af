"""Work units for :class:`~plotpalette.jobs.runner.Runner`: claim the next unit, take
units of dead workers over (fence, reclaim, re-read the shards), and mark a unit done
only after its records are in the shards."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from .coordination import units as unit_rules
from .coordination.finalize import reclaim_dead
from .coordination.workers import fence

__all__ = ["UnitsMixin"]


class _Unit:
    def __init__(self, claim: unit_rules.Claim, todo: list[int]) -> None:
        self.claim = claim
        self.todo = collections.deque(todo)
        self.outstanding = 0
        self.counts: collections.Counter[str] = collections.Counter()


class UnitsMixin:
    """The unit half of the runner (it provides the attributes used here)."""

    stop: Any
    options: Any
    tables: Any
    job_id: str
    worker: str
    index: Any
    me: Any
    _unit: Any
    _active: list[Any]
    _claim_lock: asyncio.Lock
    _no_more_work: bool
    _taken_over: int
    _units_done: int
    _lost_lease: bool
    _io: Any
    _flush: Any
    _request_stop: Any
    batch_claimed: set[int]

    # -- units -----------------------------------------------------------------------
    async def _next_index(self) -> tuple[_Unit, int] | None:
        while self.stop is None:
            unit = self._unit
            if unit is not None and unit.todo:
                return unit, unit.todo.popleft()
            async with self._claim_lock:
                if self._unit is not unit:
                    continue  # another coroutine claimed meanwhile
                if unit is not None and unit.outstanding > 0:
                    pass  # its last records are running: the next unit may start
                claim, busy = await self._io(
                    unit_rules.claim_unit,
                    self.tables,
                    self.job_id,
                    self.worker,
                    owner_dead=self._owner_dead,
                )
                if claim is None:
                    if busy == 0:
                        self._no_more_work = True
                        return None
                    await asyncio.sleep(self.options.idle_poll_s)
                    continue
                if claim.taken_over:
                    self._taken_over += 1
                    await self._io(self.index.refresh)
                todo = [
                    i
                    for i in range(claim.start, claim.end)
                    if i not in self.index.good and i not in self.batch_claimed
                ]
                self._unit = _Unit(claim, todo)
                self._active.append(self._unit)
                await self._io(self.me.write, unit=claim.key)
                if not todo:
                    await self._complete(self._unit)
        return None

    def _owner_dead(self, worker: str) -> bool:
        # fencing the owner first means it can no longer raise its mark; then book it
        final = fence(self.tables, self.job_id, worker)
        if final is None:
            return False
        reclaim_dead(self.tables, self.job_id)
        return True

    async def _complete(self, unit: _Unit) -> None:
        """All of the unit's records are settled here: write them, then mark it done."""
        await self._flush()
        ok = await self._io(
            unit_rules.finish_unit,
            self.tables,
            self.worker,
            unit.claim,
            done=True,
            counts=dict(unit.counts),
        )
        if not ok:
            self._fenced("the unit was taken over by another worker")
        else:
            self._units_done += 1
        if self._unit is unit:
            self._unit = None
        if unit in self._active:
            self._active.remove(unit)

    def _fenced(self, why: str) -> None:
        if not self._lost_lease:
            self._lost_lease = True
            self._request_stop("lost_lease", f"this worker was presumed dead: {why}")
