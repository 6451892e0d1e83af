"""The budget governor: no model call starts unless its worst case is covered, twice.

Before a call the worker reserves its worst-case cost
(``prices.worst_case(model, backend.max_input_tokens(request), max_tokens)``) in
memory, against two durable limits:

1. its **budget lease** (:mod:`.coordination.leases`): money taken from the job's budget
   item in one conditional write, sized to ``lease_seconds`` of spend at the current
   rate (and, near the end, to a fair share of what is left, so the last dollars are
   spread over the workers instead of sitting in one worker's lease);
2. its **mark** (:mod:`.coordination.workers`): the cumulative amount this worker may
   have consumed on the lease, written with its heartbeat and raised about every
   ``mark_seconds`` of spend.

After the call the reservation is settled to the usage's real cost in memory; bookings
reach the budget item at lease top-ups, every ``settle_seconds`` and at the end. A call
whose bill is unknown (the request was sent, no usable reply) is booked at its worst
case, as waste, each attempt (see :mod:`plotpalette.llm.attempts`).

Why it holds with ``kill -9``: the worker never has more in flight or spent than its
mark, and the mark never exceeds its lease. A dead worker's lease is reclaimed by
booking its mark, so the job's spend covers what was really spent, with a bias of at
most the mark's headroom instead of the whole lease.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BudgetExceededError
from .coordination import leases
from .coordination.workers import Fenced, WorkerItem

__all__ = ["BudgetGovernor", "Reservation"]

_EPS = 1e-12


@dataclass
class Reservation:
    """The worst case one call may cost (dollars and tokens)."""

    usd: float
    tokens: int
    open: bool = True


class BudgetGovernor:
    """Reserve/settle for one worker of one job. Used from a single asyncio loop."""

    def __init__(
        self,
        tables: Any,
        job_id: str,
        me: WorkerItem,
        *,
        lease_seconds: float = 10.0,
        mark_seconds: float = 1.0,
        settle_seconds: float = 10.0,
        live_workers: int = 1,
    ) -> None:
        self.tables = tables
        self.job_id = job_id
        self.me = me
        self.worker = me.worker
        self.lease_seconds = lease_seconds
        self.mark_seconds = mark_seconds
        self.settle_seconds = settle_seconds
        self.live_workers = live_workers
        # fences dead workers and frees their leases (blocking; the runner sets it):
        # without it, money a killed worker's lease still held made a newcomer stop
        # BUDGET_EXCEEDED with half the budget unspent
        self.reclaim: Callable[[], object] | None = None
        self.lease_usd = 0.0  # unbooked lease as of the last budget write
        self.lease_tokens = 0
        self.booked_usd = 0.0
        self.booked_tokens = 0
        self.used_usd = 0.0  # cumulative on this lease: finished calls + waste
        self.used_tokens = 0
        self.in_flight_usd = 0.0
        self.in_flight_tokens = 0
        self.in_flight_calls = 0
        self.calls = 0
        self.answered = 0  # calls settled from a reply (not booked at worst case)
        self.first_call_at: float | None = None  # wall time of the first reservation
        self.waste_usd = 0.0
        self.opened = False
        self.closed = False
        self.fenced = False
        self.exhausted = False  # the job's budget cannot cover the next call
        self.budget_writes = 0  # durable writes of the budget item (benchmarks)
        self.mark_writes = 0
        self.overruns = 0  # calls that cost more than their reservation (backend bug)
        self.committed_usd = 0.0  # room kept for later steps of started records
        self._lock = asyncio.Lock()
        self._freed: asyncio.Event | None = None
        self._priority_waiting = 0
        self._rate_t0 = time.monotonic()
        self._rate_usd = 0.0  # worst case reserved since _rate_t0
        self._rate = 0.0  # dollars of worst case per second
        self._last_settle = time.monotonic()
        self._last_grant = 0.0
        self._free_grant = 1

    # -- figures ---------------------------------------------------------------------
    @property
    def spent_usd(self) -> float:
        return self.used_usd

    @property
    def spent_tokens(self) -> int:
        return self.used_tokens

    @property
    def open_usd(self) -> float:
        return self.lease_usd

    def _room(self) -> tuple[float, int]:
        """What the lease still covers for new calls."""
        usd = self.booked_usd + self.lease_usd - self.used_usd - self.in_flight_usd
        tok = self.booked_tokens + self.lease_tokens - self.used_tokens - self.in_flight_tokens
        return usd, tok

    def _event(self) -> asyncio.Event:
        if self._freed is None:
            self._freed = asyncio.Event()
        return self._freed

    # -- reserve / settle --------------------------------------------------------------
    def ticket(self) -> list[float]:
        """Room kept (softly) for one record's later steps; see :meth:`reserve`."""
        return [0.0]

    def uncommit(self, ticket: list[float] | None) -> None:
        if ticket and ticket[0] > 0:
            self.committed_usd = max(0.0, self.committed_usd - ticket[0])
            ticket[0] = 0.0

    async def reserve(
        self,
        usd: float,
        tokens: int,
        *,
        priority: bool = False,
        ticket: list[float] | None = None,
        later: int = 0,
    ) -> Reservation:
        """Reserve ``usd``/``tokens`` for one call, waiting for calls in flight to settle
        if that could make room. Raises :class:`BudgetExceededError` when nothing is in
        flight and the call still does not fit; :class:`Fenced` when this worker lost
        its lease. ``priority`` is for later steps of records already started: new
        records wait while such a call waits, so money spent on a record is not wasted.
        """
        usd, tokens = max(0.0, float(usd)), max(0, int(tokens))
        if priority:
            self._priority_waiting += 1
        try:
            while True:
                if self.fenced:
                    raise Fenced("this worker's budget lease was reclaimed")
                if priority or self._priority_waiting == 0:
                    # a new record also needs room for the later steps of the records
                    # already started (and its own, estimated at this step's worst
                    # case): when the budget binds, started records finish first
                    keep = 0.0 if priority else self.committed_usd + usd * later
                    self.uncommit(ticket)  # this step draws on the room kept for it
                    if await self._fits(usd, tokens, keep):
                        if ticket is not None and later:
                            ticket[0] = usd * later
                            self.committed_usd += ticket[0]
                        self.in_flight_usd += usd
                        self.in_flight_tokens += tokens
                        self.in_flight_calls += 1
                        self._rate_usd += usd
                        if self.first_call_at is None:
                            self.first_call_at = time.time()
                        return Reservation(usd, tokens)
                    if self.in_flight_calls == 0:
                        self.exhausted = True
                        raise BudgetExceededError(
                            f"the next call needs up to ${usd:.6f} ({tokens} tokens) and "
                            "does not fit in what is left of the budget"
                        )
                event = self._event()
                event.clear()
                await event.wait()
        finally:
            if priority:
                self._priority_waiting -= 1
                if self._freed is not None:
                    self._freed.set()

    async def _fits(self, usd: float, tokens: int, keep: float = 0.0) -> bool:
        """Make sure the lease covers one more call plus ``keep`` and the mark covers
        the call (durable writes if needed); False when the budget cannot."""
        room_usd, room_tok = self._room()
        if room_usd + _EPS < usd + keep or room_tok < tokens:
            async with self._lock:
                room_usd, room_tok = self._room()
                if room_usd + _EPS < usd + keep or room_tok < tokens:
                    await self._sync(need_usd=usd + keep, need_tokens=tokens, topup=True)
                    room_usd, room_tok = self._room()
                    if (room_usd + _EPS < usd + keep or room_tok < tokens) and self.reclaim:
                        await asyncio.to_thread(self.reclaim)  # leases of the dead
                        await self._sync(need_usd=usd + keep, need_tokens=tokens, topup=True)
                        room_usd, room_tok = self._room()
                    if room_usd + _EPS < usd + keep or room_tok < tokens:
                        return False
        cap_usd = self.used_usd + self.in_flight_usd + usd
        cap_tok = self.used_tokens + self.in_flight_tokens + tokens
        if cap_usd > self.me.data["cap_usd"] + _EPS or cap_tok > self.me.data["cap_tokens"]:
            async with self._lock:
                await self._mark(usd, tokens)
            return await self._fits(usd, tokens, keep)  # the world moved while we wrote
        return True

    def _rate_now(self) -> float:
        now = time.monotonic()
        elapsed = now - self._rate_t0
        if elapsed >= 0.5:
            inst = self._rate_usd / elapsed
            self._rate = inst if self._rate == 0 else 0.5 * self._rate + 0.5 * inst
            self._rate_t0, self._rate_usd = now, 0.0
        return self._rate

    async def _mark(self, usd: float, tokens: int) -> None:
        cap_usd = self.used_usd + self.in_flight_usd + usd
        cap_tok = self.used_tokens + self.in_flight_tokens + tokens
        if cap_usd <= self.me.data["cap_usd"] + _EPS and cap_tok <= self.me.data["cap_tokens"]:
            return
        head_usd = max(4 * usd, self._rate_now() * self.mark_seconds)
        head_tok = 4 * tokens if usd <= 0 else int(head_usd / usd * tokens)
        lease_usd = self.booked_usd + self.lease_usd
        lease_tok = self.booked_tokens + self.lease_tokens
        new_usd = min(lease_usd, cap_usd + head_usd)
        new_tok = min(lease_tok, cap_tok + head_tok)
        await self._write_me(cap_usd=new_usd, cap_tokens=new_tok)

    async def _write_me(self, **changes: Any) -> None:
        try:
            await asyncio.to_thread(self.me.write, **changes)
        except Fenced:
            self.fenced = True
            raise
        self.mark_writes += 1

    async def _sync(
        self,
        *,
        need_usd: float = 0.0,
        need_tokens: int = 0,
        close: bool = False,
        topup: bool = False,
    ) -> None:
        """One budget write: book what was used, and top the lease up (or close it)."""
        if self.closed:
            return
        if self.exhausted and not close and not topup:
            return
        booked_after = self.used_usd
        if close or not topup:  # close, or a periodic settle that keeps the lease
            keep_usd = self.booked_usd + self.lease_usd - booked_after
            keep_tok = self.booked_tokens + self.lease_tokens - self.used_tokens
            want_usd, want_tok = max(0.0, keep_usd), max(0, keep_tok)
        else:
            # seconds of spend at the current rate; doubling until the rate is known
            grow = min(2 * self._last_grant, 1024 * need_usd)
            extra = max(2 * need_usd, self._rate_now() * self.lease_seconds, grow)
            self._last_grant = extra
            # tokens in the same proportion (free calls: a growing number of calls' worth)
            calls = extra / need_usd if need_usd > 0 else 2 * self._free_grant
            self._free_grant = min(1024, max(1, 2 * self._free_grant))
            want_usd = self.in_flight_usd + extra
            want_tok = self.in_flight_tokens + max(2 * need_tokens, int(calls * need_tokens))
        settlement = leases.Settlement(
            used_usd=self.used_usd,
            used_tokens=self.used_tokens,
            waste_usd=self.waste_usd,
            calls=self.calls,
            want_usd=want_usd,
            want_tokens=want_tok,
            need_usd=self.in_flight_usd + need_usd,
            need_tokens=self.in_flight_tokens + need_tokens,
            live_workers=self.live_workers,
            create=not self.opened,
            close=close,
        )
        got = await asyncio.to_thread(
            leases.sync_lease, self.tables, self.job_id, self.worker, settlement
        )
        self.budget_writes += 1
        if got is None:
            self.fenced = True
            raise Fenced("this worker's budget lease was reclaimed")
        state, _ = got
        self.opened = True
        self.closed = close
        self.lease_usd, self.lease_tokens = state.usd, state.tokens
        self.booked_usd, self.booked_tokens = state.booked_usd, state.booked_tokens
        self._last_settle = time.monotonic()

    def _close(self, res: Reservation) -> bool:
        if not res.open:
            return False
        res.open = False
        self.in_flight_usd -= res.usd
        self.in_flight_tokens -= res.tokens
        self.in_flight_calls -= 1
        if self.in_flight_calls == 0:  # float drift must not accumulate
            self.in_flight_usd, self.in_flight_tokens = 0.0, 0
        if self._freed is not None:
            self._freed.set()
        return True

    def settle(self, res: Reservation, usd: float, tokens: int) -> None:
        """The call finished; it cost ``usd`` (from the usage the model reported)."""
        if not self._close(res):
            return
        if usd > res.usd + 1e-9 or tokens > res.tokens:
            self.overruns += 1
        self.used_usd += usd
        self.used_tokens += tokens
        self.calls += 1
        self.answered += 1

    def release(self, res: Reservation) -> None:
        """The call was refused before it could be billed (throttled, invalid, ...)."""
        self._close(res)

    def abandon(self, res: Reservation) -> None:
        """The call's bill is unknown (cut off mid-flight, no usable reply): book its
        worst case as spent and wasted."""
        if self._close(res):
            self.used_usd += res.usd
            self.used_tokens += res.tokens
            self.waste_usd += res.usd
            self.calls += 1

    async def rebook(self, res: Reservation) -> None:
        """An attempt with an unknown bill is retried: book it (worst case, waste) and
        reserve the same worst case again for the retry, under the same reservation."""
        self.abandon(res)
        again = await self.reserve(res.usd, res.tokens, priority=True)
        again.open = False  # its accounting moves onto ``res``
        res.open = True

    def add_waste(self, usd: float) -> None:
        """Mark already-booked cost as wasted (steps of a record that was abandoned)."""
        self.waste_usd += usd

    # -- checkpoints -------------------------------------------------------------------
    async def checkpoint(self, *, final: bool = False) -> None:
        """Book spend every ``settle_seconds`` (always when ``final``: then the lease is
        closed and its spare money goes back to the job)."""
        async with self._lock:
            if self.closed or self.fenced:
                return
            if final:
                if self.opened:
                    await self._sync(close=True)
                self.closed = True
                return
            due = time.monotonic() - self._last_settle >= self.settle_seconds
            if self.opened and due and (self.used_usd > self.booked_usd + _EPS):
                await self._sync()
