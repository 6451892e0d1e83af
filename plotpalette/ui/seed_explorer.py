"""SeedExplorer: load seed rows, compare them with a template's inputs, keep the valid rows.

The checks themselves are :func:`plotpalette.seeds.validate_rows` against the template's
inferred :class:`~plotpalette.templates.inputs.InputSchema`; this app only shows the
result (grids of the rows, of the fields and of the problems: sortable and filterable,
the widget the other apps use) and hands the valid rows on as
``app.seeds`` — a :class:`~plotpalette.seeds.SeedSet` the job wizard accepts.

>>> app = SeedExplorer("sample:poetry", template="poem")   # doctest: +SKIP
>>> app.problems_frame                                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..seeds import SeedSet, ValidationReport, validate_rows
from ._base import App, reject_positional_workspace
from ._grid import data_grid, set_frame
from ._seed_frames import MAX_SHOWN, problems_frame, rows_frame, schema_frame, schema_of
from ._sources import load_seed_source, open_workspace, template_choices

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..templates.inputs import InputSchema
    from ..workspace import Workspace

__all__ = ["SeedExplorer"]

_FIELD_WIDTHS = {
    "field": 180,
    "template": 90,
    "kind": 80,
    "in seeds": 80,
    "seed types": 110,
    "rows with a value": 120,
    "rows with problems": 130,
    "sample values": 360,
}
_PROBLEM_WIDTHS = {"row": 60, "unit": 60, "field": 180, "reason": 420}
NO_TEMPLATE = ""


class SeedExplorer(App):
    """Inspect seed rows and check them against a template before a job spends money.

    Widgets (public, so tests and notebooks drive them): ``source`` (a file path,
    ``sample:<name>`` or a seed-set hash), ``load_button``, ``template`` (a Dropdown of
    built-in and saved templates), ``check_button``, ``keep_button``, ``summary``, the
    grids ``rows_grid``, ``schema_grid`` and ``problems_grid`` (ipydatagrid: column
    headers sort and filter) and ``problems_view`` ("none", or how many problems the
    grid leaves out). State: ``loaded`` (every row), ``report``
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
        # grids, hidden while empty; the HTML beside each says "none" or how many are cut
        self.rows_grid = data_grid(rows_frame(None, None), key="row")
        self.rows_note = widgets.HTML()
        self.schema_grid = data_grid(
            schema_frame(None, None, None), key="field", widths=_FIELD_WIDTHS
        )
        self.problems_grid = data_grid(problems_frame(None), key="row", widths=_PROBLEM_WIDTHS)
        self.problems_view = widgets.HTML()
        self._show_grids(False)
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
                widgets.HTML("<b>Rows</b>"),
                self.rows_note,
                self.rows_grid,
                widgets.HTML("<b>Fields</b>"),
                self.schema_grid,
                widgets.HTML("<b>Invalid rows</b>"),
                self.problems_view,
                self.problems_grid,
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
        set_frame(self.problems_grid, problems_frame(None))
        self.problems_grid.layout.display = "none"
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
        self.summary.value = self.rows_note.value = self.problems_view.value = ""
        for grid, frame in (
            (self.rows_grid, rows_frame(None, None)),
            (self.schema_grid, schema_frame(None, None, None)),
            (self.problems_grid, problems_frame(None)),
        ):
            set_frame(grid, frame)
        self._show_grids(False)
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
        self.schema, self.template_ref = schema_of(self.workspace, template)
        if isinstance(template, str):
            self._select_template(template)
        report = validate_rows(seeds, self.schema)
        self.report = report
        self.problems_frame = problems_frame(report)
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
    def _show_grids(self, shown: bool) -> None:
        for grid in (self.rows_grid, self.schema_grid, self.problems_grid):
            grid.layout.display = "" if shown else "none"

    def _show_schema(self) -> None:
        """The rows and fields grids, for the loaded rows (and the last check, if any)."""
        assert self.loaded is not None
        self.schema_frame = schema_frame(self.loaded, self.schema, self.report)
        set_frame(self.schema_grid, self.schema_frame)
        set_frame(self.rows_grid, rows_frame(self.loaded, self.report))
        self.rows_grid.layout.display = self.schema_grid.layout.display = ""
        more = len(self.loaded) - MAX_SHOWN
        self.rows_note.value = (
            f"<i>the first {MAX_SHOWN} of {len(self.loaded)} rows (all in "
            "<code>app.seeds.to_pandas()</code>)</i>"
            if more > 0
            else ""
        )

    def _show_problems(self) -> None:
        frame = self.problems_frame
        if frame is None or frame.empty:
            self.problems_view.value = "<i>none</i>"
            self.problems_grid.layout.display = "none"
            return
        set_frame(self.problems_grid, frame.head(MAX_SHOWN))
        self.problems_grid.layout.display = ""
        more = len(frame) - MAX_SHOWN
        self.problems_view.value = (
            f"<i>the first {MAX_SHOWN} of {len(frame)} problems (all in "
            "<code>app.problems_frame</code>)</i>"
            if more > 0
            else ""
        )

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


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
