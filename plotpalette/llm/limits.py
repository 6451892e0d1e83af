"""Rate limiting per (model, Region): RPM/TPM token buckets plus adaptive concurrency.

Bedrock enforces requests-per-minute and tokens-per-minute quotas per model and
Region. Token quotas count input + cache writes + output × the model's burndown (5 for
Claude 4-family models; see :mod:`.capabilities`): a call reserves input +
``maxTokens`` × burndown when it starts and the unused part is refunded when it ends.
The backend passes tokens already counted that way. A :class:`ModelLimiter` mirrors
this on the client so a job runs at the quota instead of into it:

* **Token buckets** sized from ``settings.rate_limits`` pace request *starts*. Callers
  queue in arrival order and the head of the queue takes its request and tokens when
  the buckets hold them — the moment a refund arrives, not at a wake-up time worked
  out before it (a reservation made on arrival, as this once did, left refunds that
  came in meanwhile unused: about 3 % of a TPM quota at 64 calls in flight).
* **Adaptive concurrency (AIMD)**: the in-flight cap grows by one per window of
  successes and shrinks multiplicatively on throttling (at most once per cooldown).
* **Adaptive rate**: on a throttle the limiter measures the rate that actually
  succeeded over the last seconds and paces a little below it, then probes upward
  slowly. With no limits configured this finds the account's quota by itself; with
  limits it also copes with a quota shared with other clients.

Callers wait on the event loop thread (one loop at a time); ``stream()``'s thread and
the quota-sharing heartbeat touch the buckets under a lock and wake the queue through
the loop. Time comes from an injectable :class:`Clock` so tests need no real waiting.
The buckets, AIMD and adaptive rate themselves are in :mod:`.pacing` (re-exported here).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .base import LimiterStats
from .pacing import AdaptiveRate, AIMDConcurrency, Clock, TokenBucket

_start_jitter = random.Random()  # where in its first call interval a newcomer starts

__all__ = [
    "AIMDConcurrency",
    "AdaptiveRate",
    "Clock",
    "LimiterRegistry",
    "ModelLimiter",
    "Permit",
    "TokenBucket",
]


@dataclass
class Permit:
    """One admitted call; hand it back with :meth:`ModelLimiter.release`."""

    tokens: int
    started: float


class ModelLimiter:
    """Paces calls to one (model, Region) and reports live figures."""

    WINDOW_S = 60.0
    MEASURE_S = 5.0

    def __init__(
        self,
        model: str,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        concurrency: int = 8,
        clock: Clock | None = None,
        region: str | None = None,
        burst_s: float = 0.25,
        headroom: float = 0.995,
    ) -> None:
        self.model = model
        self.region = region
        self.clock = clock or Clock()
        now = self.clock.now()
        self.rpm_limit, self.tpm_limit = rpm, tpm
        self.headroom = headroom
        # Pace a hair under the quota, with a shallow burst: the burst (a full bucket at
        # start) is what request-time jitter eats into, and headroom × 60 s + burst_s
        # stays within one minute's quota, so no 60-s window exceeds it even if the
        # service counted fixed windows. (0.98 and 0.5 s cost 2 % of every run.)
        self._rpm = TokenBucket(rpm * headroom, now, burst_s=burst_s) if rpm else None
        self._tpm = TokenBucket(tpm * headroom, now, burst_s=burst_s) if tpm else None
        self._adaptive_bucket: TokenBucket | None = None
        self.concurrency = AIMDConcurrency(concurrency)
        self.rate = AdaptiveRate()
        self.in_flight = 0
        self.throttles = 0
        self.retries = 0
        self._done: collections.deque[tuple[float, int]] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        # callers waiting for the buckets, in arrival order; the head's future is done
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self._poke: asyncio.Future[None] | None = None  # wakes the head early (a refund)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = now
        self._joined = False  # set_share has not been called yet
        self._lock = threading.Lock()  # buckets are also used from stream()'s thread

    async def acquire(self, tokens: int) -> Permit:
        """Wait for a concurrency slot and for the buckets; ``tokens`` = input estimate +
        max_tokens (what Bedrock reserves against TPM)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop: waiters of the old one are gone
            self._loop, self.in_flight, self._poke = loop, 0, None
            self._waiters.clear()
            self._queue.clear()
        while self.in_flight >= self.concurrency.cap:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_next()  # we were handed a slot we will not use: pass it on
                raise
        self.in_flight += 1
        try:
            await self._take(tokens, loop)
        except BaseException:
            self._free_slot()
            raise
        return Permit(tokens=tokens, started=self.clock.now())

    async def _take(self, tokens: int, loop: asyncio.AbstractEventLoop) -> None:
        """Queue for the buckets; return once one request and ``tokens`` are taken."""
        turn: asyncio.Future[None] = loop.create_future()
        self._queue.append(turn)
        if len(self._queue) == 1:
            turn.set_result(None)
        try:
            await turn
            while (wait := self._take_now(tokens)) > 0:
                # sleep until the buckets refill, or until a refund makes it sooner
                self._poke = poke = loop.create_future()
                sleep = asyncio.ensure_future(self.clock.sleep(wait))
                try:
                    await asyncio.wait({sleep, poke}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleep.cancel()
                    self._poke = None
        finally:
            if turn in self._queue:  # not if a new event loop cleared the queue
                self._queue.remove(turn)
            # the next caller's turn; callers cancelled meanwhile are skipped
            while self._queue and self._queue[0].cancelled():
                self._queue.popleft()
            if self._queue and not self._queue[0].done():
                self._queue[0].set_result(None)

    def _buckets(self, tokens: int, now: float) -> list[tuple[TokenBucket, float]]:
        """The buckets a call takes from, with the amount it takes from each."""
        found: list[tuple[TokenBucket, float]] = []
        if self._rpm is not None:
            found.append((self._rpm, 1))
        if self._tpm is not None:
            found.append((self._tpm, tokens))
        if self.rate.per_s is not None:
            if self._adaptive_bucket is None:
                self._adaptive_bucket = TokenBucket(self.rate.per_s * 60, now)
            found.append((self._adaptive_bucket, 1))
        return found

    def _take_now(self, tokens: int) -> float:
        """Take one request and ``tokens`` if every bucket holds them (returns 0), else
        take nothing and return the seconds until they would."""
        with self._lock:
            now = self.clock.now()
            buckets = self._buckets(tokens, now)
            wait = max((b.wait_for(n, now) for b, n in buckets), default=0.0)
            if wait < 1e-6:  # rounding: a clock may not advance by a few nanoseconds
                for bucket, amount in buckets:
                    bucket.level -= amount
                return 0.0
            return wait

    def _reserve(self, tokens: int) -> float:
        """Take one request and ``tokens`` now, driving buckets negative if need be;
        the wait until that is allowed (for a caller that sleeps a thread)."""
        with self._lock:
            now = self.clock.now()
            buckets = self._buckets(tokens, now)
            return max((b.reserve(n, now) for b, n in buckets), default=0.0)

    def _wake_head(self) -> None:
        """Tokens came back: let the head of the queue look again now."""
        if self._poke is not None and not self._poke.done():
            self._poke.set_result(None)

    def _wake_head_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed meanwhile, so nobody is waiting
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_head)

    def pace_blocking(self, tokens: int) -> Permit:
        """:meth:`acquire` for a synchronous caller (``stream()``): waits for the
        buckets by sleeping the calling thread; does not take a concurrency slot."""
        wait = self._reserve(tokens)
        if wait > 0:
            time.sleep(wait)
        return Permit(tokens=tokens, started=self.clock.now())

    def settle_blocking(self, permit: Permit, outcome: str, used_tokens: int = 0) -> None:
        """:meth:`release` for a permit from :meth:`pace_blocking` (from its thread)."""
        self._account(permit, outcome, used_tokens)
        self._wake_head_threadsafe()

    def release(self, permit: Permit, outcome: str, used_tokens: int = 0) -> None:
        """``outcome``: ``"ok"`` (``used_tokens`` = real usage), ``"throttled"``, ``"error"``.

        A throttled call returns its TPM reservation but not its request token (the
        service's bucket is empty: the next call waits); other failures return their
        token reservation only.
        """
        self._account(permit, outcome, used_tokens)
        self._wake_head()
        self._free_slot()

    def _account(self, permit: Permit, outcome: str, used_tokens: int) -> None:
        with self._lock:
            self._account_locked(permit, outcome, used_tokens)

    def _account_locked(self, permit: Permit, outcome: str, used_tokens: int) -> None:
        now = self.clock.now()
        if outcome == "ok":
            self._done.append((now, used_tokens))
            if self._tpm is not None:
                self._tpm.give(permit.tokens - used_tokens)
            self.concurrency.on_success()
            self.rate.on_success(now)
            self._sync_adaptive(now)
        else:
            if self._tpm is not None:
                self._tpm.give(permit.tokens)
            if outcome == "throttled":
                self.throttles += 1
                if self._rpm is not None:
                    # No refund: a 429 means the service's bucket is empty, and a token
                    # handed back let the next call go at once into that empty bucket
                    # (throttle -> refund -> throttle, measured as 8-28 % of requests
                    # throttled with 2-8 workers). Wait for a fresh token instead.
                    self._rpm.level = min(self._rpm.level, 0.0)
                self.concurrency.on_throttle(now)
                if self.rate.on_throttle(now, self._measured_rate(now)):
                    self._sync_adaptive(now)
                    if self._adaptive_bucket is not None:
                        self._adaptive_bucket.level = 0.0  # the service's bucket is empty too

    def note_retry(self) -> None:
        self.retries += 1

    def set_share(self, fraction: float, fleet_per_s: float | None = None) -> None:
        """Pace at ``fraction`` of the configured quota (this process's share of a
        quota shared by several workers) and, once the fleet learnt a rate from
        throttling, at ``fraction`` of that rate. Set by the job engine's quota sharing
        (:mod:`plotpalette.jobs.coordination.quota`)."""
        fraction = min(1.0, max(1e-3, fraction))
        with self._lock:  # called from a heartbeat thread
            now = self.clock.now()
            for bucket, limit in ((self._rpm, self.rpm_limit), (self._tpm, self.tpm_limit)):
                if bucket is not None and limit:
                    bucket._refill(now)
                    bucket.set_rate(limit * self.headroom * fraction)
            if fleet_per_s is not None and fleet_per_s > 0:
                self.rate.per_s = fleet_per_s * fraction
                # the fleet rate now leads: restart the local convex probe, which
                # otherwise grew by up to (1 + seconds since this process's own last
                # cut) × 2 %/s between heartbeats and overshot the fleet's rate
                self.rate._last_cut = self.rate._last_grow = now
                self._sync_adaptive(now)
            if not self._joined and fraction < 1.0:
                # A newcomer starts at a random point of its first call interval, not
                # with the whole call a bucket holds at least: N workers joining
                # together then call at the fleet's rate from the start, not N calls at
                # once (8 first calls overran the service's 1-s bucket: 3-4 throttles
                # at every start, which cut the fleet to half its rate for ~15 s, 2 % of
                # an 8-worker run on the Batch simulator, measured).
                for bucket in (self._rpm, self._adaptive_bucket):
                    if bucket is not None:
                        bucket.level = min(bucket.level, _start_jitter.random())
            self._joined = True  # once: later heartbeats must not drain its bucket
        self._wake_head_threadsafe()  # the queue's head re-reads the new rates

    def _sync_adaptive(self, now: float) -> None:
        if self.rate.per_s is None:
            return
        per_minute = self.rate.per_s * 60
        if self.rpm_limit:
            per_minute = min(per_minute, float(self.rpm_limit))
            self.rate.per_s = min(self.rate.per_s, self.rpm_limit / 60)
        if self._adaptive_bucket is None:
            self._adaptive_bucket = TokenBucket(per_minute, now)
        else:
            self._adaptive_bucket._refill(now)
            self._adaptive_bucket.set_rate(per_minute)

    def _measured_rate(self, now: float) -> float:
        """Calls per second the service accepted over the last few seconds: the
        successes plus the calls still in flight (admitted; their replies are pending)."""
        span = min(self.MEASURE_S, max(1.0, now - self._started))
        done = sum(1 for t, _ in self._done if t >= now - span)
        return (done + max(0, self.in_flight - 1)) / span

    def _free_slot(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self._wake_next()

    def _wake_next(self) -> None:
        while self._waiters and self.in_flight < self.concurrency.cap:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def stats(self) -> LimiterStats:
        now = self.clock.now()
        while self._done and self._done[0][0] < now - self.WINDOW_S:
            self._done.popleft()
        span = min(self.WINDOW_S, max(1.0, now - self._started))
        scale = self.WINDOW_S / span  # per-minute figures before a full minute has passed
        return LimiterStats(
            model=self.model,
            rpm_limit=self.rpm_limit,
            tpm_limit=self.tpm_limit,
            rpm=len(self._done) * scale,
            tpm=sum(n for _, n in self._done) * scale,
            concurrency=self.concurrency.cap,
            in_flight=self.in_flight,
            throttles=self.throttles,
            retries=self.retries,
            extra={
                "region": self.region,
                "adaptive_rpm": None if self.rate.per_s is None else self.rate.per_s * 60,
            },
        )


class LimiterRegistry:
    """One :class:`ModelLimiter` per (model, Region), sized from ``rate_limits``.

    ``rate_limits`` maps ``"MODEL@REGION"``, ``"MODEL"`` or ``"*"`` (looked up in that
    order) to ``{"rpm": N, "tpm": N}``; missing keys mean "discover adaptively".
    """

    def __init__(
        self,
        rate_limits: Mapping[str, Mapping[str, int]] | None = None,
        *,
        concurrency: int = 8,
        clock: Clock | None = None,
    ) -> None:
        self.rate_limits = dict(rate_limits or {})
        self.concurrency = concurrency
        self.clock = clock or Clock()
        self._limiters: dict[tuple[str, str | None], ModelLimiter] = {}

    def set_concurrency(self, concurrency: int) -> None:
        """A new in-flight ceiling for every limiter, present and future."""
        self.concurrency = max(1, concurrency)
        for limiter in self._limiters.values():
            limiter.concurrency.ceiling = self.concurrency

    def update_limits(self, rate_limits: Mapping[str, Mapping[str, int]]) -> None:
        """Merge ``rate_limits`` over the current ones (a job's own quotas); limiters
        already made are rebuilt on next use."""
        if rate_limits:
            self.rate_limits.update({k: dict(v) for k, v in rate_limits.items()})
            self._limiters.clear()

    def get(self, model: str, region: str | None = None) -> ModelLimiter:
        key = (model, region)
        if key not in self._limiters:
            limits: Mapping[str, int] = {}
            for name in (f"{model}@{region}", model, "*"):
                if name in self.rate_limits:
                    limits = self.rate_limits[name]
                    break
            self._limiters[key] = ModelLimiter(
                model,
                rpm=limits.get("rpm"),
                tpm=limits.get("tpm"),
                concurrency=self.concurrency,
                clock=self.clock,
                region=region,
            )
        return self._limiters[key]

    def stats(self) -> list[LimiterStats]:
        return [limiter.stats() for limiter in self._limiters.values()]

    def all(self) -> list[ModelLimiter]:
        """The limiters created so far (one per model and Region used)."""
        return list(self._limiters.values())
