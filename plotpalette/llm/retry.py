"""Our own retry policy: exponential backoff with full jitter, per error class.

botocore's retries are pinned off (``total_max_attempts=1``) so attempts do not
multiply; this layer decides. Throttles get more attempts than other transient
errors because they are expected under load and the rate limiter adapts between
them. Everything else (validation, access, missing model, credentials) fails at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import ModelError, ThrottledError, TransientModelError

__all__ = ["RetryPolicy", "is_retryable"]


def is_retryable(error: BaseException) -> bool:
    """True for throttling and transient (5xx, timeout, reset, malformed reply) errors.

    A mapped error may carry ``retryable = False`` (e.g. ServiceQuotaExceeded is a
    ThrottledError that retrying cannot fix).
    """
    if not isinstance(error, (ThrottledError, TransientModelError)):
        return False
    return bool(getattr(error, "retryable", True))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    ``delay(n)`` before retry *n* (1-based) is uniform in
    ``[0, min(cap_s, base_s * 2**(n-1))]`` ("full jitter"): clients that failed together
    do not retry together.
    """

    max_attempts: int = 5  # for transient errors, first call included
    throttle_max_attempts: int = 12  # for throttling
    base_s: float = 0.2
    cap_s: float = 20.0

    def attempts_for(self, error: BaseException) -> int:
        return (
            self.throttle_max_attempts if isinstance(error, ThrottledError) else self.max_attempts
        )

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether to try again after ``attempt`` calls ended with ``error``."""
        return is_retryable(error) and attempt < self.attempts_for(error)

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, retry - 1)))
        return (rng or random).uniform(0.0, ceiling)


def final_error(error: ModelError, attempts: int) -> ModelError:
    """``error`` annotated with how many calls were made (for the job log)."""
    error.attempts = attempts  # type: ignore[attr-defined]
    return error
