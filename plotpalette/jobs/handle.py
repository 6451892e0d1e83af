"""``JobHandle``: run a job in a background thread and steer it (the notebook console).

>>> handle = JobHandle(ws, spec, backend=backend).start()   # doctest: +SKIP
>>> handle.pause(); handle.unpause(); handle.cancel()         # doctest: +SKIP
>>> result = handle.wait()                                   # doctest: +SKIP

Events arrive on ``handle.events`` (a bounded queue: when nobody reads it, the oldest
events are dropped so memory stays flat) and to an optional ``on_event`` callback,
which runs in the job's thread.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from pathlib import Path
from typing import Any

from ..errors import JobError
from ..workspace import Workspace
from .api import JobResult, _workspace, create_job, job_status, run_job
from .events import EventCallback, JobControls, JobEvent
from .registry import JobInfo
from .runner import RunOptions
from .spec import JobSpec

__all__ = ["JobHandle"]


class JobHandle:
    """A job running in a daemon thread, with pause/resume/cancel and an event queue."""

    def __init__(
        self,
        workspace: Workspace | str | Path,
        job: str | JobSpec,
        *,
        backend: Any = None,
        on_event: EventCallback | None = None,
        options: RunOptions | None = None,
        max_events: int = 10_000,
        **run_kwargs: Any,
    ) -> None:
        self.workspace = _workspace(workspace)
        # creating the job here gives callers its id before anything runs
        self.job_id = (
            create_job(self.workspace, job, backend=backend) if isinstance(job, JobSpec) else job
        )
        self.backend = backend
        self.options = options
        self.controls = JobControls()
        self.events: queue.Queue[JobEvent] = queue.Queue(maxsize=max_events)
        self._on_event = on_event
        self._run_kwargs = run_kwargs
        self._thread: threading.Thread | None = None
        self._result: JobResult | None = None
        self._error: BaseException | None = None

    def _deliver(self, event: JobEvent) -> None:
        while True:
            try:
                self.events.put_nowait(event)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.events.get_nowait()  # drop the oldest
        if self._on_event is not None:
            self._on_event(event)

    def _target(self) -> None:
        try:
            self._result = run_job(
                self.workspace,
                self.job_id,
                backend=self.backend,
                on_event=self._deliver,
                controls=self.controls,
                options=self.options,
                handle_signals=False,
                **self._run_kwargs,
            )
        except BaseException as exc:  # handed to wait()
            self._error = exc

    def start(self) -> JobHandle:
        """Start the job in the background; returns ``self``."""
        if self._thread is not None:
            raise JobError(
                f"job {self.job_id} was already started from this handle",
                fix="Create a new JobHandle to resume it.",
            )
        self._thread = threading.Thread(
            target=self._target, daemon=True, name=f"plotpalette-{self.job_id}"
        )
        self._thread.start()
        return self

    def pause(self) -> None:
        """Stop taking new records (calls in flight finish); the job stays RUNNING."""
        self.controls.pause()

    def unpause(self) -> None:
        """Take new records again after :meth:`pause` (the job never stopped).

        Not to be confused with :func:`~plotpalette.resume_job`, which restarts a job
        that has stopped (interrupted, cancelled, failed or over budget)."""
        self.controls.resume()

    def cancel(self) -> None:
        """Stop: the job ends CANCELLED after calls in flight finish (twice: at once)."""
        self.controls.cancel()

    def interrupt(self) -> None:
        """Stop like SIGTERM does: the job ends INTERRUPTED, resumable."""
        self.controls.interrupt("interrupted from the console")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def status(self) -> JobInfo:
        return job_status(self.workspace, self.job_id)

    def wait(self, timeout: float | None = None) -> JobResult:
        """Block until the job ends and return its result (re-raises an engine error)."""
        if self._thread is None:
            raise JobError("the job was not started", fix="Call start() first.")
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"job {self.job_id} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def drain_events(self) -> list[JobEvent]:
        """Every queued event, oldest first (non-blocking)."""
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def __repr__(self) -> str:
        state = "running" if self.running else ("done" if self.done else "not started")
        return f"JobHandle({self.job_id!r}, {state})"
