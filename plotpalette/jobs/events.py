"""Events the runner reports, and the controls other threads use to steer it.

The runner prints nothing: it calls ``on_event(JobEvent)`` (from its own thread) and
subscribers (the CLI progress bar, the notebook console, logs) decide what to show.
Kinds:

- ``state``: ``{"state", "error"}`` whenever the job changes state;
- ``progress``: counts, spend, throughput, in-flight calls, limiter figures;
- ``records``: ``{"records": [Record, ...]}`` just written to a shard;
- ``warning``: ``{"message"}`` (for example a backend reporting more usage than the
  reservation allowed for).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventCallback", "JobControls", "JobEvent"]


@dataclass
class JobEvent:
    kind: str
    job_id: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)


EventCallback = Callable[[JobEvent], None]


class JobControls:
    """Pause, resume, cancel or interrupt a running job from any thread.

    ``cancel`` ends the job CANCELLED, ``interrupt`` (what SIGTERM and Ctrl-C do) ends
    it INTERRUPTED; both stop taking new records, let calls in flight finish within the
    grace period and write the checkpoint. Asking twice abandons calls in flight at
    once (their worst-case cost stays in the ledger as waste).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused = False
        self._stop: tuple[str, str] | None = None
        self._abandon = False

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def _request(self, kind: str, reason: str) -> None:
        with self._lock:
            if self._stop is not None:
                self._abandon = True
            else:
                self._stop = (kind, reason)
            self._paused = False

    def cancel(self, reason: str = "cancelled by the user") -> None:
        self._request("cancel", reason)

    def interrupt(self, reason: str = "interrupted") -> None:
        self._request("interrupt", reason)

    def abandon(self) -> None:
        """Stop now without waiting for calls in flight."""
        with self._lock:
            self._abandon = True
            if self._stop is None:
                self._stop = ("interrupt", "abandoned")

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stop_request(self) -> tuple[str, str] | None:
        return self._stop

    @property
    def abandon_requested(self) -> bool:
        return self._abandon
