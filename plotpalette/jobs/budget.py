"""The budget governor: no model call is made unless its worst case fits the budget.

Before a call the runner reserves its worst-case cost
(``prices.worst_case(model, backend.max_input_tokens(request), max_tokens)``); after it
the reservation is settled to the cost of the usage the model reported. A call that
cannot be reserved is not made.

Keeping this cheap at thousands of calls per second without weakening the crash
guarantee: the governor takes reservations from the registry in *grants* (one durable
conditional write covers many calls) and hands them out in memory. The invariant is

    persisted open reservations  >=  worst case of calls in flight
                                     + real cost of finished, not yet settled calls

so at any instant ``registry spend = settled + open >= money really spent``, even if
the process is killed. Settlements are batched into the runner's checkpoints, which
also hand unused grant back.

Grants are sized to the calls expected in the next ``grant_seconds`` at the rate calls
are starting (at least one call, at most ``grant_calls``). A worker killed with
``kill -9`` leaves its open reservation to be booked as spent at takeover; sizing grants
by rate keeps the part of it that no call ever used (the unused grant) to a few
milliseconds of calls, while durable writes stay at most about ``1 / grant_seconds``
per second plus one per ``grant_calls`` calls.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from ..errors import BudgetExceededError
from .registry_types import LedgerRow, Registry

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
        registry: Registry,
        job_id: str,
        worker: str,
        *,
        grant_calls: int = 32,
        grant_seconds: float = 0.01,
    ) -> None:
        self.registry = registry
        self.job_id = job_id
        self.worker = worker
        self.grant_calls = max(1, grant_calls)
        self.grant_seconds = max(0.0, grant_seconds)
        self.grants = 0  # durable grant writes (for benchmarks and tests)
        self._started = 0  # calls started since the last grant
        self._granted_at = time.monotonic()
        # persisted open reservations of this worker
        self.open_usd = 0.0
        self.open_tokens = 0
        # what they cover right now
        self.in_flight_usd = 0.0
        self.in_flight_tokens = 0
        self.in_flight_calls = 0
        self.unsettled_usd = 0.0
        self.unsettled_tokens = 0
        self.unsettled_calls = 0
        self.unsettled_waste = 0.0
        self.last_grant_usd = 0.0
        self.last_grant_tokens = 0
        # totals for this run (events, reports)
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self.waste_usd = 0.0
        self.overruns = 0  # calls that cost more than their reservation (backend bug)
        self._freed: asyncio.Event | None = None
        self._priority_waiting = 0

    # -- figures ---------------------------------------------------------------------
    @property
    def spare_usd(self) -> float:
        return self.open_usd - self.in_flight_usd - self.unsettled_usd

    @property
    def spare_tokens(self) -> int:
        return self.open_tokens - self.in_flight_tokens - self.unsettled_tokens

    def _event(self) -> asyncio.Event:
        if self._freed is None:
            self._freed = asyncio.Event()
        return self._freed

    # -- reserve / settle --------------------------------------------------------------
    async def reserve(self, usd: float, tokens: int, *, priority: bool = False) -> Reservation:
        """Reserve ``usd``/``tokens`` for one call, waiting for calls in flight to settle
        if that could make room. Raises :class:`BudgetExceededError` when nothing is in
        flight and the call still does not fit.

        ``priority`` is for later steps of records already started: new records wait
        while such a call is waiting, so money already spent on a record is not wasted
        by starting others.
        """
        usd = max(0.0, float(usd))
        tokens = max(0, int(tokens))
        if priority:
            self._priority_waiting += 1
        try:
            while True:
                if priority or self._priority_waiting == 0:
                    if self._try_take(usd, tokens):
                        return Reservation(usd, tokens)
                    if self.in_flight_calls == 0 and (priority or self._priority_waiting == 0):
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
                    self._freed.set()  # new records may go ahead again

    def _try_take(self, usd: float, tokens: int) -> bool:
        if self.spare_usd + _EPS < usd or self.spare_tokens < tokens:
            need_usd = max(0.0, usd - self.spare_usd)
            need_tokens = max(0, tokens - self.spare_tokens)
            calls = self._calls_per_grant()
            big_usd = max(need_usd, usd * calls)
            big_tokens = max(need_tokens, tokens * calls)
            # a big grant keeps the registry off the hot path; near the limit, just what
            # this call needs
            bigger = big_usd > need_usd or big_tokens > need_tokens
            if not (
                self._grant(big_usd, big_tokens) or (bigger and self._grant(need_usd, need_tokens))
            ):
                return False
        self.in_flight_usd += usd
        self.in_flight_tokens += tokens
        self.in_flight_calls += 1
        self._started += 1
        return True

    def _calls_per_grant(self) -> int:
        """Calls expected within ``grant_seconds`` at the rate since the last grant."""
        now = time.monotonic()
        elapsed = now - self._granted_at
        rate = self._started / elapsed if elapsed > 0 else float("inf")
        self._started, self._granted_at = 0, now
        if rate == float("inf"):
            return self.grant_calls
        return max(1, min(self.grant_calls, math.ceil(rate * self.grant_seconds)))

    def _grant(self, usd: float, tokens: int) -> bool:
        if not self.registry.reserve(self.job_id, self.worker, usd, tokens):
            return False
        self.open_usd += usd
        self.open_tokens += tokens
        self.last_grant_usd, self.last_grant_tokens = usd, tokens
        self.grants += 1
        return True

    def _close(self, res: Reservation) -> None:
        if not res.open:
            raise RuntimeError("reservation settled twice")
        res.open = False
        self.in_flight_usd -= res.usd
        self.in_flight_tokens -= res.tokens
        self.in_flight_calls -= 1
        if self.in_flight_calls == 0:  # float drift must not accumulate
            self.in_flight_usd, self.in_flight_tokens = 0.0, 0
        if self._freed is not None:
            self._freed.set()

    def settle(self, res: Reservation, usd: float, tokens: int) -> None:
        """The call finished; it cost ``usd`` (from the usage the model reported)."""
        self._close(res)
        if usd > res.usd + 1e-9 or tokens > res.tokens:
            self.overruns += 1
        self.unsettled_usd += usd
        self.unsettled_tokens += tokens
        self.unsettled_calls += 1
        self.spent_usd += usd
        self.spent_tokens += tokens

    def release(self, res: Reservation) -> None:
        """The call failed before it could be billed (throttled, refused, ...)."""
        self._close(res)

    def abandon(self, res: Reservation) -> None:
        """The call was cut off mid-flight: its bill is unknown, so count the worst case
        as spent and wasted."""
        self._close(res)
        self.unsettled_usd += res.usd
        self.unsettled_tokens += res.tokens
        self.unsettled_calls += 1
        self.unsettled_waste += res.usd
        self.spent_usd += res.usd
        self.spent_tokens += res.tokens
        self.waste_usd += res.usd

    def add_waste(self, usd: float) -> None:
        """Mark already-settled cost as wasted (steps of a record that was abandoned)."""
        self.unsettled_waste += usd
        self.waste_usd += usd

    # -- checkpoints -------------------------------------------------------------------
    def ledger_row(self, *, final: bool = False) -> LedgerRow | None:
        """The settlement to persist at a checkpoint (``None`` if nothing changed).

        Settles finished calls and hands back spare grant beyond one grant's worth (all
        of it when ``final``). The caller must persist the row; the in-memory state is
        updated as if it were.
        """
        keep_usd = 0.0 if final else min(self.spare_usd, self.last_grant_usd)
        keep_tokens = 0 if final else min(self.spare_tokens, self.last_grant_tokens)
        release_usd = max(0.0, self.spare_usd - keep_usd)
        release_tokens = max(0, self.spare_tokens - keep_tokens)
        if (
            self.unsettled_calls == 0
            and release_usd <= _EPS
            and release_tokens == 0
            and self.unsettled_waste <= _EPS
        ):
            return None
        row = LedgerRow(
            self.job_id,
            self.worker,
            "settle",
            reserve_usd=-(self.unsettled_usd + release_usd),
            settle_usd=self.unsettled_usd,
            reserve_tokens=-(self.unsettled_tokens + release_tokens),
            settle_tokens=self.unsettled_tokens,
            waste_usd=self.unsettled_waste,
            calls=self.unsettled_calls,
        )
        self.open_usd -= self.unsettled_usd + release_usd
        self.open_tokens -= self.unsettled_tokens + release_tokens
        if final and self.in_flight_calls == 0:
            self.open_usd, self.open_tokens = 0.0, 0
        self.unsettled_usd, self.unsettled_tokens, self.unsettled_calls = 0.0, 0, 0
        self.unsettled_waste = 0.0
        return row
