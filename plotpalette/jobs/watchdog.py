"""The "no progress" detector: a job whose calls stopped answering is interrupted.

A service that accepts calls and never answers used to leave a job RUNNING with 0
records and no message for many minutes. Per-call deadlines end each silent call; this
watchdog ends the *job* when nothing has progressed (no call settled, no record
finished) for ``stall_s`` while calls were waiting, with a message that says so, and
the job ends INTERRUPTED so a resume picks it up later.

``stall_s`` is twice the longest call the job may legitimately make (the per-call
deadline of its slowest step, with a prompt as long as the model's context allows), so
a healthy slow job is not stopped; backends without deadlines get
:data:`DEFAULT_STALL_S`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..errors import ModelUnresponsiveError

__all__ = ["DEFAULT_STALL_S", "MIN_STALL_S", "ProgressWatchdog"]

DEFAULT_STALL_S = 300.0  # backends that do not say how long a call may take
MIN_STALL_S = 5.0


class ProgressWatchdog:
    """Call :meth:`check` now and then with a counter that grows on any progress."""

    def __init__(self, stall_s: float = DEFAULT_STALL_S) -> None:
        self.stall_s = stall_s
        self._mark: float | None = None
        self._last = -1

    @classmethod
    def for_plans(cls, plans: Sequence[Any], backend: Any) -> ProgressWatchdog:
        """A watchdog whose patience covers the slowest call ``plans`` can make."""
        deadline = getattr(backend, "call_deadline", None)
        if deadline is None:
            return cls(DEFAULT_STALL_S)
        longest = max(
            (float(deadline(m, plan.max_tokens)) for plan in plans for m in plan.models),
            default=DEFAULT_STALL_S / 2,
        )
        return cls(max(MIN_STALL_S, 2 * longest))

    def check(
        self, progress: float, waiting: int, now: float | None = None, last_error: Any = None
    ) -> ModelUnresponsiveError | None:
        """The error to stop the job with, or ``None``. ``progress`` is any counter
        that grows when a call is billed or a record finishes; ``waiting`` is the number
        of calls in flight (nothing waiting is never a stall: e.g. a paused job);
        ``last_error`` is named in the message."""
        now = time.monotonic() if now is None else now
        if progress != self._last or waiting == 0 or self._mark is None:
            self._last, self._mark = progress, now
            return None
        idle = now - self._mark
        if idle < self.stall_s:
            return None
        last = f"; last error: {last_error}" if last_error is not None else ""
        return ModelUnresponsiveError(
            f"no progress for {idle:.0f} s: {waiting} call(s) in flight and no call "
            f"succeeded{last}",
            fix="The job was interrupted; resume it later (`plotpalette resume JOB_ID`), "
            "or check the service's health in the AWS console.",
        )
