"""Our own retry policy: capped exponential backoff with full jitter, per error class.

botocore's retries are pinned off (``total_max_attempts=1``) so attempts do not
multiply; this layer decides. Each class has its own schedule:

* **throttling** is expected under load and never fails a healthy job: a throttled call
  waits (backoff capped at ``cap_s``) for up to ``throttle_wait_s`` in total. The rate
  limiter slows the whole job meanwhile, and the job's no-progress watchdog ends a job
  that is not healthy.
* **model not ready** (a model being loaded) gets a slower schedule of its own.
* **ModelErrorException** (the model could not process this request) is retried once:
  it is usually the request, not the moment.
* a call with **no reply within its deadline** is retried once: a silent service tends
  to stay silent, and each try costs a whole deadline.
* other **transient** errors (5xx, timeout, reset, malformed reply): ``max_attempts``.

Everything else (validation, access, missing model, credentials, the tokens-per-day
quota, ServiceQuotaExceeded) fails at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import ModelError, ThrottledError, TransientModelError

__all__ = ["RetryPolicy", "is_retryable", "retry_class"]


def is_retryable(error: BaseException) -> bool:
    """True for throttling and transient (5xx, timeout, reset, malformed reply) errors.

    A mapped error may carry ``retryable = False`` (e.g. ServiceQuotaExceeded is a
    ThrottledError that retrying cannot fix).
    """
    if not isinstance(error, (ThrottledError, TransientModelError)):
        return False
    return bool(getattr(error, "retryable", True))


def retry_class(error: BaseException) -> str:
    """``throttle``, ``not_ready``, ``model_error``, ``unresponsive`` or ``transient``."""
    if isinstance(error, ThrottledError):
        return "throttle"
    return str(getattr(error, "retry_class", "transient"))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    ``delay(n)`` before retry *n* (1-based) is uniform in
    ``[0, min(cap, base * 2**(n-1))]`` ("full jitter"): clients that failed together do
    not retry together.
    """

    max_attempts: int = 5  # other transient errors, first call included
    throttle_wait_s: float = 900.0  # total backoff a throttled call may spend
    not_ready_attempts: int = 8
    not_ready_base_s: float = 1.0
    model_error_attempts: int = 2
    unresponsive_attempts: int = 2
    base_s: float = 0.2
    cap_s: float = 20.0

    def should_retry(self, error: BaseException, attempt: int, waited_s: float = 0.0) -> bool:
        """Whether to try again after ``attempt`` calls ended with ``error``, having
        already spent ``waited_s`` seconds in backoff."""
        if not is_retryable(error):
            return False
        kind = retry_class(error)
        if kind == "throttle":
            return waited_s < self.throttle_wait_s
        if kind == "not_ready":
            return attempt < self.not_ready_attempts
        if kind == "model_error":
            return attempt < self.model_error_attempts
        if kind == "unresponsive":
            return attempt < self.unresponsive_attempts
        return attempt < self.max_attempts

    def delay(
        self, retry: int, rng: random.Random | None = None, error: BaseException | None = None
    ) -> float:
        not_ready = error is not None and retry_class(error) == "not_ready"
        base = self.not_ready_base_s if not_ready else self.base_s
        ceiling = min(self.cap_s, base * (2 ** max(0, min(retry, 30) - 1)))
        return (rng or random).uniform(0.0, ceiling)


def final_error(error: ModelError, attempts: int) -> ModelError:
    """``error`` annotated with how many calls were made (for the job log)."""
    error.attempts = attempts  # type: ignore[attr-defined]
    return error
