"""Work units for :class:`~plotpalette.jobs.runner.Runner`: claim the next unit, take
units of dead workers over (fence, reclaim, re-read the shards), and mark a unit done
only after its records are in the shards."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

from .coordination import quota
from .coordination import units as unit_rules
from .coordination.finalize import FINALIZER_CLAIM_S, claim_finalizer, reclaim_dead
from .coordination.workers import fence
from .states import JobState

__all__ = ["UnitsMixin"]

READ_AHEAD_EVERY_S = 1.0  # an idle finalizer reads new shards at most this often


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
    _quota_idle: bool
    _share_quota: Any
    backend: Any
    registry: Any
    run_no: int
    store: Any
    shard_cache: Any
    _finalizer_at: float | None
    _read_ahead_at: float

    async def _final_by_another(self) -> JobState | None:
        """The job's final state when another worker has claimed to finalize it and
        did (see :func:`.coordination.finalize.claim_finalizer`), or ``None``: this
        worker holds the claim (or the other's lapsed) and finalizes itself."""
        if self.stop is not None or not self._no_more_work:
            return None  # stopping (e.g. SIGTERM within a grace period): no waiting
        while not await self._io(
            claim_finalizer, self.tables, self.job_id, self.worker, self.run_no
        ):
            state = JobState((await self._io(self.registry.job_data, self.job_id))["state"])
            if state is not JobState.RUNNING:
                return state
            await asyncio.sleep(self.options.idle_poll_s)
        return None

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
                    await self._idle(True)
                    await self._read_ahead()
                    await asyncio.sleep(self.options.idle_poll_s)
                    continue
                await self._idle(False)
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

    async def _idle(self, idle: bool) -> None:
        """Give this worker's quota share back while it has nothing to run (the other
        workers' units are still leased: it waits in case one is abandoned), and take
        a share again when it claims a unit. Idle workers holding their 1/N share left
        the quota partly unused for the last seconds of every job (measured: the fleet
        fell to 0.7 of the bound while the last units drained)."""
        if idle and any(u.outstanding or u.todo for u in self._active):
            return  # its own last records are still running
        if idle == self._quota_idle:
            return
        self._quota_idle = idle
        if idle:
            await self._io(quota.leave, self.tables, self.backend)
            await self._io(self.me.write, idle_at=time.time())
        else:
            await self._io(self.me.write, idle_at=None)
            await self._share_quota()

    async def _read_ahead(self) -> None:
        """While the last units drain elsewhere, the first worker to run out of work
        claims the finalizer role and reads the others' shards as they are written, so
        the job ends soon after its last record (the last busy worker, finding the claim
        held, only waits for the final state). The claim is renewed well before it
        lapses; a worker that stops gives it back (:meth:`_finish`)."""
        now = time.monotonic()
        if self.stop is not None or not self._quota_idle:
            return  # stopping, or its own last records are still running
        if now - self._read_ahead_at < READ_AHEAD_EVERY_S:
            return
        self._read_ahead_at = now
        if self._finalizer_at is None or now - self._finalizer_at >= FINALIZER_CLAIM_S / 3:
            held = await self._io(
                claim_finalizer, self.tables, self.job_id, self.worker, self.run_no
            )
            self._finalizer_at = now if held else None
        if self._finalizer_at is not None:
            await self._io(self.shard_cache.refresh, self.store, self.job_id)

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
