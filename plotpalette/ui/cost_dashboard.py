"""CostDashboard: where the money went, by day, model, template, step or job.

>>> dash = CostDashboard()                                  # doctest: +SKIP
>>> dash.set_filters(since="2026-11-01", models=["amazon.nova-micro-v1:0"])  # doctest: +SKIP
>>> dash.table                                              # a pandas DataFrame  # doctest: +SKIP

Figures and tables come from :mod:`plotpalette.analytics` (costs settled per record,
reconciled with the ledger); the dashboard only filters and lays them out.
:meth:`refresh` re-reads the workspace; :meth:`update` re-applies the filters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from .. import analytics
from ..workspace import Workspace
from ._base import App, no_positional
from ._grid import data_grid, set_frame
from ._job_html import format_usd

__all__ = ["CostDashboard"]

GROUPS = ("day", "model", "template", "step", "job", "status")


def _open(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _day(value: dt.date | str | None) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


class CostDashboard(App):
    """Cost plots and tables of a workspace, filtered by period, model and template.

    Attributes set by :meth:`update`: ``facts`` (all cost facts), ``filtered`` (after the
    filters), ``table`` (``filtered`` summed by the chosen grouping), ``jobs_frame``
    (per-job spend and efficiency of the jobs in ``filtered``), ``total_usd``.
    """

    title = "Costs"

    def __init__(self, *args: object, workspace: Workspace | str | Path | None = None) -> None:
        no_positional("CostDashboard", args)
        super().__init__()
        self.workspace = _open(workspace)
        self.facts: Any = None
        self.filtered: Any = None
        self.table: Any = None
        self.jobs_frame: Any = None
        self.quality_frame: Any = None  # cost x quality of the jobs shown (see _quality)
        self.total_usd = 0.0
        self._build()
        self.refresh()

    def _build(self) -> None:
        style = {"description_width": "6em"}
        self.since = widgets.DatePicker(description="from", style=style)
        self.until = widgets.DatePicker(description="to", style=style)
        self.models = widgets.SelectMultiple(
            description="models",
            options=[],
            rows=4,
            style=style,
            layout=widgets.Layout(width="30em"),
        )
        self.templates = widgets.SelectMultiple(
            description="templates",
            options=[],
            rows=4,
            style=style,
            layout=widgets.Layout(width="24em"),
        )
        self.group_by = widgets.Dropdown(
            description="group by", options=list(GROUPS), value="day", style=style
        )
        self.stack = widgets.Dropdown(
            description="stack by", options=["(none)", *GROUPS], value="model", style=style
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.clear_button = widgets.Button(description="Clear filters", icon="times")
        self.summary_html = widgets.HTML()
        # two charts side by side when the notebook is wide, one under the other when not
        chart = widgets.Layout(width="49%", min_width="320px", max_width="100%", height="auto")
        self.cost_plot = widgets.Image(format="png", layout=chart)
        self.efficiency_plot = widgets.Image(format="png", layout=chart)
        self.empty_html = widgets.HTML()
        self.table_html = widgets.HTML()
        # one row per job: click a header to sort by spend, $ per accepted record, ...
        self.jobs_grid = data_grid(
            _jobs_table(None), key="job", widths=_JOB_WIDTHS, formats=_JOB_FORMATS
        )
        self.quality_html = widgets.HTML()
        self.quality_plot = widgets.Image(format="png")
        self.on_click(self.refresh_button, self.refresh)
        self.on_click(self.clear_button, self.clear_filters)
        for w in (self.since, self.until, self.models, self.templates, self.group_by, self.stack):
            w.observe(self._on_filter, names="value")
        self._updating = False
        self.results_box = widgets.VBox(
            [
                widgets.Box(
                    [self.cost_plot, self.efficiency_plot],
                    layout=widgets.Layout(flex_flow="row wrap", width="100%"),
                ),
                widgets.HTML("<b>Cost table</b>"),
                self.table_html,
                widgets.HTML("<b>Jobs</b>"),
                self.jobs_grid,
                widgets.HTML("<b>Cost × quality</b> (accepted = not a duplicate, no flags)"),
                widgets.Box(
                    [self.quality_plot, self.quality_html],
                    layout=widgets.Layout(flex_flow="row wrap", width="100%"),
                ),
            ]
        )
        self.widget = widgets.VBox(
            [
                widgets.HTML(f"<b>{self.title}</b>"),
                widgets.HBox([self.since, self.until, self.group_by, self.stack]),
                widgets.HBox([self.models, self.templates]),
                widgets.HBox([self.refresh_button, self.clear_button, self.status]),
                self.summary_html,
                self.empty_html,
                self.results_box,
                self.log,
            ]
        )

    def _on_filter(self, _: Any) -> None:
        if self._updating:
            return
        with contextlib.suppress(Exception):
            self.update()

    # -- public methods ----------------------------------------------------------------
    @App.guard
    def refresh(self) -> Any:
        """Re-read every job's costs from the workspace, then apply the filters."""
        self.facts = analytics.cost_facts(self.workspace)
        self._updating = True
        try:
            models = sorted(set(self.facts["model"])) if len(self.facts) else []
            # names only: "question_answer" covers every version (no duplicate
            # question_answer / question_answer@1 entries); set_filters takes name@version
            templates = sorted(set(self.facts["template_name"])) if len(self.facts) else []
            self.models.options = models
            self.models.value = tuple(m for m in self.models.value if m in models)
            self.templates.options = templates
            self.templates.value = tuple(t for t in self.templates.value if t in templates)
        finally:
            self._updating = False
        return self.update()

    def set_filters(
        self,
        *,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        models: list[str] | None = None,
        templates: list[str] | None = None,
        group_by: str | None = None,
    ) -> Any:
        """Set several filters at once (dates as ``YYYY-MM-DD``), then :meth:`update`."""
        self._updating = True
        try:
            if since is not None:
                self.since.value = dt.date.fromisoformat(_day(since) or "")
            if until is not None:
                self.until.value = dt.date.fromisoformat(_day(until) or "")
            if models is not None:
                self.models.value = tuple(models)
            if templates is not None:
                self.templates.value = tuple(templates)
            if group_by is not None:
                self.group_by.value = group_by
        finally:
            self._updating = False
        return self.update()

    @App.guard
    def clear_filters(self) -> Any:
        """Show every job's costs again."""
        self._updating = True
        try:
            self.since.value = None
            self.until.value = None
            self.models.value = ()
            self.templates.value = ()
        finally:
            self._updating = False
        return self.update()

    @App.guard
    def update(self) -> Any:
        """Apply the filters to the facts read by :meth:`refresh`; redraw; return ``table``."""
        if self.facts is None:
            return self.refresh()
        self.filtered = analytics.filter_facts(
            self.facts,
            since=_day(self.since.value),
            until=_day(self.until.value),
            models=list(self.models.value) or None,
            templates=list(self.templates.value) or None,
        )
        self.table = analytics.costs_by(self.filtered, self.group_by.value)
        job_ids = sorted(set(self.filtered["job_id"]))
        self.jobs_frame = analytics.job_costs(self.workspace, job_ids, facts=self.filtered)
        self.total_usd = float(self.filtered["cost_usd"].sum()) if len(self.filtered) else 0.0
        self._draw(job_ids)
        self._quality(job_ids)
        return self.table

    def _quality(self, job_ids: list[str]) -> None:
        """$ per accepted record and waste by template version (plotpalette.quality)."""
        from ..errors import QualityError
        from ..quality import plot_cost_quality, quality_costs

        try:
            self.quality_frame = quality_costs(self.workspace, job_ids)
        except QualityError as exc:  # e.g. datasketch missing: say so, keep the rest
            self.quality_frame = None
            self.quality_html.value = html.escape(f"{exc.message} ({exc.fix})")
            self.quality_plot.layout.display = "none"
            return
        self.quality_plot.value = _png(plot_cost_quality(self.quality_frame))
        self.quality_plot.layout.display = None
        cols = ["by", "group", "ok", "accepted", "usd_per_accepted", "waste_usd"]
        usd = "${:,.6f}".format
        self.quality_html.value = self.quality_frame[cols].to_html(
            index=False,
            border=0,
            na_rep="—",
            formatters={"usd_per_accepted": usd, "waste_usd": usd},
        )

    # -- drawing -----------------------------------------------------------------------
    def _draw(self, job_ids: list[str]) -> None:
        if not len(self.filtered):  # nothing to plot: say why and what to do
            self.results_box.layout.display = "none"
            self.summary_html.value = ""
            self.empty_html.value = (
                "<div style='padding:1em;border:1px dashed #999'><b>No costs to show.</b> "
                + (
                    "No job has made a call in this workspace yet: run one "
                    "(<code>01_quickstart</code> or <code>plotpalette run</code>), "
                    "then press <b>Refresh</b>."
                    if self.facts is None or not len(self.facts)
                    else "No call matches these filters: widen the period or press "
                    "<b>Clear filters</b>."
                )
                + "</div>"
            )
            return
        self.results_box.layout.display = None
        self.empty_html.value = ""
        stack = None if self.stack.value == "(none)" else self.stack.value
        fig = analytics.plot_costs(self.filtered, by=self.group_by.value, stack=stack)
        self.cost_plot.value = _png(fig)
        if len(self.jobs_frame):
            self.efficiency_plot.value = _png(analytics.plot_budget_efficiency(self.jobs_frame))
            self.efficiency_plot.layout.display = None
        else:
            self.efficiency_plot.layout.display = "none"
        money = {"cost_usd": _money, "spend_usd": _money, "share": "{:.1%}".format}
        # JupyterLab's own table style: aligned numbers, striped rows, light and dark themes
        self.table_html.value = (
            "<div class='jp-RenderedHTMLCommon'>"
            + self.table.to_html(index=False, formatters=money, border=0)
            + "</div>"
        )
        set_frame(self.jobs_grid, _jobs_table(self.jobs_frame))
        period = " to ".join(d for d in (_day(self.since.value), _day(self.until.value)) if d)
        self.summary_html.value = (
            f"<b>{format_usd(self.total_usd)}</b> across {len(job_ids)} job(s)"
            + (f", {period}" if period else "")
            + (
                f", models: {html.escape(', '.join(self.models.value))}"
                if self.models.value
                else ""
            )
            + (
                f", templates: {html.escape(', '.join(self.templates.value))}"
                if self.templates.value
                else ""
            )
        )
        self.status.value = f"{len(self.filtered)} cost row(s)"


def _money(value: float) -> str:
    """Dollars a reader takes in at a glance: "free" for the local model's $0, cents
    for bigger sums, fractions of a cent only where they matter."""
    if value != value:  # NaN: nothing accepted, no price
        return "—"
    if value == 0:
        return "free"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:,.6f}"


_JOB_COLUMNS = {
    "job_id": "job",
    "template": "template",
    "state": "state",
    "records_ok": "ok",
    "records_total": "records",
    "budget_usd": "budget",
    "spend_usd": "spend",
    "spend_per_accepted_usd": "$ / accepted",
    "accepted_per_dollar": "accepted / $",
    "budget_used": "budget used",
}
_JOB_WIDTHS = {
    "job": 260,
    "template": 170,
    "state": 130,
    "$ / accepted": 110,
    "accepted / $": 110,
    "budget used": 100,
}
_JOB_FORMATS = {
    "budget": "$,.2f",
    "spend": "$,.6f",
    "$ / accepted": "$,.6f",
    "accepted / $": ",.0f",
    "budget used": ".1%",
}


def _jobs_table(jobs_frame: Any) -> Any:
    """The per-job figures as the grid shows them (numbers stay numbers, for sorting)."""
    import pandas as pd

    if jobs_frame is None or not len(jobs_frame):
        return pd.DataFrame(columns=list(_JOB_COLUMNS.values()))
    return jobs_frame[list(_JOB_COLUMNS)].rename(columns=_JOB_COLUMNS)
