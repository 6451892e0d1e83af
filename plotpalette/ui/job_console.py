"""JobConsole: watch one job live and pause, resume or cancel it.

>>> console = JobConsole("question_answer-250101-120000-ab12")   # doctest: +SKIP
>>> console                                                       # doctest: +SKIP

The job itself runs in a background thread (a :class:`~plotpalette.jobs.JobHandle`),
so the kernel stays free. The console learns about it in one of two ways:

* **live** — the job was started in this process (by :class:`JobWizard`, a resume, or a
  handle you pass in): its events reach the console through a pump thread, which writes
  the widget values (setting widget values from a thread is safe in ipywidgets);
* **polling** — the job runs elsewhere (the CLI, another kernel, a papermill run) or has
  finished: a thread reads the registry every ``poll_seconds`` until the job stops.

Pause, Resume and Cancel work in both modes: on a live job through its handle, on a
job running elsewhere through the registry (:func:`~plotpalette.jobs.pause_job`,
:func:`~plotpalette.jobs.unpause_job`, :func:`~plotpalette.jobs.cancel_job`), which its
worker reads at its next checkpoint (about a second).

This module follows and controls the job; its widgets and drawing are in
:mod:`._job_console_view`.
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import JobError, JobStateError
from ..jobs import (
    JobEvent,
    JobHandle,
    JobInfo,
    JobState,
    cancel_job,
    iter_records,
    job_status,
    pause_job,
    unpause_job,
)
from ..jobs.events import job_history
from ..jobs.states import RESUMABLE_STATES
from ..workspace import Workspace
from ._base import App, no_positional, reject_positional_workspace
from ._job_console_view import JobConsoleView
from ._job_figures import summary_text
from ._job_html import format_usd
from ._live import RECENT_RECORDS, LiveJob, find_live, start_live

__all__ = ["JobConsole"]


def _open(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


class JobConsole(JobConsoleView):
    """Live view and controls of one job (see the module docstring).

    Args:
        job: a job id, or a :class:`JobHandle` (started here if it is not yet).
        workspace: the job's workspace (default: the current one); ignored for a handle.
        backend: the backend a *resume* from this console uses (default: the job's own).
        poll_seconds: how often a job running elsewhere is re-read from the registry.
        watch: keep the view current by itself (``False``: only on :meth:`refresh`).
    """

    title = "Job console"

    def __init__(
        self,
        job: str | JobHandle,
        *args: object,
        workspace: Workspace | str | Path | None = None,
        backend: Any = None,
        poll_seconds: float = 1.0,
        watch: bool = True,
    ) -> None:
        reject_positional_workspace("JobConsole", job, "JobConsole(job_id, workspace=ws)")
        no_positional("JobConsole (after the job)", args)
        if not isinstance(job, (str, JobHandle)):
            raise TypeError(
                f"JobConsole needs a job id or a JobHandle, got {type(job).__name__}; "
                "write JobConsole(job_id, workspace=ws)"
            )
        super().__init__()
        if isinstance(job, JobHandle):
            self.workspace = job.workspace
            live = find_live(self.workspace.location, job.job_id)
            if live is None or live.handle is not job:
                live = start_live(job)
        else:
            self.workspace = _open(workspace)
            live = find_live(self.workspace.location, job)
            if live is not None and live.finished.is_set():
                # that run is over; the job may have been resumed elsewhere since (the
                # CLI, another kernel), which only the registry knows about
                live = None
        self.job_id: str = job.job_id if isinstance(job, JobHandle) else job
        self.backend = backend if backend is not None else (live.handle.backend if live else None)
        self.poll_seconds = poll_seconds
        self.watch = watch
        self.live: LiveJob | None = None
        self.job_info: JobInfo | None = None
        self.result: Any = None  # the JobResult of a live run, once it ended
        self.figures: dict[str, Any] = {}
        self.recent: list[Any] = []
        self.history: list[dict[str, Any]] = []  # state changes etc. from the events log
        self._history_key: tuple[Any, ...] | None = None
        self._lock = threading.RLock()
        self._poll_thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._last_done: tuple[float, int] | None = None
        self._rate_window: collections.deque[tuple[float, int]] = collections.deque(maxlen=30)
        self._build()
        self.on_click(self.pause_button, self.pause)
        self.on_click(self.resume_button, self.resume)
        self.on_click(self.cancel_button, self.cancel)
        self.on_click(self.refresh_button, self.refresh)
        self.refresh()  # an unknown job id raises JobNotFoundError here
        if live is not None:
            self._attach(live)
        elif watch and self.job_info is not None and not self.job_info.state.is_final:
            self._start_polling()

    # -- live and polling ----------------------------------------------------------------
    def _attach(self, live: LiveJob) -> None:
        if self.live is not None:
            self.live.unsubscribe(self._on_event)
        self.live = live
        self.recent = list(live.recent)
        live.subscribe(self._on_event)
        if live.finished.is_set():
            self._on_event(None)
        else:
            self._render()

    def _on_event(self, event: JobEvent | None) -> None:
        """Runs in the pump thread of the live job."""
        live = self.live
        if live is None:
            return
        if event is not None and event.kind == "records":
            with self._lock:
                self.recent = list(live.recent)
        if event is None or event.kind in ("state", "batch"):  # batch: re-read its status
            if event is None and live.handle.done:
                try:
                    self.result = live.handle.wait(0)
                except Exception as exc:
                    self.error(exc)
            self.refresh()
        else:
            self._render()
        if event is not None and event.kind == "warning":
            self.info(f"warning: {event.data.get('message')}")

    def _start_polling(self) -> None:
        def loop() -> None:
            while not self._closed.wait(self.poll_seconds):
                try:
                    info = self.refresh()
                except Exception as exc:
                    self.error(exc)
                    return
                if info.state.is_final or self.live is not None:
                    return

        self._poll_thread = threading.Thread(
            target=loop, daemon=True, name=f"plotpalette-poll-{self.job_id}"
        )
        self._poll_thread.start()

    # -- public methods (the buttons) --------------------------------------------------
    @property
    def state(self) -> JobState:
        """The registry's state of the job (as of the last refresh)."""
        assert self.job_info is not None
        return self.job_info.state

    @property
    def paused(self) -> bool:
        """Whether the job is paused (live: its controls; elsewhere: the registry flag)."""
        live = self.live
        if live is not None and live.handle.running:
            return live.handle.controls.paused
        info = self.job_info
        return bool(info and info.state is JobState.RUNNING and info.paused)

    @App.guard
    def refresh(self) -> JobInfo:
        """Re-read the job from the registry (and its latest records) and redraw."""
        info = job_status(self.workspace, self.job_id)
        with self._lock:
            self.job_info = info
            if self.live is None and self._last_done != (info.updated_at, info.records_done):
                self._last_done = (info.updated_at, info.records_done)
                tail: collections.deque[Any] = collections.deque(maxlen=RECENT_RECORDS)
                tail.extend(iter_records(self.workspace, self.job_id))
                self.recent = list(tail)
            self._rate_window.append((time.monotonic(), info.records_done))
            # the events log is read again only when the job changed state (not at
            # every poll: a long job's log holds many progress events)
            key = (info.state, info.run, info.finished_at, info.deleted_at)
            if key != self._history_key:
                self._history_key = key
                self.history = job_history(self.workspace.registry, self.job_id, limit=20)
        self._render()
        return info

    @App.guard
    def pause(self) -> None:
        """Stop taking new records; calls in flight finish. The job stays RUNNING.

        A job running elsewhere is paused through the registry; its worker stops taking
        records at its next checkpoint."""
        live = self.live
        if live is not None and live.handle.running:
            live.handle.pause()
            self.info("paused: calls in flight finish, no new records start")
            self._render()
            return
        pause_job(self.workspace, self.job_id)  # JobStateError unless RUNNING
        self.info("pause requested: its worker starts no new record from its next checkpoint")
        self._watch_elsewhere()

    @App.guard
    def resume(self, budget_usd: float | None = None) -> None:
        """Continue a paused job, or restart a stopped one in the background.

        A paused job goes on (through the registry when it runs elsewhere). A stopped
        job (INTERRUPTED, BUDGET_EXCEEDED, FAILED, CANCELLED or QUEUED) is run again
        from where it stopped; records already paid for are kept. ``budget_usd`` (or the
        "new budget" box, when not 0) replaces the stored budget.
        """
        live = self.live
        if live is not None and live.handle.running:
            live.handle.unpause()
            self.info("resumed")
            self._render()
            return
        info = self.refresh()
        if info.state is JobState.RUNNING:
            if not info.paused:
                raise JobStateError(
                    f"job {self.job_id} is RUNNING and not paused; nothing to resume",
                    fix="Pause it first, or wait for it to finish.",
                )
            unpause_job(self.workspace, self.job_id)
            self.info("unpause requested: the job goes on from its next checkpoint")
            self._watch_elsewhere()
            return
        info = self.refresh()
        if info.state not in RESUMABLE_STATES:
            raise JobStateError(
                f"job {self.job_id} is {info.state.value}; only a stopped job can be resumed",
                fix="A COMPLETED job is final; start a new job to generate more records.",
            )
        if budget_usd is None and self.resume_budget.value > 0:
            budget_usd = float(self.resume_budget.value)
        kwargs = {} if budget_usd is None else {"budget_usd": budget_usd}
        handle = JobHandle(self.workspace, self.job_id, backend=self.backend, **kwargs)
        self._attach(start_live(handle))
        extra = f" with a budget of {format_usd(budget_usd)}" if budget_usd is not None else ""
        self.info(f"resumed {self.job_id} in the background{extra}")

    @App.guard
    def cancel(self) -> JobInfo:
        """Stop the job: it ends CANCELLED, keeps its records and can be resumed later."""
        live = self.live
        if live is not None and live.handle.running:
            live.handle.cancel()
            self.info("cancelling: calls in flight finish, then the job stops")
            self._render()
            assert self.job_info is not None
            return self.job_info
        info = cancel_job(self.workspace, self.job_id)
        self.info(f"cancel requested ({info.state.value})")
        return self._watch_elsewhere()

    def _watch_elsewhere(self) -> JobInfo:
        """After a request through the registry: redraw now, and keep polling."""
        info = self.refresh()
        if (
            not info.state.is_final
            and self.watch
            and (self._poll_thread is None or not self._poll_thread.is_alive())
        ):
            self._start_polling()
        return info

    def wait(self, timeout: float | None = None) -> JobInfo:
        """Block until the job stops (for headless runs); returns the registry's view.

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        live = self.live
        if live is not None:
            self.result = live.handle.wait(timeout)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            live.join(remaining if remaining is None else remaining + 5.0)
            return self.refresh()
        while True:
            info = self.refresh()
            if info.state.is_final:
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {self.job_id} still {info.state.value} after {timeout} s")
            time.sleep(self.poll_seconds)

    def raise_for_state(self) -> JobInfo:
        """Raise :class:`JobError` (with the job's own fix) unless the job COMPLETED.

        The last cell of a scheduled notebook calls it, so papermill exits non-zero
        when the job did not produce every record.
        """
        info = self.refresh()
        if info.state is not JobState.COMPLETED:
            error = info.error or {}
            raise JobError(
                f"job {self.job_id} ended {info.state.value} with {info.records_done} of "
                f"{info.records_total} records: {error.get('message', 'no reason recorded')}",
                fix=error.get("fix") or f"Resume it: plotpalette resume {self.job_id}",
            )
        return info

    def close(self) -> None:
        """Stop updating this console (the job itself keeps running)."""
        self._closed.set()
        if self.live is not None:
            self.live.unsubscribe(self._on_event)

    def save_report(self, notebook_path: str | Path) -> str:
        """Copy an executed notebook (a papermill run's output) into the job's folder as
        ``jobs/<id>/report.ipynb``; returns the storage key."""
        data = Path(notebook_path).read_bytes()
        key = layout.report_key(self.job_id)
        self.workspace.store.write_bytes(key, data)
        self.info(f"report saved to {key}")
        return key

    def summary(self) -> str:
        """The console's figures as plain text (for headless runs and logs)."""
        return summary_text(self.job_id, self._figures())
