"""Rate limiting per (model, Region): RPM/TPM token buckets plus adaptive concurrency.

Bedrock enforces requests-per-minute and tokens-per-minute quotas per model and
Region. Token quotas count input + cache writes + output × the model's burndown (5 for
Claude 4-family models; see :mod:`.capabilities`): a call reserves input +
``maxTokens`` × burndown when it starts and the unused part is refunded when it ends.
The backend passes tokens already counted that way. A :class:`ModelLimiter` mirrors
this on the client so a job runs at the quota instead of into it:

* **Token buckets** sized from ``settings.rate_limits`` (at 98 % of the quota) pace
  request *starts*.
  Reservations are taken in arrival order (a caller may drive the bucket negative and
  then sleeps until its turn), so waiting is FIFO without locks.
* **Adaptive concurrency (AIMD)**: the in-flight cap grows by one per window of
  successes and shrinks multiplicatively on throttling (at most once per cooldown).
* **Adaptive rate**: on a throttle the limiter measures the rate that actually
  succeeded over the last seconds and paces a little below it, then probes upward
  slowly. With no limits configured this finds the account's quota by itself; with
  limits it also copes with a quota shared with other clients.

Everything runs on the event loop thread (one loop at a time); time comes from an
injectable :class:`Clock` so tests need no real waiting.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .base import LimiterStats

__all__ = [
    "AIMDConcurrency",
    "AdaptiveRate",
    "Clock",
    "LimiterRegistry",
    "ModelLimiter",
    "Permit",
    "TokenBucket",
]


class Clock:
    """Monotonic time and sleeping; tests substitute a fake that advances instantly."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TokenBucket:
    """``per_minute`` refilled continuously, ``burst_s`` seconds deep.

    :meth:`reserve` always succeeds and returns how long to wait before starting, so
    concurrent callers queue in order. A request larger than the bucket waits for a full
    bucket and then drives it negative (big requests are slowed, never starved).
    """

    def __init__(self, per_minute: float, now: float, *, burst_s: float = 1.0) -> None:
        self.burst_s = burst_s
        self.set_rate(per_minute)
        self.level = self.capacity
        self.stamp = now

    def set_rate(self, per_minute: float) -> None:
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0
        self.capacity = max(1.0, self.rate * self.burst_s)
        if hasattr(self, "level"):
            self.level = min(self.level, self.capacity)

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def reserve(self, amount: float, now: float) -> float:
        """Take ``amount`` and return the seconds until it is really available."""
        self._refill(now)
        need = min(amount, self.capacity)
        wait = 0.0 if self.level >= need else (need - self.level) / self.rate
        self.level -= amount
        return wait

    def give(self, amount: float) -> None:
        """Return tokens (a refund, or a negative amount to charge extra)."""
        self.level = min(self.capacity, self.level + amount)


class AIMDConcurrency:
    """In-flight cap: +1 per ``cap`` successes, ×``decrease`` on throttling."""

    def __init__(
        self,
        ceiling: int,
        *,
        start: int | None = None,
        decrease: float = 0.7,
        cooldown_s: float = 1.0,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = float(min(self.ceiling, start or self.ceiling))
        self.decrease = decrease
        self.cooldown_s = cooldown_s
        self._last_cut = float("-inf")

    @property
    def cap(self) -> int:
        return max(1, int(self.limit))

    def on_success(self) -> None:
        self.limit = min(float(self.ceiling), self.limit + 1.0 / max(1.0, self.limit))

    def on_throttle(self, now: float) -> bool:
        """Cut the cap unless it was cut within the cooldown; True if it was cut."""
        if now - self._last_cut < self.cooldown_s:
            return False
        self._last_cut = now
        self.limit = max(1.0, self.limit * self.decrease)
        return True


class AdaptiveRate:
    """A request rate learnt from throttling; ``None`` until the first throttle."""

    def __init__(
        self, *, backoff: float = 0.95, growth_per_s: float = 0.02, cooldown_s: float = 1.0
    ) -> None:
        self.per_s: float | None = None
        self.backoff = backoff
        self.growth_per_s = growth_per_s
        self.cooldown_s = cooldown_s
        self._last_cut = float("-inf")
        self._last_grow: float | None = None

    def on_throttle(self, now: float, measured_per_s: float) -> bool:
        if now - self._last_cut < self.cooldown_s or measured_per_s <= 0:
            return False
        self._last_cut = now
        self._last_grow = now
        self.per_s = measured_per_s * self.backoff
        return True

    def on_success(self, now: float) -> None:
        if self.per_s is None or self._last_grow is None:
            return
        # Probe upward slowly just after a cut, faster the longer no throttle comes
        # (a convex probe, like TCP CUBIC), so a low first estimate is soon corrected.
        accel = 1.0 + max(0.0, now - self._last_cut)
        self.per_s *= 1.0 + self.growth_per_s * accel * max(0.0, now - self._last_grow)
        self._last_grow = now


@dataclass
class Permit:
    """One admitted call; hand it back with :meth:`ModelLimiter.release`."""

    tokens: int
    started: float


class ModelLimiter:
    """Paces calls to one (model, Region) and reports live figures."""

    WINDOW_S = 60.0
    MEASURE_S = 5.0
    HORIZON_S = 0.5  # no call is scheduled further ahead than this at the current rate

    def __init__(
        self,
        model: str,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        concurrency: int = 8,
        clock: Clock | None = None,
        region: str | None = None,
        burst_s: float = 0.5,
        headroom: float = 0.98,
    ) -> None:
        self.model = model
        self.region = region
        self.clock = clock or Clock()
        now = self.clock.now()
        self.rpm_limit, self.tpm_limit = rpm, tpm
        # Pace a hair under the quota: request start times jitter by milliseconds on the
        # way to the service, and at exactly 100 % that jitter alone causes 429s.
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = now
        self._lock = threading.Lock()  # buckets are also used from stream()'s thread

    async def acquire(self, tokens: int) -> Permit:
        """Wait for a concurrency slot and for the buckets; ``tokens`` = input estimate +
        max_tokens (what Bedrock reserves against TPM)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop: waiters of the old one are gone
            self._loop, self.in_flight = loop, 0
            self._waiters.clear()
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
            while True:
                wait = self._reserve(tokens)
                if wait <= self.HORIZON_S * 1.01:  # float slack: never spin on 1e-15
                    break
                # Too far ahead: hand the reservation back and come back later. A wait
                # fixed at reserve time ignored every later rate change (a fleet share
                # growing when a worker leaves, shrinking when one joins), so a queue of
                # calls drained at the old rate for seconds (measured: 0.7 of the bound
                # while a job's last units drained, and throttles at each join).
                self._unreserve(tokens)
                await self.clock.sleep(min(wait - self.HORIZON_S, self.HORIZON_S))
            if wait > 0:
                await self.clock.sleep(wait)
        except BaseException:
            self._free_slot()
            raise
        return Permit(tokens=tokens, started=self.clock.now())

    def _reserve(self, tokens: int) -> float:
        """Take one request and ``tokens`` from the buckets; the wait until allowed."""
        with self._lock:
            now = self.clock.now()
            wait = 0.0
            if self._rpm is not None:
                wait = max(wait, self._rpm.reserve(1, now))
            if self._tpm is not None:
                wait = max(wait, self._tpm.reserve(tokens, now))
            if self.rate.per_s is not None:
                bucket = self._adaptive_bucket
                if bucket is None:
                    bucket = self._adaptive_bucket = TokenBucket(self.rate.per_s * 60, now)
                wait = max(wait, bucket.reserve(1, now))
            return wait

    def _unreserve(self, tokens: int) -> None:
        """Give back what :meth:`_reserve` took (the caller will reserve again later)."""
        with self._lock:
            for bucket, amount in (
                (self._rpm, 1),
                (self._tpm, tokens),
                (self._adaptive_bucket if self.rate.per_s is not None else None, 1),
            ):
                if bucket is not None:
                    bucket.give(amount)

    def pace_blocking(self, tokens: int) -> Permit:
        """:meth:`acquire` for a synchronous caller (``stream()``): waits for the
        buckets by sleeping the calling thread; does not take a concurrency slot."""
        wait = self._reserve(tokens)
        if wait > 0:
            time.sleep(wait)
        return Permit(tokens=tokens, started=self.clock.now())

    def settle_blocking(self, permit: Permit, outcome: str, used_tokens: int = 0) -> None:
        """:meth:`release` for a permit from :meth:`pace_blocking`."""
        self._account(permit, outcome, used_tokens)

    def release(self, permit: Permit, outcome: str, used_tokens: int = 0) -> None:
        """``outcome``: ``"ok"`` (``used_tokens`` = real usage), ``"throttled"``, ``"error"``.

        A throttled call returns its TPM reservation but not its request token (the
        service's bucket is empty: the next call waits); other failures return their
        token reservation only.
        """
        self._account(permit, outcome, used_tokens)
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
        now = self.clock.now()
        fraction = min(1.0, max(1e-3, fraction))
        for bucket, limit in ((self._rpm, self.rpm_limit), (self._tpm, self.tpm_limit)):
            if bucket is not None and limit:
                bucket._refill(now)
                bucket.set_rate(limit * 0.98 * fraction)
        if fleet_per_s is not None and fleet_per_s > 0:
            self.rate.per_s = fleet_per_s * fraction
            # the fleet rate now leads: restart the local convex probe, which otherwise
            # grew by up to (1 + seconds since this process's own last cut) × 2 %/s
            # between heartbeats and overshot the fleet's rate
            self.rate._last_cut = self.rate._last_grow = now
            self._sync_adaptive(now)

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
