"""TemplateStudio's versions panel: save, history, diff, restore and fork.

A base class of :class:`~plotpalette.ui.template_studio.TemplateStudio` holding the
History tab's widgets and the methods behind them. Each method calls
:class:`~plotpalette.templates.library.TemplateLibrary`; nothing about versions is
decided here.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..errors import TemplateError
from . import _studio_views as views
from ._base import App

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..templates import Template
    from ..templates.library import TemplateLibrary

__all__ = ["StudioVersions"]


class StudioVersions(App):
    """The versions half of the studio; the studio supplies the editor and header."""

    library: TemplateLibrary
    current: Template | None
    parsed: Template | None
    history_frame: pd.DataFrame | None
    message: widgets.Text
    current_before_save: str | None = None

    if TYPE_CHECKING:  # defined by TemplateStudio

        def validate(self) -> Template: ...

        def _set_current(self, tpl: Template) -> None: ...

        def _open_saved(self, tpl: Template) -> None: ...

    def _build_history_tab(self, full: widgets.Layout) -> widgets.VBox:
        """The History tab: the versions list, restore, and a diff of two versions."""
        w = widgets
        self.history = w.Select(description="Versions", rows=6)
        self.history_button = w.Button(description="Refresh", icon="refresh")
        self.restore_button = w.Button(
            description="Restore selected",
            icon="undo",
            tooltip="save the selected version as a new version",
        )
        self.diff_a = w.Dropdown(description="From")
        self.diff_b = w.Dropdown(description="To")
        self.diff_button = w.Button(description="Diff", icon="columns")
        self.diff_view = w.HTML(layout=full)
        self.on_click(self.history_button, self.show_history)
        self.on_click(self.diff_button, lambda: self.diff(self.diff_a.value, self.diff_b.value))
        self.on_click(self.restore_button, lambda: self.restore(self.history.value))
        return w.VBox(
            [
                w.HBox([self.history, w.VBox([self.history_button, self.restore_button])]),
                w.HBox([self.diff_a, self.diff_b, self.diff_button]),
                self.diff_view,
            ]
        )

    @App.guard
    def save(self) -> Template:
        """Save the editor's content as a new version (identical content saves nothing)."""
        tpl = self.validate()
        self.current_before_save = self.current.ref if self.current is not None else None
        saved = self.library.save(tpl, message=self.message.value.strip())
        if self.current is not None and saved.ref == self.current.ref:
            self.info(f"no change: {saved.ref} already has this content")
        else:
            self.info(f"saved {saved.ref}")
        self._set_current(saved)
        self.show_history()
        if saved.version > 1 and (self.current_before_save != saved.ref):
            # the latest version is what a job naming the template gets: say so
            note = (
                f"saved {saved.ref}: jobs that name '{saved.name}' without a version use "
                f"@{saved.version} from now on (jobs already created keep their version)"
            )
            self.info(note)
            self.status.value = f"<span style='color:#b26a00'>⚠ {html.escape(note)}</span>"
        return saved

    @App.guard
    def show_history(self) -> pd.DataFrame:
        """List the saved versions of the current template (oldest first).

        The two diff dropdowns are set to the last two versions.
        """
        import pandas as pd

        name = self._name()
        versions = self.library.history(name)
        frame = pd.DataFrame([views.version_row(v) for v in versions])
        self.history_frame = frame
        refs = [f"{name}@{v}" for v in frame["version"]] if not frame.empty else []
        labels = [views.version_label(r) for r in frame.to_dict("records")] if refs else []
        self.history.options = list(zip(labels, refs, strict=True))
        self.diff_a.options = self.diff_b.options = refs
        if len(refs) >= 2:
            self.diff_a.value, self.diff_b.value = refs[-2], refs[-1]
        return frame

    @App.guard
    def diff(self, a: str | int, b: str | int) -> str:
        """A unified diff between two versions (``3`` or ``"name@3"``)."""
        text = self.library.diff(self._ref(a), self._ref(b))
        self.diff_view.value = views.diff_html(text)
        return text

    @App.guard
    def restore(self, version: str | int) -> Template:
        """Save the content of an old version as the newest version and open it."""
        if version is None:
            raise TemplateError("no version selected", fix="Select a version in the list.")
        restored = self.library.restore(self._ref(version))
        self.info(f"restored {self._ref(version)} as {restored.ref}")
        self._open_saved(restored)
        return restored

    @App.guard
    def fork(self, new_name: str) -> Template:
        """Copy the current template under ``new_name`` (its lineage is kept)."""
        if not new_name or not new_name.strip():
            raise TemplateError("no name for the fork", fix="Type a new name in 'New name'.")
        forked = self.library.fork(self._current_ref(), new_name.strip())
        self.info(f"forked {self._current_ref()} as {forked.ref}")
        self._open_saved(forked)
        return forked

    # -- version references ------------------------------------------------------------
    def _name(self) -> str:
        if self.parsed is not None:
            return self.parsed.name
        if self.current is not None:
            return self.current.name
        raise TemplateError("no template open", fix="Pick a template and click Open.")

    def _current_ref(self) -> str:
        if self.current is None:
            raise TemplateError("no template open", fix="Pick a template and click Open.")
        return self.current.ref

    def _ref(self, version: str | int) -> str:
        text = str(version).strip()
        return text if "@" in text else f"{self._name()}@{text}"
