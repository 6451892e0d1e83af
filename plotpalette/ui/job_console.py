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

Pause needs the live handle (the registry has no pause flag); cancel works in both
modes (elsewhere through the registry's cancel request).
"""

from __future__ import annotations

import collections
import html
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from .. import layout
from ..errors import JobError, JobStateError
from ..jobs import JobEvent, JobHandle, JobInfo, JobState, cancel_job, iter_records, job_status
from ..jobs.states import RESUMABLE_STATES
from ..workspace import Workspace
from ._base import App
from ._job_figures import job_figures, summary_text
from ._job_html import (
    failures_html,
    format_duration,
    format_usd,
    limiter_table,
    records_table,
    state_badge,
)
from ._live import RECENT_RECORDS, LiveJob, find_live, start_live

__all__ = ["JobConsole"]


def _open(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


class JobConsole(App):
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
        workspace: Workspace | str | Path | None = None,
        *,
        backend: Any = None,
        poll_seconds: float = 1.0,
        watch: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(job, JobHandle):
            self.workspace = job.workspace
            live = find_live(self.workspace.location, job.job_id)
            if live is None or live.handle is not job:
                live = start_live(job)
        else:
            self.workspace = _open(workspace)
            live = find_live(self.workspace.location, job)
        self.job_id: str = job.job_id if isinstance(job, JobHandle) else job
        self.backend = backend if backend is not None else (live.handle.backend if live else None)
        self.poll_seconds = poll_seconds
        self.watch = watch
        self.live: LiveJob | None = None
        self.job_info: JobInfo | None = None
        self.result: Any = None  # the JobResult of a live run, once it ended
        self.figures: dict[str, Any] = {}
        self.recent: list[Any] = []
        self._lock = threading.RLock()
        self._poll_thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._last_done: tuple[float, int] | None = None
        self._rate_window: collections.deque[tuple[float, int]] = collections.deque(maxlen=30)
        self._build()
        self.refresh()  # an unknown job id raises JobNotFoundError here
        if live is not None:
            self._attach(live)
        elif watch and self.job_info is not None and not self.job_info.state.is_final:
            self._start_polling()

    # -- widgets -----------------------------------------------------------------------
    def _build(self) -> None:
        self.title_html = widgets.HTML()
        self.state_label = widgets.HTML()
        self.progress_bar = widgets.IntProgress(
            min=0, max=1, value=0, description="records", layout=widgets.Layout(width="60%")
        )
        self.progress_label = widgets.HTML()
        self.spend_bar = widgets.FloatProgress(
            min=0, max=1, value=0, description="spend", layout=widgets.Layout(width="60%")
        )
        self.spend_label = widgets.HTML()
        self.stats_html = widgets.HTML()
        self.limits_html = widgets.HTML()
        self.failures_html = widgets.HTML()
        self.records_html = widgets.HTML()
        self.resume_budget = widgets.BoundedFloatText(
            value=0.0,
            min=0.0,
            max=1e6,
            step=0.1,
            description="new budget $",
            tooltip="budget for Resume (0 keeps the stored budget)",
            layout=widgets.Layout(width="14em"),
        )
        self.pause_button = widgets.Button(description="Pause", icon="pause")
        self.resume_button = widgets.Button(description="Resume", icon="play")
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", button_style="danger"
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.on_click(self.pause_button, self.pause)
        self.on_click(self.resume_button, self.resume)
        self.on_click(self.cancel_button, self.cancel)
        self.on_click(self.refresh_button, self.refresh)
        self.widget = widgets.VBox(
            [
                self.title_html,
                widgets.HBox([self.state_label, self.status]),
                widgets.HBox([self.progress_bar, self.progress_label]),
                widgets.HBox([self.spend_bar, self.spend_label]),
                self.stats_html,
                self.limits_html,
                self.failures_html,
                widgets.HTML("<b>Latest records</b>"),
                self.records_html,
                widgets.HBox(
                    [
                        self.pause_button,
                        self.resume_button,
                        self.cancel_button,
                        self.refresh_button,
                        self.resume_budget,
                    ]
                ),
                self.log,
            ]
        )

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
        if event is None or event.kind == "state":
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
        live = self.live
        return bool(live and live.handle.running and live.handle.controls.paused)

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
        self._render()
        return info

    @App.guard
    def pause(self) -> None:
        """Stop taking new records; calls in flight finish. The job stays RUNNING."""
        live = self.live
        if live is None or not live.handle.running:
            raise JobStateError(
                f"job {self.job_id} is not running in this Python process, so it cannot be "
                "paused from here",
                fix="Pause it from the notebook or process that started it, or Cancel it "
                "(cancel works from anywhere; the job can be resumed later).",
            )
        live.handle.pause()
        self.info("paused: calls in flight finish, no new records start")
        self._render()

    @App.guard
    def resume(self, budget_usd: float | None = None) -> None:
        """Continue a paused job, or restart a stopped one in the background.

        A stopped job (INTERRUPTED, BUDGET_EXCEEDED, FAILED, CANCELLED or QUEUED) is run
        again from where it stopped; records already paid for are kept. ``budget_usd``
        (or the "new budget" box, when not 0) replaces the stored budget.
        """
        live = self.live
        if live is not None and live.handle.running:
            live.handle.resume()
            self.info("resumed")
            self._render()
            return
        info = self.refresh()
        if info.state not in RESUMABLE_STATES:
            raise JobStateError(
                f"job {self.job_id} is {info.state.value}; only a stopped job can be resumed",
                fix="A COMPLETED job is final; a RUNNING one is still working (Pause and "
                "Resume it from the process that started it).",
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
        if not info.state.is_final and self.watch and self._poll_thread is None:
            self._start_polling()
        return self.refresh()

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

    # -- drawing -----------------------------------------------------------------------
    def _figures(self) -> dict[str, Any]:
        """Registry figures, overlaid with the live job's fresher ones when it runs here."""
        assert self.job_info is not None
        live = self.live
        running_here = bool(live and live.handle.running)
        self.figures = job_figures(
            self.job_info,
            live.progress if (live and running_here) else {},
            list(self._rate_window),
            running_here=running_here,
            paused=bool(running_here and live and live.handle.controls.paused),
        )
        return self.figures

    def _render(self) -> None:
        with self._lock:
            if self.job_info is None:
                return
            f = self._figures()
            info = self.job_info
            self.title_html.value = (
                f"<b>{self.title}</b> — <code>{html.escape(self.job_id)}</code> · "
                f"template <code>{html.escape(info.template)}</code>"
            )
            self.state_label.value = state_badge(f["state"])
            self.progress_bar.max = max(1, f["total"])
            self.progress_bar.value = min(f["done"], self.progress_bar.max)
            self.progress_label.value = (
                f"{f['done']} / {f['total']} ({f['progress']:.0%}) — {f['ok']} ok, "
                f"{f['filtered']} filtered, {f['failed']} failed"
            )
            budget = f["budget"]
            self.spend_bar.max = budget if budget else max(f["spend"], 1e-9)
            self.spend_bar.value = min(f["spend"], self.spend_bar.max)
            self.spend_bar.bar_style = (
                "danger"
                if f["state"] == "BUDGET_EXCEEDED"
                else "warning"
                if budget and f["spend"] > 0.9 * budget
                else ""
            )
            self.spend_label.value = (
                f"{format_usd(f['spend'])} of {format_usd(budget)} (waste {format_usd(f['waste'])})"
            )
            tokens = f"{f['tokens']:,} tokens this run · " if f["tokens"] else ""
            self.stats_html.value = (
                f"{tokens}{f['per_min']:.1f} records/min · ETA {format_duration(f['eta_s'])}"
                f" · {f['in_flight']} calls in flight · {f['mode']} view"
            )
            self.limits_html.value = limiter_table(f["limiters"])
            self.failures_html.value = failures_html(f)
            self.records_html.value = records_table(self.recent)
            self._set_buttons(f["state"])

    def _set_buttons(self, state: str) -> None:
        live_running = bool(self.live and self.live.handle.running)
        self.pause_button.disabled = not (live_running and state == "RUNNING")
        self.resume_button.disabled = not (
            state == "PAUSED"
            or (not live_running and JobState(self.job_info.state) in RESUMABLE_STATES)
        )  # type: ignore[union-attr]
        self.cancel_button.disabled = state in ("COMPLETED", "CANCELLED")
