"""The template library: immutable, numbered versions of templates in a workspace.

Each save writes ``templates/<name>/v000123.yaml`` with the store's create-if-absent
operation, so two concurrent saves can never take the same version number: the loser
re-reads the versions and tries the next number (or finds its content already saved).
Saving content identical to the latest version creates no version. Built-in templates
and fragments are seeded as version 1 on first use, so ``library.get("poem")`` works in
a fresh workspace and a user's edits become version 2, 3, ...
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from .. import layout
from ..errors import (
    ConflictError,
    TemplateError,
    TemplateFormatError,
    TemplateInUseError,
    TemplateNotFoundError,
)
from .fragments import builtin_names, builtin_template, split_ref
from .model import Template, parse_template
from .yaml_io import read_template_file

__all__ = ["TemplateLibrary", "VersionInfo"]

_VERSION_FILE = re.compile(r"^v(\d{6})\.yaml$")
_HEADER = re.compile(r"^# (saved_at|message|content_hash|builtin): ?(.*)$", re.MULTILINE)
_MAX_SAVE_ATTEMPTS = 100


@dataclass(frozen=True)
class VersionInfo:
    """One stored version, as listed by history, catalogue and search."""

    name: str
    version: int
    content_hash: str
    saved_at: str
    message: str
    description: str
    category: str
    forked_from: str | None
    builtin: bool
    fragment: bool

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ref": self.ref}


class TemplateLibrary:
    """Versioned templates and fragments stored in ``workspace`` (see module docstring).

    ``pinned_by(name)`` may return job ids that pin a template; independently, the
    library scans the jobs' template snapshots (``jobs/*/template.yaml``, written when
    a job is created) for one of that name, so deletes are refused even without a job
    registry.
    """

    def __init__(
        self, workspace: Any, *, pinned_by: Callable[[str], list[str]] | None = None
    ) -> None:
        self.workspace = workspace
        self.store = workspace.store
        self.pinned_by = pinned_by
        self._cache: dict[tuple[str, int], tuple[Template, dict[str, str]]] = {}
        self._seeded: set[str] = set()  # built-ins known to be in the workspace

    # -- reading ---------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every template and fragment name in the workspace (built-ins included)."""
        self._ensure_builtins()
        found = {
            key.split("/")[1]
            for key in self.store.list("templates/")
            if key.count("/") == 2 and _VERSION_FILE.match(key.split("/")[2])
        }
        return sorted(found)

    def versions(self, name: str) -> list[int]:
        """Version numbers of ``name``, ascending (empty if unknown)."""
        self._ensure_builtin(name)
        return self._versions(name)

    def get(self, ref: str) -> Template:
        """``"name@3"`` -> that version; ``"name"`` -> the latest version."""
        name, version = split_ref(ref)
        versions = self.versions(name)
        if not versions:
            close = difflib.get_close_matches(name, self.names(), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise TemplateNotFoundError(f"no template named {name!r} in the library.{hint}")
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise TemplateNotFoundError(
                f"template {name!r} has no version {version} (versions: {_ranges(versions)})"
            )
        return self._read(name, version)[0]

    def history(self, name: str) -> list[VersionInfo]:
        """Every version of ``name``, oldest first."""
        self.get(name)  # clear error for unknown names
        return [self._info(name, v) for v in self.versions(name)]

    def list_templates(self) -> list[VersionInfo]:
        """The latest version of every template and fragment."""
        return [self._info(name, self._versions(name)[-1]) for name in self.names()]

    def search(self, query: str = "", *, category: str | None = None) -> list[VersionInfo]:
        """Latest versions whose name, description or category contains ``query``
        (case-insensitive); name matches first."""
        q = query.lower().strip()
        hits: list[tuple[int, str, VersionInfo]] = []
        for info in self.list_templates():
            if category and info.category.lower() != category.lower():
                continue
            fields = (info.name, info.description, info.category)
            rank = next((i for i, text in enumerate(fields) if q in text.lower()), None)
            if rank is not None:
                hits.append((rank, info.name, info))
        return [info for _, _, info in sorted(hits, key=lambda h: (h[0], h[1]))]

    def diff(self, a: str, b: str) -> str:
        """Unified diff between two versions (``name@1``, ``name@2`` or ``name``)."""
        left, right = self.get(a), self.get(b)
        return "".join(
            difflib.unified_diff(
                left.to_yaml().splitlines(keepends=True),
                right.to_yaml().splitlines(keepends=True),
                fromfile=left.ref,
                tofile=right.ref,
            )
        )

    def pinned_jobs(self, name: str) -> list[str]:
        """Ids of jobs whose spec pins template ``name`` (any version)."""
        jobs = set(self.pinned_by(name) if self.pinned_by else [])
        for key in self.store.list("jobs/"):
            parts = key.split("/")
            if len(parts) != 3 or parts[2] != "template.yaml":
                continue
            try:
                snapshot = yaml.safe_load(self.store.read_bytes(key))
            except (KeyError, yaml.YAMLError):
                continue
            if isinstance(snapshot, dict) and snapshot.get("name") == name:
                jobs.add(parts[1])
        return sorted(jobs)

    # -- writing ---------------------------------------------------------------------
    def save(self, template: Template | str, *, message: str = "") -> Template:
        """Store ``template`` (a Template or YAML text) as a new version.

        Returns the stored template with ``version`` set. Content identical to the
        latest version creates no new version and returns the latest.
        """
        tpl = template if isinstance(template, Template) else parse_template(template)
        self._ensure_builtin(tpl.name)
        return self._save(tpl, message)

    def restore(self, ref: str) -> Template:
        """Save the content of an old version as the newest version."""
        old = self.get(ref)
        return self.save(old.model_copy(update={"version": None}), message=f"restore {old.ref}")

    def fork(self, ref: str, new_name: str, *, message: str = "") -> Template:
        """Copy ``ref`` under ``new_name`` (version 1) recording ``forked_from``."""
        source = self.get(ref)
        if self.versions(new_name):
            raise TemplateError(
                f"a template named {new_name!r} already exists",
                fix="Choose a new name for the fork.",
            )
        data = {**source.canonical(), "name": new_name, "forked_from": source.ref}
        try:
            forked = Template.model_validate(data)
        except ValueError as exc:
            raise TemplateFormatError(f"cannot fork as {new_name!r}: {exc}") from None
        return self.save(forked, message=message or f"fork of {source.ref}")

    def import_file(self, path: str | Path, *, message: str = "") -> Template:
        """Read a YAML file and save it (any ``version:`` in the file is ignored)."""
        path = Path(path)
        tpl = parse_template(read_template_file(path), source=str(path))
        return self.save(tpl, message=message or f"imported from {path.name}")

    def export(self, ref: str, path: str | Path) -> Path:
        """Write version ``ref`` as a YAML file that :meth:`import_file` reads back."""
        tpl = self.get(ref)
        path = Path(path)
        try:
            path.write_text(
                f"# exported from Plot Palette: {tpl.ref}\n{tpl.to_yaml()}", encoding="utf-8"
            )
        except OSError as exc:
            raise TemplateError(
                f"cannot write {path}: {exc.strerror}", fix="Choose a writable file path."
            ) from None
        return path

    def delete(self, name: str) -> int:
        """Delete every version of ``name``; refused for built-ins and while a job pins
        it. Returns the number of versions deleted."""
        if name in builtin_names():
            raise TemplateError(
                f"{name!r} is a built-in template and cannot be deleted",
                fix="Fork it and edit the fork instead.",
            )
        versions = self.versions(name)
        if not versions:
            raise TemplateNotFoundError(f"no template named {name!r} in the library")
        jobs = self.pinned_jobs(name)
        if jobs:
            raise TemplateInUseError(
                f"template {name!r} is pinned by {len(jobs)} job(s): {', '.join(jobs[:10])}"
            )
        for version in versions:
            self.store.delete(layout.template_version_key(name, version))
            self._cache.pop((name, version), None)
        return len(versions)

    # -- internals -------------------------------------------------------------------
    def _versions(self, name: str) -> list[int]:
        prefix = layout.template_prefix(name)
        found = []
        for key in self.store.list(prefix):
            match = _VERSION_FILE.match(key[len(prefix) :])
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def _read(self, name: str, version: int) -> tuple[Template, dict[str, str]]:
        cached = self._cache.get((name, version))
        if cached is None:
            key = layout.template_version_key(name, version)
            try:
                raw = self.store.read_bytes(key)
            except KeyError:
                raise TemplateNotFoundError(f"template {name}@{version} was deleted") from None
            tpl = parse_template(raw, source=key).model_copy(update={"version": version})
            header = dict(_HEADER.findall(raw.decode("utf-8", "replace").split("\n\n")[0]))
            cached = self._cache[(name, version)] = (tpl, header)
        return cached

    def _info(self, name: str, version: int) -> VersionInfo:
        tpl, header = self._read(name, version)
        return VersionInfo(
            name,
            version,
            tpl.content_hash,
            header.get("saved_at", ""),
            header.get("message", ""),
            tpl.description,
            tpl.category,
            tpl.forked_from,
            header.get("builtin") == "true",
            tpl.is_fragment,
        )

    def _save(self, tpl: Template, message: str, *, builtin: bool = False) -> Template:
        for _ in range(_MAX_SAVE_ATTEMPTS):
            versions = self._versions(tpl.name)
            if versions:
                latest = self._read(tpl.name, versions[-1])[0]
                if latest.content_hash == tpl.content_hash:
                    return latest
            version = (versions[-1] if versions else 0) + 1
            body = _serialise(tpl, version, message, builtin=builtin)
            if self.store.create(layout.template_version_key(tpl.name, version), body):
                return self._read(tpl.name, version)[0]
        raise ConflictError(
            f"could not save {tpl.name!r}: {_MAX_SAVE_ATTEMPTS} concurrent saves won the race"
        )

    def _ensure_builtins(self) -> None:
        for name in builtin_names():
            self._ensure_builtin(name)

    def _ensure_builtin(self, name: str) -> None:
        """Seed built-in ``name`` as version 1 unless the workspace has it. Only the
        built-in asked for is parsed: a run of one template starts faster."""
        if name in self._seeded or name not in builtin_names():
            return
        self._seeded.add(name)
        if not self._versions(name):
            tpl = builtin_template(name)
            assert tpl is not None  # it is in builtin_names()
            self.store.create(
                layout.template_version_key(name, 1), _serialise(tpl, 1, "built-in", builtin=True)
            )


def _serialise(tpl: Template, version: int, message: str, *, builtin: bool = False) -> bytes:
    saved_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"# plotpalette template: {tpl.name}@{version}",
        f"# saved_at: {saved_at}",
        f"# content_hash: {tpl.content_hash}",
    ]
    if message:
        lines.append(f"# message: {' '.join(message.split())}")
    if builtin:
        lines.append("# builtin: true")
    return ("\n".join(lines) + "\n\n" + tpl.to_yaml()).encode("utf-8")


def _ranges(versions: list[int]) -> str:
    return f"{versions[0]}-{versions[-1]}" if len(versions) > 1 else str(versions[0])
