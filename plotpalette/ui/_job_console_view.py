"""JobConsole's view: its widgets, and drawing a job's figures into them.

A base class of :class:`~plotpalette.ui.job_console.JobConsole`, which follows the job
(live events or registry polling) and sets ``job_info``, ``live`` and ``recent``; this
class only shows them. The numbers come from :func:`._job_figures.job_figures`, the
HTML and the records grid's rows from :mod:`._job_html`; the grid is the apps' shared
ipydatagrid (:mod:`._grid`), so the latest records sort and filter like the jobs do.
"""

from __future__ import annotations

import collections
import html
import threading
from typing import Any

import ipywidgets as widgets

from ..jobs import JobInfo, JobState
from ..jobs.states import RESUMABLE_STATES
from ._base import App
from ._grid import data_grid, frame_of, set_frame
from ._job_figures import job_figures, workers_text
from ._job_html import (
    failures_html,
    format_duration,
    format_usd,
    history_html,
    limiter_table,
    records_frame,
    state_badge,
)
from ._live import LiveJob

__all__ = ["JobConsoleView"]

# the record number and status are narrow; output texts (80 characters) get room
_RECORD_WIDTHS = {"record": 70, "status": 110, "cost": 90}


class JobConsoleView(App):
    """The console's widgets and drawing; the console supplies the job's state."""

    job_id: str
    job_info: JobInfo | None
    live: LiveJob | None
    recent: list[Any]
    history: list[dict[str, Any]]
    figures: dict[str, Any]
    paused: bool
    _lock: threading.RLock
    _rate_window: collections.deque[tuple[float, int]]

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
        self.records_html = widgets.HTML("<i>no records yet</i>")  # hidden once there are
        self.records_grid = data_grid(records_frame([]), key="record", widths=_RECORD_WIDTHS)
        self.records_grid.layout.display = "none"
        self.history_html = widgets.HTML()
        self.resume_budget = widgets.BoundedFloatText(
            value=0.0,
            min=0.0,
            max=1e6,
            step=0.1,
            description="new budget $",
            tooltip="budget for Resume (0 keeps the stored budget)",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="16em"),
        )
        self.pause_button = widgets.Button(description="Pause", icon="pause")
        self.resume_button = widgets.Button(description="Resume", icon="play")
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", button_style="danger"
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
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
                self.records_grid,
                widgets.HTML("<b>History</b>"),
                self.history_html,
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
            paused=self.paused,
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
            backend = (info.spec or {}).get("backend") or self.workspace.settings.backend
            if backend == "local" and not f["spend"]:
                self.spend_label.value = "free (local model)"
            else:
                self.spend_label.value = (
                    f"{format_usd(f['spend'])} of {format_usd(budget)} "
                    f"(waste {format_usd(f['waste'])})"
                )
            tokens = f"{f['tokens']:,} tokens this run · " if f["tokens"] else ""
            self.stats_html.value = (
                f"{tokens}{f['per_min']:.1f} records/min · ETA {format_duration(f['eta_s'])}"
                f" · {_in_flight_text(f)} · {f['mode']} view"
                f"<br>{workers_text(f).strip()}"
            )
            batch = info.bedrock_batch
            if batch:
                counts = batch.get("counts") or {}
                done = (
                    f" · {counts.get('processed', 0)}/{counts['total']}"
                    if counts.get("total")
                    else ""
                )
                self.stats_html.value += html.escape(
                    f" · Bedrock batch job of step {batch.get('step')!r}: "
                    f"{batch.get('status')}{done}"
                )
            self.limits_html.value = limiter_table(f["limiters"])
            self.failures_html.value = failures_html(f)
            self._show_records()
            self.history_html.value = history_html(self.history)
            self._set_buttons(f["state"])

    def _show_records(self) -> None:
        """Redraw the grid only when the records changed (each redraw resends the rows,
        and the user's sort and filter live in the browser)."""
        frame = records_frame(self.recent)
        if not frame.equals(frame_of(self.records_grid)):
            outputs = [c for c in frame.columns if c not in _RECORD_WIDTHS]
            self.records_grid.column_widths = {**_RECORD_WIDTHS, **dict.fromkeys(outputs, 300)}
            set_frame(self.records_grid, frame)
        self.records_grid.layout.display = "" if self.recent else "none"
        self.records_html.layout.display = "none" if self.recent else ""

    def _set_buttons(self, state: str) -> None:
        live_running = bool(self.live and self.live.handle.running)
        self.pause_button.disabled = state != "RUNNING"  # "PAUSED" while paused
        self.resume_button.disabled = not (
            state == "PAUSED"
            or (not live_running and JobState(self.job_info.state) in RESUMABLE_STATES)
        )  # type: ignore[union-attr]
        self.cancel_button.disabled = state in ("COMPLETED", "CANCELLED")


def _in_flight_text(f: dict[str, Any]) -> str:
    """Calls in flight; once a pause or stop is asked for, they are what it waits for."""
    n = f["in_flight"]
    if n and (f.get("stopping") or f["state"] == "PAUSED"):
        what = "pausing" if f["state"] == "PAUSED" else "stopping"
        return f"<b>{what}: {n} call{'s' if n != 1 else ''} finishing</b>"
    return f"{n} calls in flight"
