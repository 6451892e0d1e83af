"""TemplateStudio's files: edit in JupyterLab's own editor, import, upload and export.

Editing in JupyterLab's own editor gives line numbers, YAML highlighting and undo.

:meth:`FileFollower.start` writes the editor's YAML to a file next to the notebook
(``templates/<name>.yaml``; open it from JupyterLab's file browser) and then follows
it: each time the file is saved, its text replaces the studio's editor, which checks it
as usual (problems with their lines, the live field check). Following stops with
:meth:`stop`, when the studio follows another file, or when the file is deleted.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..errors import TemplateError
from ._base import App

if TYPE_CHECKING:  # pragma: no cover
    from ..templates import Template
    from ..templates.library import TemplateLibrary

__all__ = ["FileFollower", "StudioFiles"]


class FileFollower:
    """Watch one file and hand its new text to ``on_change`` (from a daemon thread)."""

    def __init__(self, on_change: Callable[[str], None], poll_seconds: float = 0.5) -> None:
        self.on_change = on_change
        self.poll_seconds = poll_seconds
        self.path: Path | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, path: Path, text: str) -> Path:
        """Write ``text`` to ``path`` (a new file, or one holding older text) and follow it."""
        self.stop()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._follow, args=(path, self._stop), daemon=True, name="plotpalette-follow"
        )
        self._thread.start()
        return path

    def stop(self) -> None:
        self._stop.set()
        self.path = None

    @property
    def following(self) -> bool:
        return self.path is not None and not self._stop.is_set()

    def check(self) -> bool:
        """Read the file now if it changed (the thread calls this; tests may too)."""
        return self._read_if_changed()

    def _follow(self, path: Path, stop: threading.Event) -> None:
        self._seen = _stamp(path)
        while not stop.wait(self.poll_seconds):
            if not path.exists():
                stop.set()
                return
            self._read_if_changed()

    def _read_if_changed(self) -> bool:
        path = self.path
        if path is None or not path.exists():
            return False
        stamp = _stamp(path)
        if stamp == getattr(self, "_seen", None):
            return False
        self._seen = stamp
        self.on_change(path.read_text(encoding="utf-8", errors="replace"))
        return True


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class StudioFiles(App):
    """The file half of the studio (a base class; the studio supplies the editor)."""

    library: TemplateLibrary
    current: Template | None
    parsed: Template | None
    editor: widgets.Textarea
    file_note: widgets.HTML
    upload: widgets.FileUpload
    follower: FileFollower

    if TYPE_CHECKING:  # defined by TemplateStudio

        def _open_saved(self, tpl: Template) -> None: ...

        def _current_ref(self) -> str: ...

        def _label(self, tpl: Template) -> str: ...

    # -- editing in JupyterLab's editor ---------------------------------------------------
    @App.guard
    def edit_in_file(self, path: str | Path | None = None) -> Path:
        """Write the editor's YAML to ``path`` (default ``templates/<name>.yaml`` next to
        the notebook) and follow it: every save there replaces the editor's text and is
        checked as usual. Open the file from JupyterLab's file browser."""
        name = self.parsed.name if self.parsed is not None else self._name_or("template")
        target = Path(path) if path else Path("templates") / f"{name}.yaml"
        written = self.follower.start(target.expanduser(), self.editor.value)
        self.file_note.value = (
            f"following <code>{html.escape(str(written))}</code>: open it from JupyterLab's "
            "file browser; each save shows here (then <b>Save new version</b>)"
        )
        self.info(f"wrote {written}; following it")
        return written

    def _from_file(self, text: str) -> None:
        if text != self.editor.value:
            self.editor.value = text  # observed: checked like typing

    def _name_or(self, default: str) -> str:
        return self.current.name if self.current is not None else default

    # -- import / export -----------------------------------------------------------------------
    @App.guard
    def import_file(self, path: str | Path) -> Template:
        """Import a YAML file into the library (a new version) and open it."""
        if not str(path).strip():
            raise TemplateError("no file to import", fix="Type a .yaml path in 'File'.")
        tpl = self.library.import_file(Path(path).expanduser())
        self.info(f"imported {path} as {tpl.ref}")
        self._open_saved(tpl)
        return tpl

    @App.guard
    def export_file(self, path: str | Path) -> Path:
        """Write the current template (as saved) to a YAML file."""
        if not str(path).strip():
            raise TemplateError("no file to export to", fix="Type a .yaml path in 'File'.")
        ref = self._current_ref()
        target = self.library.export(ref, Path(path).expanduser())
        self.info(f"exported {ref} to {target}")
        if self.parsed is None or self._label(self.parsed) != ref:
            self.info("note: the editor has unsaved edits; they were not exported (Save first)")
        return Path(target)

    @App.guard
    def import_upload(self) -> list[Template]:
        """Import the file(s) chosen in the ``upload`` widget, like :meth:`import_file`."""
        from ..templates import parse_template

        if not self.upload.value:
            raise TemplateError("no file uploaded", fix="Choose a .yaml file with Upload YAML.")
        imported = []
        for item in self.upload.value:
            tpl = parse_template(bytes(item["content"]), source=item["name"])
            imported.append(self.library.save(tpl, message=f"imported from {item['name']}"))
            self.info(f"imported {item['name']} as {imported[-1].ref}")
        self._open_saved(imported[-1])
        return imported

    def _on_upload(self, change: Any) -> None:
        if change["new"]:
            with contextlib.suppress(Exception):  # guard has shown it in the log
                self.import_upload()
