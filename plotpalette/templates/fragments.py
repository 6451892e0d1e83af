"""Built-in templates and fragments, and the Jinja loader behind includes/imports.

``{% include "poem_context" %}`` and ``{% import "prompt_macros@2" as m %}`` name a
*fragment* (a template file with a ``fragment:`` text) by ``name`` or ``name@version``.
With a :class:`~plotpalette.templates.library.TemplateLibrary` the name resolves in the
workspace (where the built-ins are seeded as version 1); without one, only the
built-in fragments shipped in the package are available.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

from jinja2 import BaseLoader, TemplateNotFound

from ..errors import TemplateError, TemplateNotFoundError
from .model import NAME_PATTERN, Template, parse_template

if TYPE_CHECKING:
    from .library import TemplateLibrary

__all__ = [
    "FragmentLoader",
    "builtin_names",
    "builtin_template",
    "builtin_templates",
    "resolve_fragment",
    "split_ref",
]


def split_ref(ref: str) -> tuple[str, int | None]:
    """``"name@3"`` -> ``("name", 3)``; ``"name"`` -> ``("name", None)``.

    A name that cannot be a template name (path separators, ``..``, control or encoded
    characters) is refused here, before anything is looked up, as an unknown template.
    """
    if not isinstance(ref, str):
        raise TemplateNotFoundError(
            f"a template reference must be text, got {type(ref).__name__}",
            fix="Write name or name@version, e.g. question_answer@2.",
        )
    name, at, version = ref.strip().partition("@")
    if not re.fullmatch(NAME_PATTERN, name):
        shown = ref if len(ref) <= 80 else ref[:80] + "…"
        raise TemplateNotFoundError(
            f"unknown fragment or template {shown!r}: names are 1-64 lower-case letters, "
            "digits, '_', '.' and '-', starting with a letter or digit (no paths)",
            fix="Use the name shown by `plotpalette template list`, e.g. poem_context or "
            "poem_context@2.",
        )
    if not at:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise TemplateNotFoundError(
            f"bad template reference {ref!r}: the version must be a whole number from 1",
            fix="Write name or name@version, e.g. question_answer@2.",
        )
    return name, int(version)


@functools.lru_cache(maxsize=1)
def builtin_names() -> dict[str, Any]:
    """The built-in templates' and fragments' names and files, without parsing them.

    A built-in file is named after its template (``poem.yaml`` holds ``name: poem``;
    pinned by a test), so a run that uses one built-in parses only that one.
    """
    root = resources.files("plotpalette.templates") / "builtin"
    found: dict[str, Any] = {}
    for folder in (root, root / "fragments"):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml"):
                found[entry.name[: -len(".yaml")]] = entry
    return found


@functools.cache
def builtin_template(name: str) -> Template | None:
    """The built-in template or fragment ``name``, parsed once per process; ``None``
    if there is no such built-in."""
    entry = builtin_names().get(name)
    if entry is None:
        return None
    return parse_template(entry.read_text(encoding="utf-8"), source=f"builtin/{entry.name}")


def builtin_templates() -> dict[str, Template]:
    """Every built-in template and fragment shipped with the package, by name."""
    return {name: builtin_template(name) for name in builtin_names()}  # type: ignore[misc]


def resolve_fragment(ref: str, library: TemplateLibrary | None = None) -> Template:
    """The fragment ``ref`` names; raises :class:`TemplateNotFoundError` otherwise."""
    name, version = split_ref(ref)
    if library is not None:
        tpl = library.get(ref)
    else:
        tpl = builtin_template(name)  # type: ignore[assignment]
        if tpl is None or (version not in (None, 1)):
            known = sorted(n for n, t in builtin_templates().items() if t.is_fragment)
            raise TemplateNotFoundError(
                f"fragment {ref!r} not found (no template library given; built-in "
                f"fragments: {', '.join(known)})",
                fix="Pass library=TemplateLibrary(workspace) to use saved fragments.",
            )
        tpl = tpl.model_copy(update={"version": 1})
    if not tpl.is_fragment:
        raise TemplateError(
            f"{ref!r} is a template with steps, not a fragment; only fragments can be "
            "included or imported",
            fix="Move the shared text into a fragment (a file with `fragment:` instead of "
            "`steps:`).",
        )
    return tpl


class FragmentLoader(BaseLoader):
    """Jinja loader: template names are fragment references."""

    def __init__(self, library: TemplateLibrary | None = None) -> None:
        self.library = library
        self.resolved: dict[str, str] = {}  # ref as written -> name@version used

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        try:
            tpl = resolve_fragment(template, self.library)
        except TemplateError as exc:
            raise TemplateNotFound(template, exc.message) from None
        self.resolved[template] = tpl.ref
        text = tpl.fragment or ""
        if not text.endswith("\n"):
            text += "\n"  # an included fragment ends its line, whatever its YAML quoting
        return text, f"<fragment {tpl.ref}>", lambda: True
