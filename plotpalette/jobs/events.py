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

__all__ = ["EventCallback", "JobControls", "JobEvent", "job_history"]


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


def _history_text(kind: str, data: dict[str, Any]) -> str | None:
    if kind == "state":
        error = (data.get("error") or {}).get("message")
        run = f" (run {data['run']})" if data.get("run") else ""
        return f"{data.get('state')}{run}" + (f" — {str(error)[:160]}" if error else "")
    if kind == "notify":
        failed = "; ".join(f"{k}: {v}" for k, v in (data.get("errors") or {}).items())
        if failed:
            return f"notification failed ({failed})"
        sent = data.get("sent") or []
        return f"notified via {', '.join(sent)}" if sent else None
    return None


def job_history(registry: Any, job_id: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """How the job got where it is, from the registry's ``events`` log: its state
    changes (with the reason of a stop) and the outcome of its end-of-job
    notifications, oldest first, the last ``limit`` of them. Each entry is
    ``{"ts", "kind", "text"}``; ``status`` and the JobConsole show these."""
    out = []
    for ts, kind, data in registry.events(job_id, limit=1_000_000):
        text = _history_text(kind, data)
        if text is not None:
            out.append({"ts": ts, "kind": kind, "text": text})
    return out[-limit:] if limit > 0 else out
