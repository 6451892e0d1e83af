"""The emulator's per-model RPM/TPM quotas, enforced the way Bedrock enforces them.

Each model gets a request bucket and a token bucket. TPM reserves input + maxTokens at
admission and refunds the unused output when the call ends, so a client that asks for
far more output than it uses is throttled the same way it would be on Bedrock.
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

    def __init__(self, rpm: float | None, tpm: float | None, burst_s: float) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.burst_s = burst_s
        self._buckets: dict[str, tuple[QuotaBucket | None, QuotaBucket | None]] = {}

    def buckets(self, model: str) -> tuple[QuotaBucket | None, QuotaBucket | None]:
        """The (RPM, TPM) buckets of ``model``."""
        if model not in self._buckets:
            self._buckets[model] = (
                QuotaBucket(self.rpm, self.burst_s) if self.rpm else None,
                QuotaBucket(self.tpm, self.burst_s) if self.tpm else None,
            )
        return self._buckets[model]

    def admit(self, model: str, reserved: int) -> bool:
        """Take one request and ``reserved`` tokens; False (nothing taken) to throttle."""
        rpm, tpm = self.buckets(model)
        if rpm is not None and not rpm.try_take(1):
            return False
        if tpm is not None and not tpm.try_take(reserved):
            if rpm is not None:
                rpm.give(1)
            return False
        return True

    def release(self, model: str, reserved: int, used: int) -> None:
        """Refund the part of the TPM reservation that was not used."""
        _, tpm = self.buckets(model)
        if tpm is not None and used:
            tpm.give(max(0, reserved - used))
