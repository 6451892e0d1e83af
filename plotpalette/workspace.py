"""Open a workspace: where templates, seeds, jobs and the registry live.

A workspace is a local folder by default, or ``s3://bucket/prefix`` with a DynamoDB
registry table (see :mod:`plotpalette.aws.workspace`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from . import layout
from ._version import __version__
from .config import Settings
from .errors import WorkspaceError
from .store import Store, store_from_url

if TYPE_CHECKING:  # the registry imports the jobs package, which imports this module
    from .jobs.registry import Registry

__all__ = ["Workspace"]


class Workspace:
    """A place that holds a Plot Palette project's data.

    >>> ws = Workspace.open("/tmp/pp-doctest")          # doctest: +SKIP
    >>> ws.store.write_bytes("notes/a.txt", b"hello")   # doctest: +SKIP
    """

    def __init__(self, store: Store, settings: Settings, registry: Registry | None = None) -> None:
        self.store = store
        self.settings = settings
        self._registry = registry

    @property
    def registry(self) -> Registry:
        """The job registry of this workspace, built on first use and owned by it (a
        :class:`~plotpalette.jobs.registry.Registry`; do not close it, the workspace
        does in :meth:`close`)."""
        if self._registry is None:
            from .jobs.registry import Registry
            from .tables import SQLiteTables

            if self.root is None:
                raise WorkspaceError(
                    f"{self.location} has no registry tables configured",
                    fix="Open remote workspaces with Workspace.open(url).",
                )
            path = Path(self.root) / layout.REGISTRY_FILE
            tables = SQLiteTables(path)
            from .jobs.migrate import migrate_sqlite_v1

            migrate_sqlite_v1(path, tables)  # jobs of the first registry format, once
            self._registry = Registry(tables, shared=True)
        registry: Registry = self._registry
        return registry

    def close(self) -> None:
        """Close the registry (the store needs no closing)."""
        if self._registry is not None:
            self._registry.tables.close()
            self._registry = None

    @classmethod
    def open(
        cls,
        location: str | Path | None = None,
        *,
        settings: Settings | None = None,
        create: bool = True,
    ) -> Workspace:
        """Open (and by default create) the workspace at ``location``.

        ``location`` defaults to ``settings.workspace``, which follows the usual order:
        argument > ``PLOTPALETTE_WORKSPACE`` > ``~/plotpalette-workspace``.
        """
        if settings is None:
            settings = Settings.load(workspace=str(location) if location else None)
        elif location is not None:
            settings = settings.replace(workspace=str(location))
        where = settings.workspace
        if where.startswith("s3://"):
            from .aws.workspace import open_s3_workspace  # boto3 only for S3 locations
            from .jobs.registry import Registry

            store, tables = open_s3_workspace(where, settings, create=create)
            ws = cls(store, settings, Registry(tables, shared=True))
            ws._check_marker()
            return ws
        root = Path(where).expanduser()
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"workspace {root} exists and is not a folder")
        if not root.exists():
            if not create:
                raise WorkspaceError(
                    f"no workspace at {root}",
                    fix="Create it with `plotpalette init` or pass create=True.",
                )
            try:
                root.mkdir(parents=True)
            except OSError as exc:
                raise WorkspaceError(f"cannot create workspace {root}: {exc.strerror}") from None
        ws = cls(store_from_url(str(root)), settings)
        ws._check_marker()
        return ws

    @property
    def location(self) -> str:
        return self.settings.workspace

    @property
    def root(self) -> Path | None:
        """The local folder, or ``None`` for remote workspaces."""
        return getattr(self.store, "root", None)

    def _check_marker(self) -> None:
        try:
            marker = json.loads(self.store.read_bytes(layout.WORKSPACE_MARKER))
        except KeyError:
            body = {"layout_version": layout.LAYOUT_VERSION, "created_by": __version__}
            self.store.create(layout.WORKSPACE_MARKER, json.dumps(body).encode())
            return
        except ValueError:
            raise WorkspaceError(
                f"{layout.WORKSPACE_MARKER} in {self.location} is damaged",
                fix="Restore it from a backup or delete it.",
            ) from None
        if marker.get("layout_version", 0) > layout.LAYOUT_VERSION:
            raise WorkspaceError(
                f"workspace {self.location} was written by a newer Plot Palette "
                f"(layout {marker['layout_version']})",
                fix="Upgrade plotpalette: pip install -U plotpalette.",
            )

    def __repr__(self) -> str:
        return f"Workspace({self.location!r})"
