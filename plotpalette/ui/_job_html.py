"""Small renderings shared by the job apps: HTML, and the rows of the records grid (pure
functions: easy to test, no widgets)."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "STATE_COLOURS",
    "failures_html",
    "format_duration",
    "format_usd",
    "history_html",
    "limiter_table",
    "records_frame",
    "state_badge",
    "table",
]

STATE_COLOURS = {
    "QUEUED": "#666",
    "RUNNING": "#1565c0",
    "WAITING_ON_BEDROCK": "#6a1b9a",
    "PAUSED": "#ef6c00",
    "COMPLETED": "#2e7d32",
    "BUDGET_EXCEEDED": "#b00020",
    "FAILED": "#b00020",
    "CANCELLED": "#6d4c41",
    "INTERRUPTED": "#ef6c00",
}
_CELL = "padding:2px 8px;border-bottom:1px solid #8884;text-align:left;vertical-align:top"


def state_badge(state: str) -> str:
    colour = STATE_COLOURS.get(state, "#333")
    return (
        f"<span style='background:{colour};color:white;padding:2px 8px;"
        f"border-radius:4px;font-weight:bold'>{html.escape(state)}</span>"
    )


def format_usd(value: float | None) -> str:
    if value is None:
        return "no limit"
    return f"${value:,.4f}" if value < 10 else f"${value:,.2f}"


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "—"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def format_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "—"


def _shorten(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain HTML table; every cell is escaped."""
    head = "".join(f"<th style='{_CELL}'>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table style='border-collapse:collapse;font-size:90%'><tr>{head}</tr>{body}</table>"


def records_frame(records: Sequence[Any], *, width: int = 80) -> pd.DataFrame:
    """The last records as the console's grid shows them: record number, status (with
    the error), each output column (shortened), cost."""
    import pandas as pd

    columns: list[str] = []
    for record in records:
        for name in record.outputs:
            if name not in columns:
                columns.append(name)
    rows = []
    for record in records:
        row: dict[str, Any] = {"record": record.index, "status": record.status}
        if record.error:
            row["status"] = f"{record.status}: {_shorten(record.error, 60)}"
        row.update({c: _shorten(record.outputs.get(c, ""), width) for c in columns})
        # a record made at no cost came from the local model; say so, not "$0.0000"
        free = not record.cost_usd and record.status == "ok"
        row["cost"] = "free" if free else format_usd(record.cost_usd)
        rows.append(row)
    return pd.DataFrame(rows, columns=["record", "status", *columns, "cost"])


def limiter_table(limiters: Sequence[dict[str, Any]]) -> str:
    """Per model: current requests and tokens per minute against their limits."""
    if not limiters:
        return ""

    def against(value: float, limit: float | None) -> str:
        return f"{value:,.0f} / {limit:,.0f}" if limit else f"{value:,.0f} / no limit"

    rows = [
        [
            s.get("model", "?"),
            against(s.get("rpm", 0), s.get("rpm_limit")),
            against(s.get("tpm", 0), s.get("tpm_limit")),
            s.get("concurrency", 0),
            s.get("in_flight", 0),
            s.get("throttles", 0),
            s.get("retries", 0),
        ]
        for s in limiters
    ]
    return table(["model", "RPM", "TPM", "concurrency", "in flight", "throttles", "retries"], rows)


def failures_html(f: dict[str, Any]) -> str:
    """Throttles, retries, failed records and the job's error with its fix."""
    parts = [
        f"throttles {f['throttles']}",
        f"retries {f['retries']}",
        f"failed records {f['failed']}",
    ]
    if f["unsettled"]:
        parts.append(f"unsettled after retries {f['unsettled']}")
    text = " · ".join(parts)
    error = f["error"]
    if error:
        text += (
            f"<br><span style='color:#b00020'>{html.escape(str(error.get('message')))}"
            f"</span><br>fix: {html.escape(str(error.get('fix')))}"
        )
    return text


def history_html(entries: Sequence[dict[str, Any]]) -> str:
    """The job's stored history (:func:`plotpalette.jobs.events.job_history`)."""
    if not entries:
        return "<i>no history stored yet</i>"
    rows = [
        [time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(e["ts"])), e["text"]] for e in entries
    ]
    return table(["when", "what"], rows)
