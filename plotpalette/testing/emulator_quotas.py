"""The emulator's per-model RPM/TPM/TPD quotas, enforced the way Bedrock enforces them.

Each model gets a request bucket and token buckets (per minute, and per day when set).
Token quotas reserve input + maxTokens × burndown at admission and refund the unused
part when the call ends, so a client that asks for far more output than it uses is
throttled the same way it would be on Bedrock. The caller passes tokens already
weighted by the model's burndown.
"""

from __future__ import annotations

import time

__all__ = ["ModelQuotas", "QuotaBucket"]


class QuotaBucket:
    """Refills at ``rate``/s up to ``capacity``; a request may take more than is left
    (the level goes negative) only when the bucket is full, so big requests still fit."""

    def __init__(self, per_minute: float, burst_s: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def try_take(self, amount: float) -> bool:
        """Take ``amount`` if the bucket allows it now; False when it must throttle."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= min(amount, self.capacity):
            self.level -= amount
            return True
        return False

    def give(self, amount: float) -> None:
        """Return ``amount`` (a refund), never above capacity."""
        self.level = min(self.capacity, self.level + amount)


class ModelQuotas:
    """The RPM and TPM buckets of every model, made on first use.

    Not thread-safe by itself: the emulator calls it under its own lock. ``None`` for
    ``rpm`` or ``tpm`` means that quota is unlimited.
    """

    def __init__(
        self, rpm: float | None, tpm: float | None, burst_s: float, tpd: float | None = None
    ) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.tpd = tpd
        self.burst_s = burst_s
        self._buckets: dict[str, tuple[QuotaBucket | None, ...]] = {}

    def buckets(self, model: str) -> tuple[QuotaBucket | None, ...]:
        """The (RPM, TPM, TPD) buckets of ``model``."""
        if model not in self._buckets:
            self._buckets[model] = (
                QuotaBucket(self.rpm, self.burst_s) if self.rpm else None,
                QuotaBucket(self.tpm, self.burst_s) if self.tpm else None,
                # a day's quota, full at the start, refilling over 24 hours
                QuotaBucket(self.tpd / 1440, 86_400.0) if self.tpd else None,
            )
        return self._buckets[model]

    def admit(self, model: str, reserved: int) -> str | None:
        """Take one request and ``reserved`` tokens; the quota that refuses (``"rpm"``,
        ``"tpm"``, ``"tpd"``) with nothing taken, or ``None`` when admitted."""
        rpm, tpm, tpd = self.buckets(model)
        taken: list[tuple[QuotaBucket, float]] = []
        checks = (("tpd", tpd, reserved), ("rpm", rpm, 1), ("tpm", tpm, reserved))
        for name, bucket, amount in checks:
            if bucket is None:
                continue
            if not bucket.try_take(amount):
                for done, n in taken:
                    done.give(n)
                return name
            taken.append((bucket, amount))
        return None

    def release(self, model: str, reserved: int, used: int) -> None:
        """Refund the part of the token reservations that was not used."""
        _, tpm, tpd = self.buckets(model)
        for bucket in (tpm, tpd):
            if bucket is not None and used:
                bucket.give(max(0, reserved - used))
