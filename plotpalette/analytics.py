"""Cost analytics across jobs: tables by job, model, step, template version and day.

Costs come from what was *settled per record* (each record's step costs, as stored in
the shards), never from cumulative snapshots. The ledger is used only to reconcile:
spend that belongs to no stored record (calls in flight when a worker died, counted at
their worst case) appears as an explicit ``(unattributed)`` row and open reservations as
``(reserved)``, so every table adds up to the registry's spend for the same jobs.

>>> facts = cost_facts(ws)                        # doctest: +SKIP
>>> costs_by(facts, "model")                      # doctest: +SKIP
>>> plot_costs(facts, by="day")                   # doctest: +SKIP  (a matplotlib Figure)
>>> quality_costs(ws)     # $ per accepted record and waste  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import io
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .jobs import JobInfo, iter_records
from .quality.costs import plot_cost_quality, quality_costs  # cost x quality, by template/model
from .workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "BY_COLUMNS",
    "FACT_COLUMNS",
    "cost_facts",
    "costs_by",
    "filter_facts",
    "job_costs",
    "plot_budget_efficiency",
    "plot_cost_per_record",
    "plot_cost_quality",
    "plot_costs",
    "quality_costs",
]

UNATTRIBUTED = "(unattributed)"
RESERVED = "(reserved)"
OTHER = "(record)"  # record cost not split into steps (e.g. retries of a failed step)
_EPS = 1e-12

# ``by=`` names -> fact columns.
BY_COLUMNS: dict[str, str] = {
    "job": "job_id",
    "model": "model",
    "step": "step",
    "template": "template",
    "template_version": "template",
    "day": "day",
    "status": "status",
}
FACT_COLUMNS = (
    "job_id",
    "template",
    "template_name",
    "template_version",
    "step",
    "model",
    "day",
    "status",
    "kind",
    "steps",
    "calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)
_SUMS = ("steps", "calls", "input_tokens", "output_tokens", "cost_usd")


def _open(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def _jobs(ws: Workspace, jobs: Iterable[str] | None) -> list[JobInfo]:
    registry = ws.registry
    if jobs is None:
        # Deleted jobs keep their ledger rows: money spent stays spent.
        return registry.list(include_deleted=True)
    return [registry.get(j) for j in jobs]  # JobNotFoundError names an unknown id


def _day(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts or 0))


def cost_facts(
    workspace: Workspace | str | Path | None = None, jobs: Iterable[str] | None = None
) -> pd.DataFrame:
    """One row per (job, step, model, day, status, kind) with summed costs and tokens.

    ``kind`` is ``record`` for settled step costs read from the shards, ``unattributed``
    for ledger spend that no stored record carries, ``reserved`` for open reservations.
    For each job, ``cost_usd`` sums to the registry's ``spend_usd``.
    """
    import pandas as pd

    ws = _open(workspace)
    rows: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for info in _jobs(ws, jobs):
        name, _, version = info.template.partition("@")
        base = (info.job_id, info.template, name, int(version) if version.isdigit() else None)
        recorded = 0.0
        last_day = _day(info.created_at)
        # A deleted job's records are gone; its settled spend shows as unattributed.
        records = () if info.deleted_at else iter_records(ws, info.job_id)
        for record in records:
            day = (record.finished_at or "")[:10] or last_day
            last_day = max(last_day, day)
            split = 0.0
            for step_id, step in record.steps.items():
                if step.skipped:
                    continue
                acc = rows[(*base, step_id, step.model, day, record.status, "record")]
                acc[0] += 1
                acc[1] += step.attempts
                acc[2] += step.input_tokens
                acc[3] += step.output_tokens
                acc[4] += step.cost_usd
                split += step.cost_usd
            if record.cost_usd - split > _EPS:
                rows[(*base, OTHER, OTHER, day, record.status, "record")][4] += (
                    record.cost_usd - split
                )
            recorded += record.cost_usd
        when = _day(info.finished_at or info.updated_at)
        gap = info.settled_usd - recorded
        if abs(gap) > 1e-9:
            rows[(*base, UNATTRIBUTED, UNATTRIBUTED, when, UNATTRIBUTED, "unattributed")][4] += gap
        if info.reserved_usd > 1e-9:
            rows[(*base, RESERVED, RESERVED, when, RESERVED, "reserved")][4] += info.reserved_usd
    data = [(*key, *values) for key, values in rows.items()]
    frame = pd.DataFrame(data, columns=list(FACT_COLUMNS))
    for col in ("steps", "calls", "input_tokens", "output_tokens"):
        frame[col] = frame[col].astype("int64")
    frame["cost_usd"] = frame["cost_usd"].astype("float64")
    return frame.sort_values(["job_id", "day", "step", "model"], ignore_index=True)


def filter_facts(
    facts: pd.DataFrame,
    *,
    since: str | None = None,
    until: str | None = None,
    models: Sequence[str] | None = None,
    templates: Sequence[str] | None = None,
    jobs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows of ``facts`` within ``since``..``until`` (``YYYY-MM-DD``, inclusive) and the
    given models / templates (``name`` or ``name@version``) / job ids."""
    mask = facts["cost_usd"].notna()
    if since:
        mask &= facts["day"] >= since
    if until:
        mask &= facts["day"] <= until
    if models:
        mask &= facts["model"].isin(list(models))
    if templates:
        wanted = set(templates)
        mask &= facts["template"].isin(wanted) | facts["template_name"].isin(wanted)
    if jobs:
        mask &= facts["job_id"].isin(list(jobs))
    return facts[mask].reset_index(drop=True)


def costs_by(facts: pd.DataFrame, by: str | Sequence[str]) -> pd.DataFrame:
    """Sum ``facts`` by ``job``, ``model``, ``step``, ``template`` (name@version),
    ``day`` or ``status`` (or several), with each group's share of the total cost."""
    names = [by] if isinstance(by, str) else list(by)
    unknown = [n for n in names if n not in BY_COLUMNS]
    if unknown:
        raise ConfigError(
            f"unknown cost grouping {', '.join(unknown)}",
            fix=f"Group by any of: {', '.join(BY_COLUMNS)}.",
        )
    keys = list(dict.fromkeys(BY_COLUMNS[n] for n in names))
    table = facts.groupby(keys, as_index=False, sort=True)[list(_SUMS)].sum()
    total = table["cost_usd"].sum()
    table["share"] = table["cost_usd"] / total if total > 1e-12 else 0.0
    return table.sort_values(keys, ignore_index=True)


def job_costs(
    workspace: Workspace | str | Path | None = None,
    jobs: Iterable[str] | None = None,
    *,
    facts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per job: spend, budget use, spend per accepted record, accepted per dollar.

    ``records_cost_usd`` is what the stored records carry, ``unattributed_usd`` the rest
    of the settled ledger spend; ``spend_usd`` = settled + open reservations.
    """
    import pandas as pd

    ws = _open(workspace)
    infos = _jobs(ws, jobs)
    facts = facts if facts is not None else cost_facts(ws, [i.job_id for i in infos])
    recorded = facts[facts["kind"] == "record"].groupby("job_id")["cost_usd"].sum()
    rows = []
    for info in infos:
        spend = info.spend_usd
        ok = info.records_ok
        rows.append(
            {
                "job_id": info.job_id,
                "name": info.name,
                "template": info.template,
                "state": info.state.value,
                "day": _day(info.created_at),
                "records_total": info.records_total,
                "records_ok": ok,
                "records_failed": info.records_failed,
                "records_filtered": info.records_filtered,
                "budget_usd": info.budget_usd,
                "spend_usd": spend,
                "settled_usd": info.settled_usd,
                "reserved_usd": info.reserved_usd,
                "records_cost_usd": float(recorded.get(info.job_id, 0.0)),
                "unattributed_usd": info.settled_usd - float(recorded.get(info.job_id, 0.0)),
                "spend_per_accepted_usd": spend / ok if ok else float("nan"),
                "accepted_per_dollar": ok / spend if spend > 0 else float("nan"),
                "budget_used": spend / info.budget_usd if info.budget_usd else float("nan"),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "job_id",
            "name",
            "template",
            "state",
            "day",
            "records_total",
            "records_ok",
            "records_failed",
            "records_filtered",
            "budget_usd",
            "spend_usd",
            "settled_usd",
            "reserved_usd",
            "records_cost_usd",
            "unattributed_usd",
            "spend_per_accepted_usd",
            "accepted_per_dollar",
            "budget_used",
        ],
    )


# -- plots (matplotlib imported on use; Figure objects, no pyplot state) -------------------
@functools.cache
def _figure_class() -> type:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "plots need matplotlib, which is not installed",
            fix='pip install "plotpalette[ui]" (or pip install matplotlib); '
            "the cost tables work without it.",
        ) from None

    class NotebookFigure(Figure):
        """A Figure that shows itself in Jupyter without pyplot (``_repr_png_``)."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100)
            return buffer.getvalue()

    return NotebookFigure


def _figure(width: float = 7.0, height: float = 3.6) -> Figure:
    # No pyplot: no global figure registry and no GUI backend, so plots are safe in
    # threads, papermill and servers; ``_repr_png_`` makes notebooks display them.
    return _figure_class()(figsize=(width, height), layout="constrained")


def _slant(ax: Any) -> None:
    for label in ax.get_xticklabels():
        label.set_rotation(25)
        label.set_horizontalalignment("right")


def _job_labels(jobs: pd.DataFrame) -> list[str]:
    """A job's name when it has one (shorter), else its id."""
    return [
        str(n) if isinstance(n, str) and n else str(j)
        for n, j in zip(jobs["name"], jobs["job_id"], strict=True)
    ]


def plot_costs(
    facts: pd.DataFrame, by: str = "day", *, stack: str | None = "model", title: str | None = None
) -> Figure:
    """Bar chart of cost by ``by``, stacked by ``stack`` (``None`` for plain bars)."""
    fig = _figure(width=9.5 if stack else 7.0)
    ax = fig.add_subplot()
    if by not in BY_COLUMNS:
        raise ConfigError(
            f"unknown cost grouping {by!r}", fix=f"Group by any of: {', '.join(BY_COLUMNS)}."
        )
    key = BY_COLUMNS[by]
    if facts.empty:
        ax.text(0.5, 0.5, "no costs yet", ha="center", va="center", transform=ax.transAxes)
    elif stack and BY_COLUMNS.get(stack, stack) != key:
        skey = BY_COLUMNS.get(stack, stack)
        pivot = facts.pivot_table(
            index=key, columns=skey, values="cost_usd", aggfunc="sum", fill_value=0.0
        ).sort_index()
        bottom = None
        for col in pivot.columns:
            ax.bar(pivot.index.astype(str), pivot[col], bottom=bottom, label=str(col))
            bottom = pivot[col] if bottom is None else bottom + pivot[col]
        ax.legend(fontsize="small", title=stack, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        table = costs_by(facts, by)
        ax.bar(table[key].astype(str), table["cost_usd"])
    ax.set_xlabel(by)
    ax.set_ylabel("cost (USD)")
    ax.set_title(title or f"Cost by {by}")
    _slant(ax)
    return fig


def plot_budget_efficiency(jobs: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Spend against budget per job (bars) and accepted records per dollar (points)."""
    fig = _figure()
    ax = fig.add_subplot()
    labels = _job_labels(jobs)
    ax.bar(labels, jobs["budget_usd"].fillna(0.0), color="0.85", label="budget")
    ax.bar(labels, jobs["spend_usd"], width=0.5, label="spend")
    ax.set_ylabel("USD")
    _slant(ax)
    right = ax.twinx()
    right.plot(labels, jobs["accepted_per_dollar"], "o", color="C3", label="accepted / $")
    right.set_ylabel("accepted records per dollar")
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize="small")
    ax.set_title(title or "Budget use and efficiency by job")
    return fig


def plot_cost_per_record(jobs: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Spend per accepted record for each job."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(_job_labels(jobs), jobs["spend_per_accepted_usd"])
    ax.set_ylabel("USD per accepted record")
    _slant(ax)
    ax.set_title(title or "Spend per accepted record")
    return fig
