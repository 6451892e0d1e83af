"""SeedExplorer: load seed rows, compare them with a template's inputs, keep the valid rows.

The checks themselves are :func:`plotpalette.seeds.validate_rows` against the template's
inferred :class:`~plotpalette.templates.inputs.InputSchema`; this app only shows the
result (a schema table and a table of invalid rows) and hands the valid rows on as
``app.seeds`` — a :class:`~plotpalette.seeds.SeedSet` the job wizard accepts.

>>> app = SeedExplorer("sample:poetry", template="poem")   # doctest: +SKIP
>>> app.problems_frame                                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..seeds import SeedSet, ValidationReport, validate_rows
from ._base import App, reject_positional_workspace
from ._sources import load_seed_source, open_workspace, template_choices

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..templates.inputs import InputSchema
    from ..workspace import Workspace

__all__ = ["SeedExplorer"]

MAX_SHOWN = 200  # problem rows rendered in the table; the frame keeps them all
NO_TEMPLATE = ""


class SeedExplorer(App):
    """Inspect seed rows and check them against a template before a job spends money.

    Widgets (public, so tests and notebooks drive them): ``source`` (a file path,
    ``sample:<name>`` or a seed-set hash), ``load_button``, ``template`` (a Dropdown of
    built-in and saved templates), ``check_button``, ``keep_button``, ``summary``,
    ``schema_view`` and ``problems_view``. State: ``loaded`` (every row), ``report``
    (the last check), ``schema_frame``, ``problems_frame`` and ``seeds`` (the rows a job
    should use: all rows before a check, the valid rows after :meth:`valid_seeds`).
    """

    title = "Seed explorer"

    def __init__(
        self,
        source: Any = None,
        *,
        template: Any = None,
        workspace: Workspace | str | None = None,
        backend: str | None = None,
    ) -> None:
        reject_positional_workspace(
            "SeedExplorer", source, "SeedExplorer('my_rows.csv', workspace=ws)"
        )
        super().__init__()
        self.workspace = open_workspace(workspace, backend)
        self.loaded: SeedSet | None = None
        self.seeds: SeedSet | None = None
        self.report: ValidationReport | None = None
        self.schema: InputSchema | None = None
        self.template_ref: str | None = None
        self.schema_frame: pd.DataFrame | None = None
        self.problems_frame: pd.DataFrame | None = None

        self.source = widgets.Text(
            description="Seeds",
            placeholder="file (.jsonl .json .csv .parquet), sample:poetry or a seed hash",
            layout=widgets.Layout(width="60%"),
        )
        self.load_button = widgets.Button(description="Load", icon="folder-open")
        self.template = widgets.Dropdown(
            description="Template",
            options=[("(none)", NO_TEMPLATE), *template_choices(self.workspace)],
            value=NO_TEMPLATE,
        )
        self.check_button = widgets.Button(description="Check rows", icon="check")
        self.keep_button = widgets.Button(
            description="Keep valid rows",
            icon="save",
            tooltip="store the valid rows for a job",
            disabled=True,  # nothing loaded yet
        )
        self.summary = widgets.HTML()
        self.schema_view = widgets.HTML()
        self.problems_view = widgets.HTML()
        self.on_click(self.load_button, self.load)
        self.on_click(self.check_button, self.check)
        self.on_click(self.keep_button, self.valid_seeds)
        self.widget = widgets.VBox(
            [
                widgets.HTML(f"<h3>{self.title}</h3>"),
                widgets.HBox([self.source, self.load_button]),
                widgets.HBox([self.template, self.check_button, self.keep_button]),
                self.status,
                self.summary,
                widgets.HTML("<b>Fields</b>"),
                self.schema_view,
                widgets.HTML("<b>Invalid rows</b>"),
                self.problems_view,
                self.log,
            ]
        )
        if isinstance(template, str) and template:
            self._select_template(template)
        if source is not None:
            self.load(source)  # checks the rows too when a template is chosen
            if template is not None and not isinstance(template, str):
                self.check(template)

    # -- actions -----------------------------------------------------------------
    @App.guard
    def load(self, source: Any = None) -> SeedSet:
        """Load seed rows from ``source`` (default: the ``source`` text box).

        ``source`` is a file path, ``"sample:<name>"`` (a bundled sample set), a stored
        seed-set hash, a :class:`SeedSet`, a DataFrame or a list of dicts.
        """
        if source is None:
            source = self.source.value.strip()
        try:
            seeds = load_seed_source(self.workspace, source)
        except Exception:
            self._clear()  # never show the previous file's rows under a failed load
            raise
        if isinstance(source, str):
            self.source.value = source
        else:
            self.source.value = f"<{seeds.source}>"
        self.loaded = self.seeds = seeds
        self.report = None
        self.problems_frame = None
        self.problems_view.value = ""
        self._show_schema()
        self.summary.value = (
            f"{len(seeds)} rows from <code>{_esc(seeds.source)}</code> "
            f"({seeds.format}), sha256 <code>{seeds.sha256[:12]}</code>"
        )
        self.status.value = f"loaded {len(seeds)} rows"
        self.keep_button.disabled = False
        self.info(f"loaded {len(seeds)} rows from {seeds.source}")
        if self.template.value:  # a template is chosen: check the new rows right away
            self.check()
        return seeds

    def _clear(self) -> None:
        """Forget the loaded rows and every view of them."""
        self.loaded = self.seeds = None
        self.report = None
        self.schema_frame = self.problems_frame = None
        self.summary.value = self.schema_view.value = self.problems_view.value = ""
        self.keep_button.disabled = True

    @App.guard
    def check(self, template: Any = None) -> ValidationReport:
        """Check every loaded row against ``template``'s inputs (default: the dropdown).

        ``template`` is a library reference (``"poem"``, ``"poem@2"``), a
        :class:`~plotpalette.templates.Template` or an ``InputSchema``.
        """
        seeds = self._require_loaded()
        if template is None:
            template = self.template.value or None
        if template is None:
            from ..errors import TemplateError

            raise TemplateError(
                "no template chosen to check the rows against",
                fix="Pick a template in the Template dropdown (or call check('name')).",
            )
        self.schema, self.template_ref = _schema_of(self.workspace, template)
        if isinstance(template, str):
            self._select_template(template)
        report = validate_rows(seeds, self.schema)
        self.report = report
        self.problems_frame = _problems_frame(report)
        self._show_schema()
        self._show_problems()
        bad = len(report.invalid_rows)
        if report.ok:
            text = f"all {report.total} rows fit {self.template_ref}"
            self.status.value = f"<span style='color:#1b5e20'>✔ {_esc(text)}</span>"
        else:
            text = f"{bad} of {report.total} rows do not fit {self.template_ref}"
            self.status.value = f"<span style='color:#b00020'>⚠ {_esc(text)}</span>"
        self.info(text)
        return report

    @App.guard
    def valid_seeds(self) -> SeedSet:
        """The rows a job should use: all rows, or only the valid ones after a check.

        Stores them in the workspace by content hash (idempotent) and sets ``app.seeds``;
        the log shows the hash to pass as ``seeds=`` in the job notebook.
        """
        seeds = self._require_loaded()
        if self.report is not None and not self.report.ok:
            seeds = self.report.valid_seedset()
        key = seeds.save_to(self.workspace)
        self.seeds = seeds
        self.status.value = f"kept {len(seeds)} rows as seeds {seeds.sha256[:12]}"
        self.info(f"kept {len(seeds)} rows; stored at {key}; use seeds={seeds.sha256[:12]!r}")
        return seeds

    # -- views -------------------------------------------------------------------
    def _show_schema(self) -> None:
        assert self.loaded is not None
        self.schema_frame = _schema_frame(self.loaded, self.schema, self.report)
        self.schema_view.value = _themed(self.schema_frame.to_html(index=False, escape=True))

    def _show_problems(self) -> None:
        frame = self.problems_frame
        if frame is None or frame.empty:
            self.problems_view.value = "<i>none</i>"
            return
        more = len(frame) - MAX_SHOWN
        html = _themed(frame.head(MAX_SHOWN).to_html(index=False, escape=True))
        if more > 0:
            html += f"<p>… and {more} more problems (all in <code>app.problems_frame</code>)</p>"
        self.problems_view.value = html

    def _select_template(self, ref: str) -> None:
        values = [v for _, v in self.template.options]
        if ref not in values:
            self.template.options = [*self.template.options, (ref, ref)]
        self.template.value = ref

    def _require_loaded(self) -> SeedSet:
        if self.loaded is None:
            from ..errors import SeedError

            raise SeedError(
                "no seed rows loaded yet",
                fix="Type a file path or sample:poetry in the Seeds box and click Load.",
            )
        return self.loaded


# -- helpers (display only; the checks are validate_rows') ----------------------------
def _schema_of(workspace: Workspace, template: Any) -> tuple[InputSchema, str]:
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


def _schema_frame(
    seeds: SeedSet, schema: InputSchema | None, report: ValidationReport | None
) -> pd.DataFrame:
    """One row per field: what the template wants and what the seed rows hold."""
    import pandas as pd

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


def _problems_frame(report: ValidationReport) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        [
            {"row": e.row, "unit": e.unit, "field": e.field, "reason": e.reason}
            for e in report.errors
        ],
        columns=["row", "unit", "field", "reason"],
    )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _themed(table_html: str) -> str:
    """JupyterLab's own table style (aligned, striped, light and dark themes)."""
    return f"<div class='jp-RenderedHTMLCommon'>{table_html}</div>"
