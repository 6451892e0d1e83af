"""The "no progress" detector: a job whose calls stopped answering is interrupted.

A service that accepts calls and never answers used to leave a job RUNNING with 0
records and no message for many minutes. Per-call deadlines end each silent call; this
watchdog ends the *job* when nothing has progressed (no call settled, no record
finished) for ``stall_s`` while calls were waiting, with a message that says so, and
the job ends INTERRUPTED so a resume picks it up later.

``stall_s`` is never shorter than the longest call the job may legitimately make (a
big ``max_tokens`` on a slow model), so a healthy slow job is not stopped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..errors import ModelUnresponsiveError

__all__ = ["DEFAULT_STALL_S", "ProgressWatchdog"]

DEFAULT_STALL_S = 120.0


class ProgressWatchdog:
    """Call :meth:`check` now and then with a counter that grows on any progress."""

    def __init__(self, stall_s: float = DEFAULT_STALL_S) -> None:
        self.stall_s = stall_s
        self._mark: float | None = None
        self._last = -1

    @classmethod
    def for_plans(
        cls, plans: Sequence[Any], backend: Any, floor_s: float = DEFAULT_STALL_S
    ) -> ProgressWatchdog:
        """A watchdog whose patience covers the slowest call ``plans`` can make."""
        deadline = getattr(backend, "call_deadline", None)
        longest = 0.0
        if deadline is not None:
            for plan in plans:
                for model in plan.models:
                    longest = max(longest, float(deadline(model, plan.max_tokens)))
        return cls(max(floor_s, 1.5 * longest))

    def check(
        self, progress: float, waiting: int, now: float | None = None
    ) -> ModelUnresponsiveError | None:
        """The error to stop the job with, or ``None``. ``progress`` is any counter
        that grows when a call settles or a record finishes; ``waiting`` is the number
        of calls in flight (nothing waiting is never a stall: e.g. a paused job)."""
        now = time.monotonic() if now is None else now
        if progress != self._last or waiting == 0 or self._mark is None:
            self._last, self._mark = progress, now
            return None
        idle = now - self._mark
        if idle < self.stall_s:
            return None
        return ModelUnresponsiveError(
            f"no progress for {idle:.0f} s: {waiting} call(s) in flight and none answered; "
            "the model service accepts calls but does not reply",
            fix="The job was interrupted; resume it later (`plotpalette resume JOB_ID`), "
            "or check the service's health in the AWS console.",
        )
