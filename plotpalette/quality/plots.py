"""Plots of a quality report: matplotlib Figures (no pyplot state), shown inline by
notebooks and embedded in the book. matplotlib is imported on use (``[ui]`` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..analytics import _figure, _slant
from ..errors import QualityError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .report import QualityReport

__all__ = ["plot_coverage", "plot_diversity", "plot_flags", "plot_lengths", "plot_scores"]


def _by(by: str) -> str:
    if by not in ("template", "model"):
        raise QualityError(f"cannot group by {by!r}", fix="Use by='template' or by='model'.")
    return by


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def plot_lengths(
    report: QualityReport, *, column: str | None = None, by: str = "template"
) -> Figure:
    """Histogram of a text column's length in words, one series per group."""
    fig = _figure()
    ax = fig.add_subplot()
    frame = report.records[report.records["status"] == "ok"]
    column = column or (report.text_columns[0] if report.text_columns else None)
    key = f"{column}__words"
    if column is None or key not in frame:
        _empty(ax, "no text columns")
        return fig
    for group, part in frame.groupby(_by(by), sort=True):
        values = part[key].dropna()
        if len(values):
            ax.hist(values, bins=20, alpha=0.6, label=str(group))
    ax.set_xlabel(f"{column}: words")
    ax.set_ylabel("records")
    ax.legend(fontsize="small", title=by)
    ax.set_title(f"Length of {column!r}")
    return fig


def plot_flags(report: QualityReport, *, by: str = "template") -> Figure:
    """Share of records on which each check fired, per group."""
    fig = _figure()
    ax = fig.add_subplot()
    table = report.flags[report.flags["by"] == _by(by)]
    if table.empty:
        _empty(ax, "no check fired")
        return fig
    pivot = table.pivot_table(index="flag", columns="group", values="share", fill_value=0.0)
    width = 0.8 / len(pivot.columns)
    for n, group in enumerate(pivot.columns):
        xs = [i + n * width for i in range(len(pivot.index))]
        ax.bar(xs, pivot[group], width=width, label=str(group))
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(pivot.index))], list(pivot.index))
    ax.set_ylabel("share of records")
    ax.legend(fontsize="small", title=by)
    ax.set_title("Check flags by kind")
    return fig


def plot_diversity(report: QualityReport, *, by: str = "template") -> Figure:
    """distinct-2 and n-gram diversity of each text column, per group."""
    fig = _figure()
    ax = fig.add_subplot()
    table = report.diversity[report.diversity["by"] == _by(by)]
    if table.empty:
        _empty(ax, "no text to measure")
        return fig
    labels = [f"{g}\n{c}" for g, c in zip(table["group"], table["column"], strict=True)]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], table["distinct_2"], width=0.4, label="distinct-2")
    ax.bar([x + 0.2 for x in xs], table["ngram_diversity"], width=0.4, label="n-gram diversity")
    ax.set_xticks(list(xs), labels)
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    ax.set_title("Lexical diversity (1 = nothing repeats)")
    _slant(ax)
    return fig


def plot_coverage(report: QualityReport) -> Figure:
    """Records per seed row (ok records), one histogram per job."""
    fig = _figure()
    ax = fig.add_subplot()
    ok = report.records[report.records["status"] == "ok"]
    if ok.empty:
        _empty(ax, "no ok records")
        return fig
    for job, part in ok.groupby("job_id", sort=True):
        counts = part.groupby("seed_index").size()
        ax.hist(counts, bins=range(1, int(counts.max()) + 2), alpha=0.6, label=str(job))
    ax.set_xlabel("records per seed row (rows used at least once)")
    ax.set_ylabel("seed rows")
    ax.legend(fontsize="small", title="job")
    ax.set_title("Seed coverage")
    return fig


def plot_scores(report: QualityReport, *, by: str = "template") -> Figure:
    """Distribution of the judge's valid scores, per group."""
    fig = _figure()
    ax = fig.add_subplot()
    frame = report.records[report.records["judge_valid"].fillna(False).astype(bool)]
    if frame.empty:
        _empty(ax, "not judged yet")
        return fig
    low, high = int(frame["judge_score"].min()), int(frame["judge_score"].max())
    for group, part in frame.groupby(_by(by), sort=True):
        ax.hist(
            part["judge_score"].astype(int),
            bins=[x - 0.5 for x in range(low, high + 2)],
            alpha=0.6,
            label=str(group),
        )
    ax.set_xlabel("judge score")
    ax.set_ylabel("records")
    ax.legend(fontsize="small", title=by)
    ax.set_title("Judge scores")
    return fig
