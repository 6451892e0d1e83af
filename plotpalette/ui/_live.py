"""Jobs running in *this* process, so any number of consoles can attach to one.

A :class:`~plotpalette.jobs.JobHandle` has one event queue, so exactly one reader may
drain it. :class:`LiveJob` is that reader: a pump thread takes the handle's events,
keeps what a newly opened console needs to show at once (the latest progress figures,
the last few records, state, warnings) and passes each event on to the subscribed
consoles. Consoles in *other* processes cannot see the handle; they poll the registry.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from ..jobs import JobEvent, JobHandle

__all__ = ["LiveJob", "find_live", "start_live"]

Subscriber = Callable[[JobEvent | None], None]  # None: the job's thread has ended

_LOCK = threading.Lock()
_LIVE: dict[tuple[str, str], LiveJob] = {}
RECENT_RECORDS = 5


class LiveJob:
    """A started :class:`JobHandle` plus the state its events built up so far."""

    def __init__(self, handle: JobHandle) -> None:
        self.handle = handle
        self.job_id = handle.job_id
        self.progress: dict[str, Any] = {}
        self.recent: collections.deque[Any] = collections.deque(maxlen=RECENT_RECORDS)
        self.state: str | None = None
        self.error: dict[str, Any] | None = None
        self.warnings: list[str] = []
        self.finished = threading.Event()  # the pump has seen the job's thread end
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._pump = threading.Thread(
            target=self._run, daemon=True, name=f"plotpalette-console-{self.job_id}"
        )
        self._pump.start()

    def subscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def _apply(self, event: JobEvent) -> None:
        if event.kind == "progress":
            self.progress = dict(event.data)
        elif event.kind == "records":
            self.recent.extend(event.data.get("records", []))
        elif event.kind == "state":
            self.state = event.data.get("state")
            self.error = event.data.get("error")
        elif event.kind == "warning":
            self.warnings.append(str(event.data.get("message", "")))

    def _notify(self, event: JobEvent | None) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            with contextlib.suppress(Exception):
                callback(event)

    def _run(self) -> None:
        while True:
            try:
                event = self.handle.events.get(timeout=0.2)
            except queue.Empty:
                if self.handle.done and self.handle.events.empty():
                    break
                continue
            self._apply(event)
            self._notify(event)
        self.finished.set()
        self._notify(None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every event of the job has been passed on; True if so."""
        return self.finished.wait(timeout)


def _key(handle: JobHandle) -> tuple[str, str]:
    return (handle.workspace.location, handle.job_id)


def start_live(handle: JobHandle) -> LiveJob:
    """Start ``handle`` (if it is not yet) and register it for consoles to find."""
    if handle.done is False and handle.running is False:
        handle.start()
    live = LiveJob(handle)
    with _LOCK:
        _LIVE[_key(handle)] = live
    return live


def find_live(workspace_location: str, job_id: str) -> LiveJob | None:
    """The live job of this process with that id, if one was started here."""
    with _LOCK:
        return _LIVE.get((workspace_location, job_id))
