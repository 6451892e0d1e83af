"""TemplateStudio's live field check: the fields a template reads, against sample rows.

Run on every valid edit, so a misspelt field (``{{ poem.titel }}``) shows under the
editor before any preview: the template's inputs come from
:func:`~plotpalette.templates.inputs.infer_inputs`, the check from
:func:`~plotpalette.seeds.validate_rows` — nothing is decided here.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..templates import Template

__all__ = ["MAX_ROWS_CHECKED", "check_fields", "fields_html"]

MAX_ROWS_CHECKED = 200  # as you type: a sample is enough to catch a misspelt field
MAX_SHOWN = 5


def check_fields(studio: Any, tpl: Template) -> list[str]:
    """Problems of the sample seed rows against what ``tpl`` reads ("row 1: poem.titel:
    missing"), or a note that the rows could not be read; ``[]`` when every row fits."""
    from ..errors import PlotPaletteError
    from ..seeds import load_seeds, validate_rows
    from ..templates.inputs import infer_inputs

    try:
        seeds = _sample_rows(studio)
        schema = infer_inputs(tpl, studio.library)
        rows = seeds if len(seeds.rows) <= MAX_ROWS_CHECKED else None
        if rows is None:
            rows = load_seeds([dict(r) for r in seeds.rows[:MAX_ROWS_CHECKED]])
        report = validate_rows(rows, schema)
    except PlotPaletteError as exc:
        return [f"the sample rows could not be checked: {exc.message}"]
    return [str(e) for e in report.errors]


def _sample_rows(studio: Any) -> Any:
    """The studio's seed rows, read once per seed source (not on every keystroke)."""
    key = studio.seed_source.value
    cached = getattr(studio, "_field_rows", None)
    if cached is None or cached[0] != key:
        cached = (key, studio.seed_rows())
        studio._field_rows = cached
    return cached[1]


def fields_html(problems: list[str]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems[:MAX_SHOWN])
    more = len(problems) - MAX_SHOWN
    tail = f"<li>… and {more} more</li>" if more > 0 else ""
    return (
        "<div style='color:#b26a00'>⚠ the sample seed rows do not give every field this "
        f"template reads:<ul>{items}{tail}</ul><i>fix: correct the field name in the "
        "template, or choose seed rows that have it (Preview tab, Seeds).</i></div>"
    )
