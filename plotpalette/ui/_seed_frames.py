"""The tables :class:`~plotpalette.ui.seed_explorer.SeedExplorer` shows, as DataFrames:
the rows, one row per field (what the template wants, what the seeds hold) and the
problems. Display only: the checks themselves are :func:`plotpalette.seeds.validate_rows`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..seeds import SeedSet, ValidationReport
    from ..templates.inputs import InputSchema
    from ..workspace import Workspace

__all__ = ["MAX_SHOWN", "problems_frame", "rows_frame", "schema_frame", "schema_of"]

MAX_SHOWN = 1000  # rows and problems sent to a grid; the frames keep them all


def schema_of(workspace: Workspace, template: Any) -> tuple[InputSchema, str]:
    """``template``'s input schema (a reference, a Template or the schema itself) and
    how to name it in messages."""
    from ..templates.inputs import InputSchema, infer_inputs
    from ..templates.library import TemplateLibrary

    if isinstance(template, InputSchema):
        return template, "the given input schema"
    library = TemplateLibrary(workspace)
    tpl = library.get(template) if isinstance(template, str) else template
    return infer_inputs(tpl, library), tpl.ref


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _short(value: Any, width: int = 40) -> str:
    text = str(value).replace("\n", " ") if value != "" else '""'
    return text if len(text) <= width else text[: width - 1] + "…"


def schema_frame(
    seeds: SeedSet | None, schema: InputSchema | None, report: ValidationReport | None
) -> pd.DataFrame:
    """One row per field: what the template wants and what the seed rows hold."""
    import pandas as pd

    if seeds is None:
        return pd.DataFrame(columns=list(_SCHEMA_COLUMNS))
    flat = seeds.to_pandas()
    total = len(flat)
    rows: dict[str, dict[str, Any]] = {}
    for column in flat.columns:
        values = [v for v in flat[column] if v is not None and not _is_nan(v)]
        samples: list[str] = []
        for v in values:
            s = _short(v)
            if s not in samples:
                samples.append(s)
            if len(samples) == 3:
                break
        rows[column] = {
            "field": column,
            "template": "not used",
            "kind": "",
            "in seeds": "present",
            "seed types": ", ".join(sorted({_type_name(v) for v in values})) or "null",
            "rows with a value": f"{len(values)}/{total}",
            "rows with problems": "",
            "sample values": " | ".join(samples),
        }
    if schema is not None:
        seed_fields = set(seeds.fields()) | set(flat.columns)
        problems = _problem_counts(report)
        wanted = [(f, f.path) for f in schema.fields]
        wanted += [
            (i, f"{f.path}[].{i.path.removeprefix(f.path + '.')}")
            for f in schema.fields
            for i in f.item_fields
        ]
        for spec, path in wanted:
            present = path in seed_fields or any(
                s.startswith(path + ".") or s.startswith(path + "[]") for s in seed_fields
            )
            nested = any(s.startswith(path + ".") for s in seed_fields)
            row = rows.setdefault(
                path,
                {
                    "field": path,
                    # a mapping is spread over dotted columns; count rows on those
                    "seed types": "mapping" if nested else "",
                    "rows with a value": "" if present else f"0/{total}",
                    "sample values": "",
                },
            )
            row["template"] = "required" if spec.required else "optional"
            row["kind"] = spec.kind
            row["in seeds"] = "present" if present else "missing"
            row["rows with problems"] = str(problems.get(path, 0))
    order = sorted(rows.values(), key=lambda r: (r["template"] == "not used", r["field"]))
    return pd.DataFrame(order, columns=list(_SCHEMA_COLUMNS))


_SCHEMA_COLUMNS = (
    "field",
    "template",
    "kind",
    "in seeds",
    "seed types",
    "rows with a value",
    "rows with problems",
    "sample values",
)


def _problem_counts(report: ValidationReport | None) -> dict[str, int]:
    """Rows with a problem per template field (item paths like ``lines[2].x`` fold)."""
    import re

    if report is None:
        return {}
    rows: dict[str, set[int]] = {}
    for err in report.errors:
        path = re.sub(r"\[\d+\]", "[]", err.field)
        rows.setdefault(path, set()).add(err.index)
    return {path: len(found) for path, found in rows.items()}


def problems_frame(report: ValidationReport | None) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        [
            {"row": e.row, "unit": e.unit, "field": e.field, "reason": e.reason}
            for e in (report.errors if report is not None else [])
        ],
        columns=["row", "unit", "field", "reason"],
    )


def rows_frame(seeds: SeedSet | None, report: ValidationReport | None) -> pd.DataFrame:
    """The first rows as a grid shows them: the user's row numbers first, nested fields
    as dotted columns, lists and long texts shortened, and after a check a "problems"
    column (a count per row) to sort or filter the bad rows by."""
    import pandas as pd

    if seeds is None:
        return pd.DataFrame(columns=["row"])
    flat = seeds.to_pandas().head(MAX_SHOWN)
    flat = flat.apply(lambda col: col.map(_cell))
    flat.insert(0, "row", seeds.row_numbers[: len(flat)])
    if report is not None:
        counts: dict[int, int] = {}
        for err in report.errors:
            counts[err.row] = counts.get(err.row, 0) + 1
        flat.insert(1, "problems", [counts.get(n, 0) for n in flat["row"]])
    return flat


def _cell(value: Any) -> Any:
    """A grid cell: numbers and booleans stay (they sort as numbers), the rest is text."""
    if value is None or _is_nan(value):
        return ""
    if isinstance(value, (bool, int, float)):
        return value
    return _short(value, 80)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value
