"""The control laws a :class:`~.limits.ModelLimiter` combines: token buckets that pace
request starts, AIMD concurrency and a request rate learnt from throttling, plus the
injectable :class:`Clock` (tests substitute one that advances instantly).

Each class is plain state with no locking or waiting of its own; the limiter decides
when to consult them and guards them with its lock (see :mod:`.limits`).
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["AIMDConcurrency", "AdaptiveRate", "Clock", "TokenBucket"]


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

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` (at most a full bucket) is available; takes nothing."""
        self._refill(now)
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

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
