"""The quality report of one or more jobs: duplicates, diversity, lengths, flags,
seed coverage and the judge's scores, each by template version and by model.

>>> report = quality_report(ws, job_id)          # doctest: +SKIP
>>> print(report.summary())                      # doctest: +SKIP
>>> report.duplicates, report.diversity          # pandas DataFrames  # doctest: +SKIP
>>> report.plot_lengths()                        # a matplotlib Figure  # doctest: +SKIP

Duplicates are found within each job (a job is one dataset), among ``ok`` records, on
the concatenated text columns; diversity and lengths are per text column.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .. import layout
from ..jobs import iter_records, job_status
from ..records import Record
from ..workspace import Workspace
from .dedup import DEFAULT_THRESHOLD, find_duplicates
from .filters import record_text
from .judge import judge_jobs, judge_scores
from .tables import coverage_table, diversity_table, duplicate_table, flag_table, length_table
from .text import words

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["QualityReport", "quality_report", "record_model"]

MAX_DIVERSITY_TEXTS = 20_000


def record_model(record: Record) -> str:
    """The model(s) that produced a record, in step order (``a + b`` for two)."""
    models = dict.fromkeys(s.model for s in record.steps.values() if not s.skipped)
    return " + ".join(models) or "(none)"


@dataclass
class QualityReport:
    """Tables of a quality report (pandas DataFrames; see :func:`quality_report`)."""

    jobs: list[str]
    threshold: float
    records: pd.DataFrame  # one row per record
    duplicates: pd.DataFrame
    diversity: pd.DataFrame
    lengths: pd.DataFrame
    flags: pd.DataFrame
    coverage: pd.DataFrame
    judge: pd.DataFrame  # per judged job and template/model: judged, valid, invalid, mean
    text_columns: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    def totals(self) -> dict[str, Any]:
        """Headline numbers over every job in the report."""
        frame = self.records
        ok = frame[frame["status"] == "ok"]
        judged = self.judge[self.judge["by"] == "template"] if len(self.judge) else self.judge
        return {
            "jobs": list(self.jobs),
            "records": len(frame),
            "ok": len(ok),
            "exact_duplicates": int(ok["exact_duplicate"].sum()),
            "near_duplicates": int(ok["near_duplicate"].sum()),
            "flagged": int((frame["flag_kinds"].map(len) > 0).sum()),
            "judged": int(judged["judged"].sum()) if len(judged) else 0,
            "judge_invalid": int(judged["invalid"].sum()) if len(judged) else 0,
            "threshold": self.threshold,
        }

    def summary(self) -> str:
        """A few human lines (what the CLI prints)."""
        t = self.totals()
        lines = [
            f"quality of {', '.join(self.jobs)}: {t['records']} records, {t['ok']} ok",
            f"  duplicates: {t['exact_duplicates']} exact, {t['near_duplicates']} near "
            f"(Jaccard >= {self.threshold:g})",
            f"  flagged:    {t['flagged']} record(s) with a check flag",
        ]
        for _, row in self.flags[self.flags["by"] == "template"].iterrows():
            lines.append(f"    {row['group']}: {row['flag']} {row['records']}")
        for _, row in self.diversity[self.diversity["by"] == "template"].iterrows():
            lines.append(
                f"  diversity {row['group']} {row['column']}: distinct-2 "
                f"{_num(row['distinct_2'])}, TTR {_num(row['type_token_ratio'])}, "
                f"n-gram diversity {_num(row['ngram_diversity'])}"
            )
        for _, row in self.coverage[self.coverage["by"] == "template"].iterrows():
            lines.append(
                f"  seeds {row['group']}: {row['rows_used']} of {row['seed_rows']} rows used, "
                f"{_num(row['mean_per_row'])} records per row (max {row['max_per_row']})"
            )
        if t["judged"]:
            for _, row in self.judge[self.judge["by"] == "template"].iterrows():
                lines.append(
                    f"  judge {row['group']}: {row['judged']} judged, {row['invalid']} "
                    f"invalid, mean score {_num(row['mean_score'])}"
                )
        else:
            lines.append("  judge:      not judged (plotpalette judge JOB_ID)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: totals and every summary table as a list of rows."""

        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            parsed: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
            return parsed

        return {
            "totals": self.totals(),
            "duplicates": rows(self.duplicates),
            "diversity": rows(self.diversity),
            "lengths": rows(self.lengths),
            "flags": rows(self.flags),
            "coverage": rows(self.coverage),
            "judge": rows(self.judge),
            "created_at": self.created_at,
        }

    def save(self, workspace: Workspace | str | Path | None = None) -> list[str]:
        """Store each job's report as ``jobs/<id>/quality/report.json`` (the dataset
        card of a later export includes it); returns the keys written."""
        ws = _open(workspace)
        keys = []
        for job in self.jobs:
            # a report over several jobs is saved as each job's own report
            own = self if len(self.jobs) == 1 else quality_report(ws, job, threshold=self.threshold)
            key = layout.quality_key(job, "report.json")
            ws.store.write_bytes(key, json.dumps(own.to_dict()).encode())
            keys.append(key)
        return keys

    # -- plots (see .plots) -----------------------------------------------------------
    def plot_lengths(self, column: str | None = None, by: str = "template") -> Figure:
        from .plots import plot_lengths

        return plot_lengths(self, column=column, by=by)

    def plot_flags(self, by: str = "template") -> Figure:
        from .plots import plot_flags

        return plot_flags(self, by=by)

    def plot_diversity(self, by: str = "template") -> Figure:
        from .plots import plot_diversity

        return plot_diversity(self, by=by)

    def plot_coverage(self) -> Figure:
        from .plots import plot_coverage

        return plot_coverage(self)

    def plot_scores(self, by: str = "template") -> Figure:
        from .plots import plot_scores

        return plot_scores(self, by=by)


def _num(value: Any) -> str:
    try:
        return "n/a" if value is None or math.isnan(float(value)) else f"{float(value):.3g}"
    except (TypeError, ValueError):
        return str(value)


def _open(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def _seed_rows(ws: Workspace, spec: dict[str, Any]) -> int | None:
    from ..seeds import SeedSet

    try:
        return len(SeedSet.from_workspace(ws, spec["seeds"]).rows)
    except Exception:  # a deleted or foreign seed file: coverage then says "unknown"
        return None


def quality_report(
    workspace: Workspace | str | Path | None,
    jobs: str | Iterable[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    columns: Sequence[str] | None = None,
    max_diversity_texts: int = MAX_DIVERSITY_TEXTS,
) -> QualityReport:
    """The quality report of one job or several (compare template versions or models).

    ``threshold``: near-duplicate Jaccard similarity. ``columns``: the text columns to
    measure (default: every output column holding text). Reads every record once; the
    judge section uses each job's latest judge, if any.
    """
    import pandas as pd

    ws = _open(workspace)
    job_ids = [jobs] if isinstance(jobs, str) else list(jobs)
    rows: list[dict[str, Any]] = []
    row_texts: list[dict[str, str]] = []  # per row: text column -> value (ok records)
    seed_rows: dict[str, int | None] = {}
    near: dict[tuple[str, int], tuple[bool, bool, int | None]] = {}
    for job_id in job_ids:
        info = job_status(ws, job_id)
        seed_rows[job_id] = _seed_rows(ws, info.spec)
        dedup_items: list[tuple[int, str]] = []
        for record in iter_records(ws, job_id, ordered=True):
            row = {
                "row": len(rows),
                "job_id": job_id,
                "template": info.template,
                "model": record_model(record),
                "index": record.index,
                "seed_index": record.seed_index,
                "status": record.status,
                "flags": list(record.flags),
                "flag_kinds": sorted({f.rpartition(":")[2] for f in record.flags}),
                "cost_usd": record.cost_usd,
            }
            wanted = columns if columns is not None else list(record.outputs)
            found: dict[str, str] = {}
            for column in wanted:
                value = record.outputs.get(column)
                if record.status == "ok" and isinstance(value, str):
                    found[column] = value
                    row[f"{column}__chars"] = len(value)
                    row[f"{column}__words"] = len(words(value))
            rows.append(row)
            row_texts.append(found)
            if record.status == "ok":
                dedup_items.append((record.index, record_text(record.outputs, list(wanted))))
        dups = find_duplicates(dedup_items, threshold=threshold)
        for index in dups.keys:  # the keys are the record indexes given above
            rep = dups.near_of.get(index)
            near[(job_id, cast(int, index))] = (
                index in dups.exact_of,
                rep is not None,
                cast("int | None", rep),
            )
    text_columns = sorted({c for found in row_texts for c in found})
    texts = {c: [found.get(c) for found in row_texts] for c in text_columns}
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(
            columns=[
                "row",
                "job_id",
                "template",
                "model",
                "index",
                "seed_index",
                "status",
                "flags",
                "flag_kinds",
                "cost_usd",
            ]
        )
    keys = list(zip(frame["job_id"], frame["index"], strict=True))
    marks = [near.get((str(j), int(i)), (False, False, None)) for j, i in keys]
    frame["exact_duplicate"] = [m[0] for m in marks]
    frame["near_duplicate"] = [m[1] and not m[0] for m in marks]
    frame["duplicate_of"] = pd.array([m[2] for m in marks], dtype="Int64")
    frame = _join_scores(ws, frame, job_ids)
    return QualityReport(
        jobs=job_ids,
        threshold=threshold,
        records=frame,
        duplicates=duplicate_table(frame),
        diversity=diversity_table(frame, texts, max_texts=max_diversity_texts),
        lengths=length_table(frame, text_columns),
        flags=flag_table(frame),
        coverage=coverage_table(frame, seed_rows),
        judge=_judge_table(frame),
        text_columns=text_columns,
    )


def _join_scores(ws: Workspace, frame: pd.DataFrame, job_ids: list[str]) -> pd.DataFrame:
    import pandas as pd

    parts = []
    for job_id in job_ids:
        if judge_jobs(ws, job_id):
            scores = judge_scores(ws, job_id)
            scores = scores[["index", "score", "valid", "rationale"]].assign(job_id=job_id)
            parts.append(
                scores.rename(
                    columns={
                        "score": "judge_score",
                        "valid": "judge_valid",
                        "rationale": "judge_rationale",
                    }
                )
            )
    if not parts:
        frame["judge_score"] = pd.array([None] * len(frame), dtype="Int64")
        frame["judge_valid"] = pd.array([None] * len(frame), dtype="boolean")
        frame["judge_rationale"] = None
        return frame
    joined = frame.merge(pd.concat(parts), on=["job_id", "index"], how="left")
    joined["judge_valid"] = joined["judge_valid"].astype("boolean")
    return joined


def _judge_table(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    rows = []
    judged = frame[frame["judge_valid"].notna()]
    for by in ("template", "model"):
        for group, part in judged.groupby(by, sort=True):
            valid = part[part["judge_valid"].astype(bool)]
            rows.append(
                {
                    "by": by,
                    "group": str(group),
                    "judged": len(part),
                    "valid": len(valid),
                    "invalid": len(part) - len(valid),
                    "mean_score": float(valid["judge_score"].mean()) if len(valid) else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=["by", "group", "judged", "valid", "invalid", "mean_score"])
