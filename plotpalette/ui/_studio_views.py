"""How TemplateStudio shows results: tables and HTML built from library objects.

Display only: the preview, versions and diffs themselves come from
:mod:`plotpalette.templates`; these functions lay them out for the widgets.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..seeds import SeedSet
    from ..templates.library import VersionInfo
    from ..templates.preview import PreviewResult

__all__ = [
    "PREVIEW_COLUMNS",
    "diff_html",
    "estimate_dict",
    "estimate_html",
    "preview_frame",
    "preview_html",
    "version_label",
    "version_row",
]


def version_row(v: VersionInfo) -> dict[str, Any]:
    return {
        "version": v.version,
        "saved_at": v.saved_at,
        "message": v.message,
        "content_hash": v.content_hash[:12],
        "forked_from": v.forked_from or "",
    }


def version_label(row: dict[str, Any]) -> str:
    parts = [f"v{row['version']}", row["saved_at"], row["message"]]
    return " · ".join(p for p in parts if p)


PREVIEW_COLUMNS = (
    "seed",
    "step",
    "model_id",
    "ran",
    "condition",
    "system",
    "prompt",
    "input_tokens",
    "max_output_tokens",
    "output_tokens",  # returned by the model (a preview with the model), else empty
    "worst_case_usd",
    "output",
    "error",
    "cost_usd",  # billed: set for a preview with the model, else empty
)


def preview_frame(result: PreviewResult, seeds: SeedSet) -> pd.DataFrame:
    """The library's preview as one table row per (seed row, step), with the billed
    cost of each call when the model was called."""
    import pandas as pd

    records = []
    for row in result.rows:
        where = seeds.where(row.index)
        if row.error and not row.steps:
            records.append({"seed": where, "error": row.error})
        for step in row.steps:
            records.append(
                {
                    "seed": where,
                    "step": step.step_id,
                    "model_id": step.model_id,
                    "ran": step.ran,
                    "condition": step.condition,
                    "system": step.system,
                    "prompt": step.prompt,
                    "input_tokens": step.input_tokens,
                    "max_output_tokens": step.max_output_tokens,
                    "output_tokens": step.output_tokens,
                    "worst_case_usd": step.worst_case_usd,
                    "output": step.output,
                    "error": row.error,
                    "cost_usd": step.actual_usd,
                }
            )
    return pd.DataFrame(records, columns=list(PREVIEW_COLUMNS))


def _pre(label: str, text: Any) -> str:
    body = html.escape(str(text))
    return f"<div><i>{label}</i><pre style='white-space:pre-wrap;margin:2px'>{body}</pre></div>"


def preview_html(frame: pd.DataFrame) -> str:
    blocks = []
    for rec in frame.to_dict("records"):
        if not isinstance(rec.get("step"), str):
            blocks.append(
                f"<div style='color:#b00020'>{html.escape(str(rec['seed']))}: "
                f"{html.escape(str(rec['error']))}</div>"
            )
            continue
        head = (
            f"{html.escape(rec['seed'])} · step <b>{html.escape(rec['step'])}</b> → "
            f"<code>{html.escape(str(rec['model_id']))}</code>"
        )
        if not rec["ran"]:
            blocks.append(
                f"<div style='color:#888'>{head}: skipped (its <code>when</code> is false)</div>"
            )
            continue
        facts = _facts(rec)
        parts = [f"{head} ({facts})"]
        if rec["system"]:
            parts.append(_pre("system", rec["system"]))
        parts.append(_pre("prompt", rec["prompt"]))
        parts.append(_pre("output", rec["output"]))
        if isinstance(rec.get("error"), str):
            parts.append(f"<div style='color:#b00020'>{html.escape(rec['error'])}</div>")
        blocks.append(
            "<div style='border:1px solid #8886;margin:4px;padding:4px'>"
            + "".join(parts)
            + "</div>"
        )
    return "".join(blocks)


def _facts(rec: dict[str, Any]) -> str:
    billed = rec.get("cost_usd")
    if billed is not None and billed == billed:  # a model preview: what it really cost
        return (
            f"{rec['input_tokens']} input tokens, {rec['output_tokens']:.0f} out, "
            f"billed {format_cost(billed)}"
        )
    cost = rec["worst_case_usd"]
    cost_text = "unpriced" if cost is None or cost != cost else f"≤ ${cost:.6f}"
    return f"{rec['input_tokens']} input tokens, max {rec['max_output_tokens']} out, {cost_text}"


def format_cost(usd: float) -> str:
    """Dollars as a reader wants them: ``free`` for $0 (the local model), else $."""
    return "free (local model)" if usd == 0 else f"${usd:.6f}"


def estimate_dict(result: PreviewResult) -> dict[str, Any]:
    """The cost figures of a preview, as shown under the Preview button."""
    return {
        "template": result.template,
        "records": result.records,
        "cost_per_record_usd": result.cost_per_record,
        "cost_for_records_usd": result.cost_for_records,
        "token_counting": result.token_counting,
        "price_table": result.price_table,
        "notes": "; ".join(result.notes),
    }


def estimate_html(estimate: dict[str, Any]) -> str:
    per, total = estimate["cost_per_record_usd"], estimate["cost_for_records_usd"]
    if per is None:
        cost = "cost not estimated: a model has no price (see notes)"
    else:
        cost = (
            f"worst case <b>${per:.6f}</b> per record, <b>${total:.4f}</b> for "
            f"{estimate['records']} records"
        )
    extra = f"tokens: {estimate['token_counting']}; prices: {estimate['price_table'] or 'none'}"
    notes = f"<br><i>{html.escape(estimate['notes'])}</i>" if estimate["notes"] else ""
    return f"<div>{cost}<br><small>{html.escape(extra)}</small>{notes}</div>"


def diff_html(text: str) -> str:
    out = []
    for line in text.splitlines():
        color = "#1b5e20" if line.startswith("+") else "#b00020" if line.startswith("-") else ""
        style = f" style='color:{color}'" if color else ""
        out.append(f"<span{style}>{html.escape(line)}</span>")
    return "<pre>" + "\n".join(out) + "</pre>" if out else "<i>no differences</i>"
