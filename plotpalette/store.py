"""Object stores: the one interface every persisted byte goes through.

Keys are ``/``-separated relative paths (``jobs/<id>/records/...``). The interface is
the intersection of what a local folder and S3 can do *safely*:

- ``write_bytes`` replaces an object atomically (local: write a temp file, fsync,
  rename; S3: a single PUT is atomic).
- ``create`` writes only if the key does not exist yet and reports whether it won
  (local: ``os.link`` of a finished temp file, which fails on an existing name;
  S3: ``put_object(IfNoneMatch="*")``). Version numbers and record shards rely on it,
  so two writers can never both take the same name.
- ``open_writer`` streams a large object and publishes it under its final name only
  when the ``with`` block ends without an exception, so an interrupted export never
  leaves a half-written file behind.

There is no rename or cross-key transaction: designs built on this interface work on
S3 too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from .errors import WorkspaceError

__all__ = ["LocalStore", "Store", "store_from_url"]


@runtime_checkable
class Store(Protocol):
    """What the rest of Plot Palette needs from a place that holds objects."""

    url: str

    def read_bytes(self, key: str) -> bytes: ...  # raises KeyError if missing
    def write_bytes(self, key: str, data: bytes) -> None: ...
    def create(self, key: str, data: bytes) -> bool: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def open_writer(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]: ...
    def local_path(self, key: str) -> Path | None: ...


class LocalStore:
    """A :class:`Store` on a local folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = self.root.as_uri()

    # -- helpers -----------------------------------------------------------------
    def _path(self, key: str) -> Path:
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise WorkspaceError(
                f"invalid storage key {key!r}", fix="Keys are relative paths without '..'."
            )
        return self.root.joinpath(*parts)

    def _temp(self, path: Path) -> tuple[int, Path]:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise WorkspaceError(f"cannot write under {path.parent}: {exc.strerror}") from None
        return fd, Path(tmp)

    # -- Store ---------------------------------------------------------------------
    def local_path(self, key: str) -> Path:
        return self._path(key)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def _publish(self, key: str, data: bytes, *, exclusive: bool) -> bool:
        """Write ``data`` durably to a temp file, then give it its name in one step."""
        path = self._path(key)
        fd, tmp = self._temp(path)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if not exclusive:
                os.replace(tmp, path)
                return True
            try:
                os.link(tmp, path)  # atomic, and fails if the name is taken
            except FileExistsError:
                return False
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def write_bytes(self, key: str, data: bytes) -> None:
        self._publish(key, data, exclusive=False)

    def create(self, key: str, data: bytes) -> bool:
        return self._publish(key, data, exclusive=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix.strip("/") else self.root
        if base.is_file():
            return [prefix.strip("/")]
        if not base.is_dir():
            return []
        keys = [
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        ]
        return sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():
            for child in sorted(path.rglob("*"), reverse=True):
                child.rmdir() if child.is_dir() else child.unlink()
            path.rmdir()
        else:
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        fd, tmp = self._temp(path)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def store_from_url(url: str) -> Store:
    """The store a location names: a local path or ``file://`` URL (a :class:`LocalStore`).

    ``s3://`` locations are refused until the S3 store is available.
    """
    if url.startswith("s3://"):
        raise WorkspaceError(
            f"S3 workspaces ({url}) are not available in this release",
            fix="Use a local folder for now; S3 stores arrive with the AWS deployment.",
        )
    if url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        url = unquote(urlparse(url).path)
    return LocalStore(url)
