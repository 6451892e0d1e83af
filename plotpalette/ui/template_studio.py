"""TemplateStudio: pick, edit, check, preview, version, fork, import and export templates.

Every button calls a public method (``preview_button`` → :meth:`TemplateStudio.preview`)
and every method calls the public API of :mod:`plotpalette.templates`
(``parse_template``, ``preview``, ``TemplateLibrary``); nothing about templates is
decided here. The YAML editor is checked as you type: each change is parsed with
``parse_template`` and its problems (path and line) are shown under the editor.
The History tab (save, versions, diff, restore, fork) lives in
:mod:`._studio_versions`.

>>> app = TemplateStudio("question_answer")      # doctest: +SKIP
>>> app.preview()                                 # doctest: +SKIP
>>> app.last_preview                              # doctest: +SKIP
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..errors import TemplateError
from . import _studio_views as views
from ._base import App, reject_positional_workspace
from ._sources import load_seed_source, open_workspace, template_choices
from ._studio_fields import check_fields, fields_html
from ._studio_file import FileFollower, StudioFiles
from ._studio_model import ModelPreview
from ._studio_versions import StudioVersions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..seeds import SeedSet
    from ..templates import Template
    from ..templates.library import TemplateLibrary
    from ..templates.preview import PreviewResult
    from ..workspace import Workspace

__all__ = ["TemplateStudio"]

PASSED_IN = "<seed rows passed in>"  # shown in the Seeds box for a SeedSet/DataFrame


class TemplateStudio(StudioFiles, StudioVersions):
    """Edit and version prompt templates, and preview what they send to the model.

    Widgets (public): ``template`` + ``open_button``; ``editor`` (YAML) and ``messages``
    (problems as you type); ``seed_source``, ``sample_rows``, ``records``,
    ``preview_button``, ``preview_view``, ``estimate_view``; ``save_button``;
    ``history`` (a Select of versions), ``history_button``, ``diff_a``, ``diff_b``,
    ``diff_button``, ``diff_view``, ``restore_button``; ``fork_name`` + ``fork_button``;
    ``path`` + ``import_button`` / ``export_button`` and ``upload`` (a FileUpload).

    State: ``current`` (the template last opened or saved), ``parsed`` (the editor's
    content when valid, else ``None``), ``problems`` (messages of the last check),
    ``last_preview`` (a DataFrame: one row per seed row and step), ``estimate`` and
    ``history_frame``.
    """

    title = "Template studio"

    def __init__(
        self,
        template: str | None = "question_answer",
        *,
        seeds: Any = "sample:poetry",
        workspace: Workspace | str | None = None,
        backend: str | None = None,
        records: int = 100,
    ) -> None:
        reject_positional_workspace(
            "TemplateStudio", template, "TemplateStudio('question_answer', workspace=ws)"
        )
        if template is not None and not isinstance(template, str):
            raise TypeError(
                f"TemplateStudio's first argument is a template name, got "
                f"{type(template).__name__}; write TemplateStudio('question_answer', "
                "workspace=ws)"
            )
        super().__init__()
        self.workspace = open_workspace(workspace, backend)
        from ..templates.library import TemplateLibrary

        self.library: TemplateLibrary = TemplateLibrary(self.workspace)
        self.current: Template | None = None
        self.parsed: Template | None = None
        self.problems: list[str] = []
        self.field_problems: list[str] = []  # fields the template reads, missing in rows
        self.last_preview: pd.DataFrame | None = None
        self.last_result: PreviewResult | None = None
        self.estimate: dict[str, Any] = {}
        self.history_frame: pd.DataFrame | None = None
        self._seeds_object: Any = None if isinstance(seeds, str) else seeds
        self.model_preview = ModelPreview(self.library)
        self.follower = FileFollower(self._from_file)
        self.last_job_id: str | None = None
        self._build_widgets(seeds, records)
        if template:
            self.load(template)

    # -- widgets -------------------------------------------------------------------
    def _build_widgets(self, seeds: Any, records: int) -> None:
        w = widgets
        full = w.Layout(width="98%")
        self.template = w.Dropdown(description="Template", options=template_choices(self.workspace))
        self.open_button = w.Button(description="Open", icon="folder-open")
        self.version_label = w.HTML()
        self.editor = w.Textarea(layout=w.Layout(width="98%", height="24em"))
        self.edit_file_button = w.Button(
            description="Edit in JupyterLab",
            icon="pencil",
            tooltip="write the YAML to a file next to the notebook and follow it: "
            "JupyterLab's editor has line numbers and YAML highlighting",
            layout=w.Layout(width="auto"),
        )
        self.file_note = w.HTML()
        self.messages = w.HTML()
        self.message = w.Text(description="Message", placeholder="what changed (optional)")
        self.save_button = w.Button(
            description="Save new version",
            icon="save",
            button_style="primary",
            layout=widgets.Layout(width="auto"),
        )
        seed_text = seeds if isinstance(seeds, str) else PASSED_IN
        self.seed_source = w.Text(
            description="Seeds", value=seed_text, placeholder="sample:poetry or a seed file path"
        )
        self.sample_rows = w.BoundedIntText(description="Rows", value=2, min=1, max=20)
        self.records = w.BoundedIntText(description="Records", value=records, min=1, max=10_000_000)
        self.with_model = w.Checkbox(
            description="Run steps with the model",
            value=False,
            tooltip="off: placeholders for step outputs, nothing is called",
        )
        self.preview_budget = w.BoundedFloatText(
            description="Budget $",
            value=0.05,
            min=0.0,
            max=1000.0,
            step=0.01,
            tooltip="the most a preview with the model may spend (it runs as a small job)",
        )
        self.preview_button = w.Button(description="Preview", icon="eye")
        self.estimate_view = w.HTML()
        self.preview_view = w.HTML(layout=full)
        self.fork_name = w.Text(description="New name", placeholder="my_template")
        self.fork_button = w.Button(description="Fork", icon="code-fork")
        self.path = w.Text(
            description="File",
            placeholder="templates/my_template.yaml",
            layout=w.Layout(width="60%"),
        )
        self.import_button = w.Button(description="Import", icon="upload")
        self.export_button = w.Button(description="Export", icon="download")
        self.upload = w.FileUpload(accept=".yaml,.yml", multiple=False, description="Upload YAML")

        self.on_click(self.open_button, lambda: self.load(self.template.value))
        self.on_click(self.save_button, self.save)
        self.on_click(self.preview_button, self.preview)
        self.on_click(self.fork_button, lambda: self.fork(self.fork_name.value))
        self.on_click(self.import_button, lambda: self.import_file(self.path.value))
        self.on_click(self.export_button, lambda: self.export_file(self.path.value))
        self.editor.observe(self._on_edit, names="value")
        self.upload.observe(self._on_upload, names="value")

        self.on_click(self.edit_file_button, self.edit_in_file)
        edit = w.VBox(
            [
                w.HBox([self.edit_file_button, self.file_note]),
                self.editor,
                self.messages,
                w.HBox([self.message, self.save_button]),
            ]
        )
        preview = w.VBox(
            [
                w.HBox([self.seed_source, self.sample_rows]),
                w.HBox([self.records, self.with_model, self.preview_budget, self.preview_button]),
                self.estimate_view,
                self.preview_view,
            ]
        )
        history = self._build_history_tab(full)
        files = w.VBox(
            [
                w.HBox([self.fork_name, self.fork_button]),
                w.HBox([self.path, self.import_button, self.export_button]),
                self.upload,
            ]
        )
        self.tabs = w.Tab(
            children=[edit, preview, history, files],
            titles=["Edit", "Preview", "History", "Fork / import / export"],
        )
        self.widget = w.VBox(
            [
                w.HTML(f"<h3>{self.title}</h3>"),
                w.HBox([self.template, self.open_button, self.version_label]),
                self.status,
                self.tabs,
                self.log,
            ]
        )

    # -- open / edit / check ---------------------------------------------------------
    @App.guard
    def load(self, name_or_ref: str) -> Template:
        """Open ``name`` (latest version), ``name@version`` or a built-in into the editor."""
        tpl = self.library.get(name_or_ref)
        self._open_saved(tpl)
        self.info(f"opened {tpl.ref}")
        return tpl

    @App.guard
    def validate(self) -> Template:
        """Parse the editor's YAML; raises TemplateFormatError listing each problem."""
        try:
            tpl = self._parse()
        except TemplateError as exc:
            self._show_problems(exc)
            raise
        self._show_valid(tpl)
        return tpl

    def _parse(self) -> Template:
        from ..templates import parse_template

        name = self.current.name if self.current else "template"
        return parse_template(self.editor.value, source=f"editor ({name})")

    def _on_edit(self, _change: Any) -> None:
        # as-you-type: show problems under the editor, never raise or fill the log
        try:
            tpl = self._parse()
        except TemplateError as exc:
            self._show_problems(exc)
        else:
            self._show_valid(tpl)

    def _show_valid(self, tpl: Template) -> None:
        self.parsed = tpl
        self.problems = []
        self.messages.value = "<span style='color:#1b5e20'>✔ valid template</span>"
        self.field_problems = check_fields(self, tpl)
        self.messages.value += fields_html(self.field_problems)
        if "⚠" in self.status.value:  # the problem shown there is fixed now
            self.status.value = (
                f"<span style='color:#1b5e20'>✔ {html.escape(self._label(tpl))}</span>"
            )

    def _show_problems(self, exc: TemplateError) -> None:
        self.parsed = None
        lines = [ln.strip() for ln in exc.message.splitlines() if ln.strip()]
        self.problems = lines[1:] if len(lines) > 1 else lines
        items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
        self.messages.value = (
            f"<div style='color:#b00020'>⚠ {html.escape(lines[0])}<ul>{items}</ul>"
            f"<i>fix: {html.escape(exc.fix)}</i></div>"
        )
        self.status.value = f"<span style='color:#b00020'>⚠ {html.escape(self.problems[0])}</span>"

    def _open_saved(self, tpl: Template) -> None:
        self._set_current(tpl)
        self.editor.value = tpl.to_yaml()  # observed: validates
        self.show_history()

    def _set_current(self, tpl: Template) -> None:
        self.current = tpl
        names = [v for _, v in self.template.options]
        if tpl.name not in names:
            self.template.options = [*self.template.options, (tpl.name, tpl.name)]
        self.template.value = tpl.name
        self.version_label.value = f"<code>{html.escape(tpl.ref)}</code>"
        self.status.value = f"{html.escape(tpl.ref)}"

    # -- preview ---------------------------------------------------------------------
    def seed_rows(self) -> SeedSet:
        """The seed rows previews use: the set passed in, or the ``seed_source`` box."""
        if self._seeds_object is not None and self.seed_source.value == PASSED_IN:
            return load_seed_source(self.workspace, self._seeds_object)
        return load_seed_source(self.workspace, self.seed_source.value or "sample:poetry")

    @App.guard
    def preview(self) -> pd.DataFrame:
        """Render every step for the first ``sample_rows`` seed rows; estimate tokens and cost.

        Calls :func:`plotpalette.templates.preview.preview`. Without ``with_model`` no
        model is called: earlier steps' outputs are marked placeholders. With it ticked
        the same function runs the steps on the model (``call_model=True``), as a small
        *job* of the saved version under ``preview_budget`` — budget governor, ledger,
        the jobs table (see :mod:`._studio_model`); its id is ``last_job_id`` and each
        call's billed cost is shown. The estimate is always the free worst case (every
        input token plus ``max_tokens`` out). Sets ``last_result`` (the library's
        PreviewResult), ``last_preview`` (a DataFrame, one row per seed row and step)
        and ``estimate`` (per record and for ``records`` records).
        """
        from ..templates.preview import preview

        tpl = self.validate()
        budget = self.preview_budget.value
        if self.with_model.value:  # refuse before anything runs
            self.model_preview.check(self.current, tpl, budget)
        seeds = self.seed_rows()
        rows = list(seeds.rows[: self.sample_rows.value])
        result = preview(
            tpl,
            rows,
            settings=self.workspace.settings,
            library=self.library,
            records=self.records.value,
        )
        self.estimate = views.estimate_dict(result)
        if self.with_model.value and self.current is not None:
            result = self.model_preview.run(self.current, rows, budget, self.records.value)
            self.last_job_id = result.job_id
            spent = views.format_cost(result.spent_usd or 0.0)
            self.info(f"model preview: job {result.job_id} spent {spent}")
        self.last_result = result
        self.last_preview = views.preview_frame(result, seeds)
        self.preview_view.value = views.preview_html(self.last_preview)
        self.estimate_view.value = views.estimate_html(self.estimate)
        failed = [r for r in result.rows if r.error]
        for row in failed:
            self.info(f"{seeds.where(row.index)}: {row.error}")
        label = self._label(tpl)
        self.status.value = html.escape(
            f"previewed {label} on {len(rows)} row(s)"
            + (f"; {len(failed)} failed (see log)" if failed else "")
        )
        self.info(f"previewed {label} on {len(rows)} rows of {seeds.source}")
        return self.last_preview

    # -- helpers ---------------------------------------------------------------------
    def _label(self, tpl: Template) -> str:
        """``name@version`` when the editor holds a saved version, else ``name (unsaved)``."""
        cur = self.current
        if cur is not None and cur.content_hash == tpl.content_hash:
            return cur.ref
        return f"{tpl.name} (unsaved edit)"
