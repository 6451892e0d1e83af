"""Where the template and seed apps get their workspace, template list and seed rows.

Thin wrappers over the public APIs (``Workspace.open``, ``TemplateLibrary``,
``load_seeds`` / ``sample_seeds`` / ``SeedSet.from_workspace``) that accept what a
notebook user types: a folder or ``None``, ``sample:poetry``, a path or a stored hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import SeedError
from ..seeds import SeedSet, load_seeds, sample_seeds
from ..workspace import Workspace

__all__ = ["load_seed_source", "open_workspace", "template_choices"]

_HEX = frozenset("0123456789abcdef")


def open_workspace(
    workspace: Workspace | str | Path | None, backend: str | None = None
) -> Workspace:
    """The workspace an app works in: a Workspace, a folder, or the configured default.

    ``backend`` (``"local"``/``"bedrock"``) overrides the configured backend; ``None``
    keeps it.
    """
    if isinstance(workspace, Workspace):
        if backend is None or backend == workspace.settings.backend:
            return workspace
        return Workspace(workspace.store, workspace.settings.replace(backend=backend))
    folder = str(workspace) if workspace is not None else None
    return Workspace.open(settings=Settings.load(workspace=folder, backend=backend))


def template_choices(workspace: Workspace) -> list[tuple[str, str]]:
    """Dropdown options ``(label, name)`` for every saved and built-in template.

    Fragments (shared text that templates include) are listed too, marked as such.
    """
    from ..templates.library import TemplateLibrary

    return [
        (f"{info.name} (fragment)" if info.fragment else info.name, info.name)
        for info in TemplateLibrary(workspace).list_templates()
    ]


def load_seed_source(workspace: Workspace, source: Any) -> SeedSet:
    """Seed rows from ``source``: a SeedSet, ``"sample:<name>"``, a stored seed-set hash
    (8+ hex characters that are not a file name), a file path, a DataFrame or a list."""
    if isinstance(source, SeedSet):
        return source
    if not isinstance(source, str):
        return load_seeds(source)
    text = source.strip()
    if not text:
        raise SeedError(
            "no seed source given", fix="Type a file path or sample:poetry in the Seeds box."
        )
    if text.startswith("sample:"):
        return sample_seeds(text.split(":", 1)[1])
    if len(text) >= 8 and set(text.lower()) <= _HEX and not Path(text).exists():
        return SeedSet.from_workspace(workspace, text)
    return load_seeds(text)
