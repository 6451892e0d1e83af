"""JobsTable: every job of the workspace, and what to do with one.

>>> jobs = JobsTable()                    # doctest: +SKIP
>>> jobs.select(jobs.job_ids[0])          # doctest: +SKIP
>>> jobs.open_console()                   # doctest: +SKIP
>>> jobs.export(format="jsonl")           # doctest: +SKIP

Actions work on the selected job (or the ``job_id`` passed): **Open console**
(:meth:`open_console`), **Resume** (:meth:`resume`, in the background), **Export**
(:meth:`export`, in the format chosen) and **Delete** (:meth:`delete`, in two clicks:
the first arms it and says what will go, the second deletes; see
:func:`plotpalette.jobs.delete_job` — files go, the cost history stays).
"""

from __future__ import annotations

import contextlib
import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..errors import ConfigError, JobStateError
from ..jobs import DeletedJob, JobInfo, JobState, delete_job, list_jobs
from ..jobs.states import RESUMABLE_STATES
from ..workspace import Workspace
from ._base import App, no_positional
from ._grid import data_grid, on_select, set_frame
from ._job_html import format_time, format_usd
from .job_console import JobConsole

__all__ = ["JobsTable"]

AUTO_REFRESH_SECONDS = 2.0  # while any listed job runs
_WIDTHS = {
    "job": 270,
    "state": 130,
    "done": 60,
    "of": 60,
    "spend": 140,
    "template": 170,
    "created": 140,
    "name": 200,
}


def _open(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


class JobsTable(App):
    """The workspace's jobs, newest first, with actions on the selected one.

    Args:
        workspace: the workspace to list (default: the current one).
        backend: a backend object for resumes started here (default: each job's own).
        limit: show at most this many jobs.
    """

    title = "Jobs"

    def __init__(
        self,
        *args: object,
        workspace: Workspace | str | Path | None = None,
        backend: Any = None,
        limit: int | None = 200,
    ) -> None:
        no_positional("JobsTable", args)
        super().__init__()
        self.workspace = _open(workspace)
        self.backend = backend
        self.limit = limit
        self.jobs: list[JobInfo] = []
        self.console: JobConsole | None = None
        self.last_export: Any = None
        self.last_deleted: DeletedJob | None = None
        self.pending_delete: str | None = None  # armed by a first Delete click
        self.auto_refresh_seconds = AUTO_REFRESH_SECONDS
        self._closed = threading.Event()
        self._auto: threading.Thread | None = None
        self._build()
        self.refresh()

    def _build(self) -> None:
        from ..export import EXPORT_FORMATS

        self.state_filter = widgets.Dropdown(
            description="state", options=["all", *[s.value for s in JobState]], value="all"
        )
        self.table_html = widgets.HTML()  # the empty state, or how to pick a row
        self.grid = data_grid(self._grid_frame([]), key="job", widths=_WIDTHS, select_rows=True)
        on_select(self.grid, "job", self._clicked)
        self.selected = widgets.Dropdown(
            description="job", options=[], layout=widgets.Layout(width="30em")
        )
        self.format = widgets.Dropdown(
            description="format",
            options=list(EXPORT_FORMATS),
            value="parquet" if "parquet" in EXPORT_FORMATS else EXPORT_FORMATS[0],
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.open_button = widgets.Button(
            description="Open console", icon="eye", layout=widgets.Layout(width="auto")
        )
        self.resume_button = widgets.Button(description="Resume", icon="play")
        self.export_button = widgets.Button(description="Export", icon="download")
        self.delete_button = widgets.Button(description="Delete", icon="trash")
        self.export_html = widgets.HTML()
        self.delete_html = widgets.HTML()
        self.console_box = widgets.VBox()
        self.on_click(self.refresh_button, self.refresh)
        self.on_click(self.open_button, self.open_console)
        self.on_click(self.resume_button, self.resume)
        self.on_click(self.export_button, self.export)
        self.on_click(self.delete_button, self.delete)
        self.state_filter.observe(lambda _: self._safe_refresh(), names="value")
        self.selected.observe(lambda _: self._on_selected(), names="value")
        self.widget = widgets.VBox(
            [
                widgets.HTML(f"<b>{self.title}</b>"),
                widgets.HBox([self.state_filter, self.refresh_button, self.status]),
                self.table_html,
                self.grid,
                widgets.HBox(
                    [self.selected, self.open_button, self.resume_button, self.delete_button]
                ),
                self.delete_html,
                widgets.HBox([self.format, self.export_button]),
                self.export_html,
                self.log,
                self.console_box,
            ]
        )

    def _safe_refresh(self) -> None:
        with contextlib.suppress(Exception):
            self.refresh()

    # -- public methods ----------------------------------------------------------------
    @property
    def job_ids(self) -> list[str]:
        return [j.job_id for j in self.jobs]

    @App.guard
    def refresh(self) -> list[JobInfo]:
        """Re-read the job list from the registry (keeps the selection if it still exists)."""
        state = None if self.state_filter.value == "all" else self.state_filter.value
        self.jobs = list_jobs(self.workspace, state=state, limit=self.limit)
        previous = self.selected.value
        self.selected.options = [(self._label(j), j.job_id) for j in self.jobs]
        if previous in self.job_ids:
            self.selected.value = previous
        set_frame(self.grid, self._grid_frame(self.jobs))
        self.grid.layout.display = "" if self.jobs else "none"
        self.table_html.value = (
            "<i>click a row to choose that job; click a column header to sort or filter</i>"
            if self.jobs
            else "<i>no jobs yet — start one with JobWizard or <code>plotpalette run</code></i>"
        )
        running = sum(1 for j in self.jobs if not j.state.is_final)
        self.status.value = f"{len(self.jobs)} job(s)" + (
            f", {running} running: this list refreshes itself" if running else ""
        )
        self._on_selected()
        if running:
            self._start_auto_refresh()
        return self.jobs

    def close(self) -> None:
        """Stop refreshing by itself (and the console's updates)."""
        self._closed.set()
        if self.console is not None:
            self.console.close()

    def _start_auto_refresh(self) -> None:
        if (self._auto is not None and self._auto.is_alive()) or self._closed.is_set():
            return

        def loop() -> None:
            while not self._closed.wait(self.auto_refresh_seconds):
                try:
                    jobs = self.refresh()
                except Exception:  # shown in the log by refresh's guard
                    return
                if all(j.state.is_final for j in jobs):
                    return

        self._auto = threading.Thread(target=loop, daemon=True, name="plotpalette-jobs-table")
        self._auto.start()

    def _clicked(self, job_id: Any) -> None:
        if job_id in self.job_ids:
            self.selected.value = job_id

    def _on_selected(self) -> None:
        """Buttons follow the chosen job: Resume only for a job that can be resumed."""
        self._disarm_delete()
        info = next((j for j in self.jobs if j.job_id == self.selected.value), None)
        self.resume_button.disabled = info is None or info.state not in RESUMABLE_STATES
        for button in (self.open_button, self.export_button, self.delete_button):
            button.disabled = info is None

    def dataframe(self) -> Any:
        """The listed jobs as a pandas DataFrame (one row per job)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "job_id": j.job_id,
                    "state": j.state.value,
                    "template": j.template,
                    "records_done": j.records_done,
                    "records_total": j.records_total,
                    "records_ok": j.records_ok,
                    "spend_usd": j.spend_usd,
                    "budget_usd": j.budget_usd,
                    "created": pd.Timestamp(j.created_at, unit="s"),
                    "name": j.name,
                }
                for j in self.jobs
            ]
        )

    def select(self, job_id: str) -> None:
        """Make ``job_id`` the selected job."""
        if job_id not in self.job_ids:
            self.refresh()
        if job_id not in self.job_ids:
            raise ConfigError(
                f"job {job_id!r} is not in the list",
                fix="Check the state filter, or Refresh; job ids are listed in the table.",
            )
        self.selected.value = job_id

    def _job(self, job_id: str | None) -> str:
        job_id = job_id or self.selected.value
        if not job_id:
            raise ConfigError("no job selected", fix="Choose a job in the 'job' box first.")
        return job_id

    @App.guard
    def open_console(self, job_id: str | None = None) -> JobConsole:
        """Open the console of the selected job (live if it runs in this process)."""
        job_id = self._job(job_id)
        if self.console is not None:
            self.console.close()
        self.console = JobConsole(job_id, workspace=self.workspace, backend=self.backend)
        self.console_box.children = (self.console.widget,)
        return self.console

    @App.guard
    def resume(self, job_id: str | None = None, budget_usd: float | None = None) -> JobConsole:
        """Resume a stopped job in the background and open its console."""
        job_id = self._job(job_id)
        info = next((j for j in self.jobs if j.job_id == job_id), None)
        if info is not None and info.state not in RESUMABLE_STATES:
            # refused here, once, before a console opens to say it again
            raise JobStateError(
                f"job {job_id} is {info.state.value}; only a stopped job can be resumed",
                fix="A COMPLETED job is final; start a new job to generate more records.",
            )
        console = self.open_console(job_id)
        console.resume(budget_usd=budget_usd)
        self.refresh()
        return console

    @App.guard
    def export(self, job_id: str | None = None, format: str | None = None, **options: Any) -> Any:
        """Export the job's records (default: the chosen format, the job's exports folder;
        an earlier export there is replaced). Returns the ExportResult."""
        from ..export import export_job

        job_id = self._job(job_id)
        fmt = format or self.format.value
        options.setdefault("overwrite", True)
        result = export_job(self.workspace, job_id, format=fmt, **options)
        self.last_export = result
        self.export_html.value = (
            f"exported {result.rows} row(s) of <code>{html.escape(job_id)}</code> as {fmt} to "
            f"<code>{html.escape(result.dest)}</code>"
            + (f"; card <code>{html.escape(result.card_path)}</code>" if result.card_path else "")
        )
        self.info(f"exported {job_id}: {result.rows} rows -> {result.dest}")
        return result

    @App.guard
    def delete(self, job_id: str | None = None, *, confirm: bool = False) -> DeletedJob | None:
        """Delete a job's files (records, exports in its folder, report); keep its cost
        history. Two steps, like the button: the first call arms the delete and says
        what will go (returns None), a second call for the same job deletes.
        ``confirm=True`` deletes at once (headless runs). A RUNNING job is refused."""
        job_id = self._job(job_id)
        if not confirm and self.pending_delete != job_id:
            self.pending_delete = job_id
            self.delete_button.description = "Confirm delete"
            self.delete_button.button_style = "danger"
            self.delete_html.value = (
                f"<span style='color:#b00020'>Click <b>Confirm delete</b> to delete "
                f"<code>{html.escape(job_id)}</code>: its records, spec and the exports in "
                "its folder are removed (its cost history is kept). Choose another job to "
                "call it off.</span>"
            )
            return None
        self._disarm_delete()
        if self.console is not None and self.console.job_id == job_id:
            self.console.close()
            self.console, self.console_box.children = None, ()
        done = delete_job(self.workspace, job_id)
        self.last_deleted = done
        self.delete_html.value = (
            f"deleted <code>{html.escape(job_id)}</code>: {done.files_removed} file(s); "
            f"its spend {format_usd(done.spend_usd)} stays in the cost history"
        )
        self.info(f"deleted {job_id} ({done.files_removed} files)")
        self.refresh()
        return done

    def _disarm_delete(self) -> None:
        if self.pending_delete is not None:
            self.pending_delete = None
            self.delete_button.description = "Delete"
            self.delete_button.button_style = ""
            self.delete_html.value = ""

    # -- drawing -----------------------------------------------------------------------
    @staticmethod
    def _label(j: JobInfo) -> str:
        return f"{j.job_id} — {j.state.value} {j.records_done}/{j.records_total}"

    def _grid_frame(self, jobs: list[JobInfo]) -> Any:
        """The grid's rows: one per job, numbers people read (spend of a local job is
        "free (local model)", not $0.0000)."""
        import pandas as pd

        rows = []
        for j in jobs:
            backend = (j.spec or {}).get("backend") or self.workspace.settings.backend
            local = backend == "local"
            spend = "free (local model)" if local and j.spend_usd == 0 else format_usd(j.spend_usd)
            rows.append(
                {
                    "job": j.job_id,
                    "state": j.state.value,
                    "done": j.records_done,
                    "of": j.records_total,
                    "spend": spend,
                    "budget": format_usd(j.budget_usd),
                    "template": j.template,
                    "created": format_time(j.created_at),
                    "name": j.name or "",
                }
            )
        columns = ["job", "state", "done", "of", "spend", "budget", "template", "created", "name"]
        return pd.DataFrame(rows, columns=columns)
