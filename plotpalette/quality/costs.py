"""Cost × quality: dollars per *accepted* record, and where the rest of the money went.

A record is *accepted* when it is ``ok`` and passes a :class:`QualityFilter` (default
``unique,no_flags``: not a duplicate, no check fired; add ``min_score=`` to require the
judge's approval). Every other record's cost is *waste*, split by the first reason that
applies: ``failed``, ``check_filtered`` (a check's ``filter`` policy dropped it), then the
filter's reasons (``flagged``, ``duplicate``, ``not judged``/``low score``,
``rejected``). ``truncated_usd`` is, for information, the cost of records cut at
max_tokens (they may also be counted elsewhere). The judge's own cost is charged to the
records it judged, so ``usd_per_accepted`` is the full price of a checked record. Jobs
that are judges are not rows themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..jobs import iter_records, list_jobs
from ..workspace import Workspace
from .filters import QualityFilter, decide
from .judge import judge_jobs, judge_scores
from .report import record_model

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["COST_QUALITY_COLUMNS", "DEFAULT_ACCEPT", "plot_cost_quality", "quality_costs"]

DEFAULT_ACCEPT = "unique,no_flags"
_WASTE = ("failed", "check_filtered", "flagged", "duplicate", "low_score", "rejected")
COST_QUALITY_COLUMNS = [
    "by",
    "group",
    "jobs",
    "records",
    "ok",
    "accepted",
    "records_usd",
    "judge_usd",
    "usd_per_accepted",
    "accepted_per_usd",
    "waste_usd",
    *(f"waste_{w}_usd" for w in _WASTE),
    "truncated_usd",
    "unattributed_usd",
]


def _judge_ids(ws: Workspace) -> set[str]:
    found = set()
    for key in ws.store.list("jobs/"):
        if "/quality/judges/" in key and key.endswith(".json"):
            found.add(key.rsplit("/", 1)[1][: -len(".json")])
    return found


def quality_costs(
    workspace: Workspace | str | Path | None = None,
    jobs: Iterable[str] | None = None,
    *,
    where: QualityFilter | str | dict[str, Any] | None = DEFAULT_ACCEPT,
) -> pd.DataFrame:
    """Cost × quality by template version and by model (see the module docstring).

    ``jobs``: default every job of the workspace; judge jobs are skipped (their cost
    is charged to the records they judged).
    """
    import pandas as pd

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    qf = QualityFilter.parse(where)
    judges = _judge_ids(ws)
    wanted = [i.job_id for i in list_jobs(ws)] if jobs is None else list(jobs)
    ids = [j for j in wanted if j not in judges]
    acc: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: defaultdict(float, jobs=set())  # type: ignore[arg-type]
    )
    for job_id in ids:
        _add_job(ws, job_id, qf, acc)
    rows = []
    for (by, group), a in sorted(acc.items()):
        spend = a["records_usd"] + a["judge_usd"]
        accepted = int(a["accepted"])
        rows.append(
            {
                "by": by,
                "group": group,
                "jobs": len(a["jobs"]),
                "records": int(a["records"]),
                "ok": int(a["ok"]),
                "accepted": accepted,
                "records_usd": a["records_usd"],
                "judge_usd": a["judge_usd"],
                "usd_per_accepted": spend / accepted if accepted else float("nan"),
                "accepted_per_usd": accepted / spend if spend > 0 else float("nan"),
                "waste_usd": sum(a[f"waste_{w}_usd"] for w in _WASTE) + a["unattributed_usd"],
                **{f"waste_{w}_usd": a[f"waste_{w}_usd"] for w in _WASTE},
                "truncated_usd": a["truncated_usd"],
                "unattributed_usd": a["unattributed_usd"] if by == "template" else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=COST_QUALITY_COLUMNS)


def _add_job(
    ws: Workspace, job_id: str, qf: QualityFilter, acc: dict[tuple[str, str], Any]
) -> None:
    from ..jobs import job_status

    info = job_status(ws, job_id)
    decision = decide(ws, job_id, qf, statuses=("ok",)) if qf.active else None
    judge_cost: dict[int, float] = defaultdict(float)
    for link in judge_jobs(ws, job_id):
        scores = judge_scores(ws, job_id, link["judge_job"])
        for index, cost in zip(scores["index"], scores["judge_cost_usd"], strict=True):
            judge_cost[int(index)] += float(cost)
    recorded = 0.0
    for record in iter_records(ws, job_id):
        recorded += record.cost_usd
        reason = None
        if record.status == "failed":
            reason = "failed"
        elif record.status == "filtered":
            reason = "check_filtered"
        elif decision is not None and not decision.keeps(record.index):
            reason = decision.removed[record.index].replace("not judged", "low score")
            reason = reason.replace(" ", "_")
        for key in (("template", info.template), ("model", record_model(record))):
            a = acc[key]
            a["jobs"].add(job_id)
            a["records"] += 1
            a["records_usd"] += record.cost_usd
            a["judge_usd"] += judge_cost.get(record.index, 0.0)
            if record.status == "ok":
                a["ok"] += 1
            if reason is None and record.status == "ok":
                a["accepted"] += 1
            elif reason is not None:
                a[f"waste_{reason}_usd"] += record.cost_usd + judge_cost.get(record.index, 0.0)
            if any(f.endswith(":truncated") for f in record.flags):
                a["truncated_usd"] += record.cost_usd
    # spend no stored record carries (calls lost in a crash, abandoned reservations)
    acc[("template", info.template)]["unattributed_usd"] += max(0.0, info.spend_usd - recorded)


def plot_cost_quality(table: pd.DataFrame, *, by: str = "template") -> Figure:
    """Dollars per accepted record (bars) and the waste share (points), per group."""
    from ..analytics import _figure, _slant

    fig = _figure()
    ax = fig.add_subplot()
    part = table[table["by"] == by]
    if part.empty:
        ax.text(0.5, 0.5, "no jobs yet", ha="center", va="center", transform=ax.transAxes)
        return fig
    labels = [str(g) for g in part["group"]]
    ax.bar(labels, part["usd_per_accepted"].fillna(0.0), label="$ per accepted record")
    ax.set_ylabel("USD per accepted record")
    _slant(ax)
    right = ax.twinx()
    total = part["records_usd"] + part["judge_usd"]
    share = (part["waste_usd"] / total.where(total > 0)).fillna(0.0)
    right.plot(labels, share, "o", color="C3", label="waste share")
    right.set_ylim(0, 1)
    right.set_ylabel("share of spend wasted")
    ax.set_title(f"Cost × quality by {by}")
    return fig
