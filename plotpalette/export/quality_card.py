"""The dataset card's *Quality* section: the export's quality filter (what it removed
and why) and the job's saved quality report (duplicates, diversity, judge)."""

from __future__ import annotations

from typing import Any

__all__ = ["quality_lines"]


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def quality_lines(
    job_id: str, quality_filter: dict[str, Any] | None, report: dict[str, Any] | None
) -> list[str]:
    """Markdown lines for the card (always a section: it says what was *not* checked)."""
    lines = ["## Quality", ""]
    if quality_filter:
        removed = quality_filter["removed"]
        reasons = ", ".join(
            f"{n} {reason}" for reason, n in quality_filter["removed_by_reason"].items() if n
        )
        lines += [
            f"Exported with the quality filter `{quality_filter['filter']}`: it removed "
            f"**{removed}** of {quality_filter['considered']} records"
            + (f" ({reasons})" if reasons else "")
            + ".",
            "",
        ]
    else:
        lines += ["No quality filter was applied to this export.", ""]
    if report:
        t = report["totals"]
        lines += [
            "| quality report (all records of the job) | |",
            "|---|---|",
            f"| ok records | {t['ok']} of {t['records']} |",
            f"| exact duplicates | {t['exact_duplicates']} |",
            f"| near-duplicates (MinHash, Jaccard >= {t['threshold']:g}) | "
            f"{t['near_duplicates']} |",
            f"| records with a check flag | {t['flagged']} |",
            f"| judged records | {t['judged']} ({t['judge_invalid']} invalid judge replies) |",
        ]
        for row in report.get("diversity", []):
            if row["by"] == "template" and row["distinct_2"] is not None:
                lines.append(
                    f"| diversity of `{row['column']}` | distinct-2 {_num(row['distinct_2'])}, "
                    f"n-gram diversity {_num(row['ngram_diversity'])} |"
                )
        for row in report.get("judge", []):
            if row["by"] == "template" and row["valid"]:
                lines.append(f"| mean judge score | {_num(row['mean_score'])} |")
        lines.append("")
    else:
        lines += [
            f"No quality report was saved for this job (`plotpalette quality {job_id} --save` "
            "adds one to later exports).",
            "",
        ]
    return lines
