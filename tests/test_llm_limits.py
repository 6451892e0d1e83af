"""Rate limiter behaviour with a fake clock: no real waiting, no timing flakiness."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from plotpalette.llm import limits
from plotpalette.llm.limits import (
    AIMDConcurrency,
    Clock,
    LimiterRegistry,
    ModelLimiter,
    TokenBucket,
)


class FakeClock(Clock):
    """Time moves only when someone sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


async def _start_times(
    limiter: ModelLimiter, clock: FakeClock, n: int, tokens: int, used: int | None = None
) -> list[float]:
    starts = []
    for _ in range(n):
        permit = await limiter.acquire(tokens)
        starts.append(clock.now())
        limiter.release(permit, "ok", tokens if used is None else used)
    return starts


def test_rpm_bucket_paces_request_starts():
    clock = FakeClock()
    limiter = ModelLimiter("m", rpm=60, clock=clock, headroom=1.0)  # 1/s, 1 s deep
    starts = asyncio.run(_start_times(limiter, clock, 6, tokens=10))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([1.0] * 5)


def test_tpm_bucket_reserves_tokens_and_refunds_unused_output():
    clock = FakeClock()
    # 600 TPM = 10 tokens/s. Each call reserves 10 but uses all -> one call per second.
    full = ModelLimiter("m", tpm=600, clock=clock, headroom=1.0)
    starts = asyncio.run(_start_times(full, clock, 4, tokens=10))
    assert starts[-1] - starts[0] == pytest.approx(3.0)
    # Same reservations, but only 2 tokens really used: the refund lets calls go faster.
    clock2 = FakeClock()
    light = ModelLimiter("m", tpm=600, clock=clock2)
    starts2 = asyncio.run(_start_times(light, clock2, 4, tokens=10, used=2))
    assert starts2[-1] - starts2[0] < 1.0


def test_request_bigger_than_the_bucket_still_runs():
    clock = FakeClock()
    limiter = ModelLimiter("m", tpm=60, clock=clock, headroom=1.0)  # 1 token/s
    starts = asyncio.run(_start_times(limiter, clock, 2, tokens=30))
    assert starts[1] - starts[0] == pytest.approx(30.0)


def test_concurrency_cap_makes_callers_wait_for_a_release():
    async def scenario() -> list[str]:
        limiter = ModelLimiter("m", concurrency=2)
        log: list[str] = []
        permits = [await limiter.acquire(1), await limiter.acquire(1)]

        async def third() -> None:
            permit = await limiter.acquire(1)
            log.append("third started")
            limiter.release(permit, "ok", 1)

        task = asyncio.create_task(third())
        await asyncio.sleep(0)
        log.append(f"in flight {limiter.in_flight}")
        limiter.release(permits[0], "ok", 1)
        await task
        limiter.release(permits[1], "ok", 1)
        return log

    assert asyncio.run(scenario()) == ["in flight 2", "third started"]


def test_aimd_cuts_on_throttle_once_per_cooldown_and_recovers_on_success():
    aimd = AIMDConcurrency(8, decrease=0.5, cooldown_s=1.0)
    assert aimd.on_throttle(10.0) and aimd.cap == 4
    assert not aimd.on_throttle(10.5) and aimd.cap == 4  # same burst of 429s
    assert aimd.on_throttle(11.2) and aimd.cap == 2
    for _ in range(20):
        aimd.on_success()
    assert aimd.cap > 2
    for _ in range(500):
        aimd.on_success()
    assert aimd.cap == 8  # never above the configured ceiling


def test_throttle_teaches_the_limiter_a_rate_below_what_succeeded():
    clock = FakeClock()
    limiter = ModelLimiter("m", clock=clock, concurrency=4)

    learnt: list[float] = []

    async def scenario() -> list[float]:
        for _ in range(50):  # 10 successes per second for 5 s
            permit = await limiter.acquire(1)
            limiter.release(permit, "ok", 1)
            clock.t += 0.1
        permit = await limiter.acquire(1)
        limiter.release(permit, "throttled")
        learnt.append(limiter.stats().extra["adaptive_rpm"])
        return await _start_times(limiter, clock, 20, tokens=1)

    starts = asyncio.run(scenario())
    assert limiter.stats().throttles == 1
    assert learnt[0] == pytest.approx(0.95 * 600, rel=0.05)
    rate = (len(starts) - 1) / (starts[-1] - starts[0])
    assert 8.0 < rate < 10.0  # paced just below the 10/s that succeeded


def test_a_throttled_call_returns_its_tokens_but_the_next_call_waits():
    """A 429 means the service's request bucket is empty: handing the request token
    back let the next call go at once into it (a throttle cascade across workers)."""
    clock = FakeClock()
    rpm_limited = ModelLimiter("m", rpm=60, clock=clock, headroom=0.98)
    tpm_limited = ModelLimiter("m", tpm=6000, clock=clock)

    async def wait_after_throttle(limiter: ModelLimiter) -> float:
        permit = await limiter.acquire(40)
        limiter.release(permit, "throttled")
        start = clock.now()
        permit = await limiter.acquire(40)
        limiter.release(permit, "ok", 40)
        return clock.now() - start

    assert asyncio.run(wait_after_throttle(tpm_limited)) == 0.0  # TPM reservation returned
    assert asyncio.run(wait_after_throttle(rpm_limited)) == pytest.approx(60 / (60 * 0.98))


def test_stats_report_live_figures():
    clock = FakeClock()
    limiter = ModelLimiter("m", rpm=600, tpm=100_000, clock=clock, region="eu-west-1")
    asyncio.run(_start_times(limiter, clock, 5, tokens=100))
    stats = limiter.stats()
    assert (stats.model, stats.rpm_limit, stats.tpm_limit) == ("m", 600, 100_000)
    assert stats.extra["region"] == "eu-west-1"
    assert stats.rpm > 0 and stats.tpm > 0 and stats.in_flight == 0


def test_registry_picks_limits_by_model_and_region():
    reg = LimiterRegistry({"m@eu-west-1": {"rpm": 10}, "m": {"rpm": 20}, "*": {"rpm": 30}})
    assert reg.get("m", "eu-west-1").rpm_limit == 10
    assert reg.get("m", "us-east-1").rpm_limit == 20
    assert reg.get("other", "us-east-1").rpm_limit == 30
    assert reg.get("m", "us-east-1") is reg.get("m", "us-east-1")
    assert len(reg.stats()) == 3


def test_token_bucket_refills_continuously():
    bucket = TokenBucket(60, now=0.0)
    assert bucket.reserve(1, 0.0) == 0.0
    assert bucket.reserve(1, 0.0) == pytest.approx(1.0)
    assert bucket.reserve(1, 5.0) == 0.0


def test_a_woken_waiter_cancelled_before_it_runs_passes_the_slot_on():
    """If the task a freed slot woke is cancelled before it resumes, the next waiter must
    get the slot — otherwise calls stall with nothing in flight."""

    async def scenario() -> bool:
        limiter = ModelLimiter("m", concurrency=1, clock=FakeClock())
        first = await limiter.acquire(10)
        second = asyncio.ensure_future(limiter.acquire(10))
        third = asyncio.ensure_future(limiter.acquire(10))
        await asyncio.sleep(0)  # both are now queued behind the one slot
        limiter.release(first, "ok", 10)  # wakes `second`...
        second.cancel()  # ...which is cancelled before it can run
        try:
            permit = await asyncio.wait_for(third, timeout=1.0)
        except asyncio.TimeoutError:
            return False
        limiter.release(permit, "ok", 10)
        return True

    assert asyncio.run(scenario())


class StoppedClock(FakeClock):
    """Time never moves: a caller that waits for the clock waits until cancelled."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.get_running_loop().create_future()


def test_a_refund_lets_the_waiting_caller_start_at_once():
    """The next caller starts when a finished call's unused reservation comes back,
    not at a wake-up time computed before the refund (that lost 3-7 % of a TPM quota)."""
    clock = StoppedClock()

    async def scenario() -> tuple[bool, bool, bool]:
        limiter = ModelLimiter("m", tpm=6000, clock=clock, headroom=1.0, burst_s=0.5)  # 50 deep
        first = await limiter.acquire(40)
        second = asyncio.ensure_future(limiter.acquire(40))  # 10 left: must wait
        for _ in range(5):
            await asyncio.sleep(0)
        queued = not second.done()
        limiter.release(first, "ok", 10)  # 30 of the 40 reserved come back
        permit = await asyncio.wait_for(second, timeout=5.0)
        limiter.release(permit, "ok", 40)
        return queued, second.done(), clock.now() != 1000.0

    queued, started, clock_moved = asyncio.run(scenario())
    assert queued and started and not clock_moved  # the fake clock never advanced


def test_callers_start_in_arrival_order():
    clock = FakeClock()

    async def scenario() -> list[str]:
        limiter = ModelLimiter("m", tpm=600, clock=clock, headroom=1.0, burst_s=0.5)  # 5 deep
        order: list[str] = []

        async def call(name: str, tokens: int) -> None:
            permit = await limiter.acquire(tokens)
            order.append(name)
            limiter.release(permit, "ok", tokens)

        await asyncio.gather(call("big", 5), call("bigger", 30), call("small", 1))
        return order

    assert asyncio.run(scenario()) == ["big", "bigger", "small"]


def test_a_share_of_the_quota_paces_at_that_fraction():
    clock = FakeClock()
    limiter = ModelLimiter("m", rpm=60, clock=clock, headroom=1.0)  # 1/s
    limiter.set_share(0.5)  # half of a quota shared with another process
    starts = asyncio.run(_start_times(limiter, clock, 4, tokens=10))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([2.0] * 3)


class SteppedClock(Clock):
    """Time moves only when the test advances it; sleepers wake when their time comes."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.t + seconds, fut))
        await fut

    async def advance_to(self, t: float, step: float = 0.01) -> None:
        while self.t < t:
            self.t += step
            for due, fut in list(self.sleepers):
                if due <= self.t and not fut.done():
                    fut.set_result(None)
            self.sleepers = [(d, f) for d, f in self.sleepers if not f.done()]
            for _ in range(5):
                await asyncio.sleep(0)


def test_a_share_raised_while_calls_wait_speeds_up_the_waiting_calls(monkeypatch):
    """A worker's queued calls follow its fleet share as it changes (another worker
    left): with waits fixed at reserve time they drained at the old, smaller share."""
    monkeypatch.setattr(limits, "_start_jitter", random.Random(7))
    clock = SteppedClock()
    limiter = ModelLimiter("m", rpm=60, clock=clock, burst_s=1.0)
    limiter.set_share(0.25)  # ~0.245 calls/s: the second call would start at ~4.1 s
    starts: list[float] = []

    async def call() -> None:
        permit = await limiter.acquire(1)
        starts.append(clock.now())
        limiter.release(permit, "ok", 1)

    async def main() -> None:
        tasks = [asyncio.create_task(call()) for _ in range(2)]
        await clock.advance_to(0.1)
        limiter.set_share(1.0)  # the other workers left: the whole quota is ours
        await clock.advance_to(6.0)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    # a newcomer starts somewhere in its first call interval (up to 4 s at a quarter
    # share); at the full share (0.995 calls/s) both drain about a second apart
    assert starts[0] < 1.2
    assert starts[1] - starts[0] < 1.2


def test_newcomers_sharing_a_quota_start_together_like_one_worker(monkeypatch):
    """Eight workers joining at once at 1/8 each must stay within what the service's
    quota allows from its first second (each bucket held a whole call: eight first calls
    at once, 3-4 throttled per start)."""
    monkeypatch.setattr(limits, "_start_jitter", random.Random(7))
    clock = SteppedClock()
    fleet = [ModelLimiter("m", rpm=300, clock=clock) for _ in range(8)]
    for limiter in fleet:
        limiter.set_share(1 / 8)
    starts: list[float] = []

    async def call(limiter: ModelLimiter) -> None:
        for _ in range(3):
            permit = await limiter.acquire(1)
            starts.append(clock.now())
            limiter.release(permit, "ok", 1)

    async def main() -> None:
        tasks = [asyncio.create_task(call(limiter)) for limiter in fleet]
        await clock.advance_to(6.0)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert len(starts) == 24
    # the service: 300 RPM = 5 calls/s, a bucket one second deep that starts full
    for n, t in enumerate(sorted(starts), 1):
        assert n <= 5 + 5 * t, f"call {n} at {t:.2f} s would be throttled"
