"""Object stores: the one interface every persisted byte goes through.

Keys are ``/``-separated relative names (``jobs/<id>/records/...``). The contract is
the intersection of what a local folder and S3 can do *safely*, so code written
against :class:`LocalStore` runs unchanged on :class:`~plotpalette.aws.s3.S3Store`:

- ``create`` writes only if the key does not exist yet and reports whether it won
  (local: ``os.link`` of a finished temp file; S3: ``put_object(IfNoneMatch="*")``).
  Version numbers and record shards rely on it: two writers never take one name.
- ``write_bytes`` replaces an object atomically; ``replace_if`` replaces it only if
  its ETag is still the one the caller read (compare-and-swap; S3: ``IfMatch``).
- ``list_page`` pages through keys by plain string prefix (no folders: ``"jobs/a"``
  also matches ``"jobs/ab/x"``; pass ``"jobs/a/"`` for one job); ``delete_prefix``
  removes every key under a prefix.
- ``open_writer`` streams a large object and publishes it under its final name only
  when the ``with`` block ends without an exception (S3: a multipart upload that is
  completed or aborted), so an interrupted export never leaves a half-written file.

There is no rename, no directory and no cross-key transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from .errors import WorkspaceError

__all__ = ["KeyPage", "LocalStore", "ObjectInfo", "Store", "check_key", "store_from_url"]

RESERVED = ".pp-"  # local temp and lock files; never a key segment
_LOCK_STRIPES = 64


@dataclass(frozen=True)
class ObjectInfo:
    """An object's size, ETag (opaque, changes with the content) and modification time."""

    key: str
    size: int
    etag: str
    modified: float  # POSIX seconds


@dataclass(frozen=True)
class KeyPage:
    """One page of a listing; pass ``next_token`` back for the next page."""

    keys: list[str]
    next_token: str | None


@runtime_checkable
class Store(Protocol):
    """What the rest of Plot Palette needs from a place that holds objects."""

    url: str

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; ``KeyError`` if there is none."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or replace the object atomically (readers see old or new, never half)."""
        ...

    def create(self, key: str, data: bytes) -> bool:
        """Write only if ``key`` is free; ``False`` (and nothing written) if it exists."""
        ...

    def replace_if(self, key: str, data: bytes, etag: str) -> str | None:
        """Replace only if the object's ETag is still ``etag``: the new ETag, or ``None``
        if it changed or is gone (compare-and-swap)."""
        ...

    def etag(self, key: str) -> str | None:
        """The object's current ETag (opaque), or ``None`` if there is none."""
        ...

    def stat(self, key: str) -> ObjectInfo | None:
        """Size, ETag and modification time, or ``None`` if there is no such object."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def list_page(
        self, prefix: str = "", token: str | None = None, *, limit: int = 1000
    ) -> KeyPage:
        """Up to ``limit`` keys starting with ``prefix`` (a plain string prefix), in key
        order, after the page that returned ``token``."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix``, in key order (all pages)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; returns how many."""
        ...

    def open_writer(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A writable file that is published under ``key`` only when the ``with`` block
        ends without an exception (streaming: large objects never sit in memory)."""
        ...

    def location(self, key: str = "") -> str:
        """Where ``key`` lives, for people: a file path or an ``s3://`` URL."""
        ...


def check_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it is a valid key (or, with ``prefix=True``, key prefix)."""
    if not isinstance(key, str):
        raise WorkspaceError(f"invalid storage key {key!r}", fix="Keys are strings.")
    parts = key.split("/")
    if prefix:
        parts = parts[:-1] if parts and parts[-1] == "" else parts
        if key == "":
            return key
    bad = (
        not key
        or key.startswith("/")
        or any(p in ("", ".", "..") or p.startswith(RESERVED) for p in parts)
        or "\\" in key
        or "\x00" in key
    )
    if bad:
        raise WorkspaceError(
            f"invalid storage key {key!r}",
            fix="Keys are relative names like 'jobs/<id>/manifest.json' without '..', empty "
            f"segments or segments starting with {RESERVED!r}.",
        )
    return key


class StoreBase:
    """What every store derives from its primitives."""

    url: str

    def list_page(
        self, prefix: str = "", token: str | None = None, *, limit: int = 1000
    ) -> KeyPage:
        raise NotImplementedError

    def stat(self, key: str) -> ObjectInfo | None:
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix``, in order (pages through ``list_page``)."""
        keys: list[str] = []
        token: str | None = None
        while True:
            page = self.list_page(prefix, token)
            keys.extend(page.keys)
            if page.next_token is None:
                return keys
            token = page.next_token

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def etag(self, key: str) -> str | None:
        info = self.stat(key)
        return info.etag if info else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class LocalStore(StoreBase):
    """A :class:`Store` on a local folder.

    Writes go to a temp file that is fsynced and then renamed or linked into place.
    ``replace_if``, ``write_bytes`` and ``delete`` take a per-key-stripe file lock
    (``fcntl``, lock files in the system temp folder), so compare-and-swap holds across
    threads and processes of one machine.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = self.root.as_uri()
        self._thread_locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        # Lock files live outside the folder (no litter in an export destination); every
        # process on this machine that opens the same folder finds the same ones.
        user = os.getuid() if hasattr(os, "getuid") else "user"
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:16]
        self._lock_dir = Path(tempfile.gettempdir()) / f"plotpalette-locks-{user}" / digest

    # -- helpers -----------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _temp(self, path: Path) -> tuple[int, Path]:
        for attempt in range(3):  # a concurrent delete may prune the folder in between
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{RESERVED}{path.name}.")
                return fd, Path(tmp)
            except FileNotFoundError:
                if attempt == 2:
                    raise WorkspaceError(f"cannot write under {path.parent}") from None
            except OSError as exc:
                msg = f"cannot write under {path.parent}: {exc.strerror}"
                raise WorkspaceError(msg) from None
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        stripe = int(hashlib.sha1(key.encode()).hexdigest(), 16) % _LOCK_STRIPES
        with self._thread_locks[stripe]:
            try:
                import fcntl
            except ImportError:  # Windows: threads of one process are still serialised
                yield
                return
            try:
                self._lock_dir.mkdir(parents=True, exist_ok=True)
                fh = open(self._lock_dir / f"{stripe:02d}", "a+b")  # noqa: SIM115
            except OSError:  # no writable temp folder: threads are still serialised
                yield
                return
            with fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _prune(self, path: Path) -> None:
        """Remove folders left empty below the root (folders are not part of the model)."""
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent

    @staticmethod
    def _md5(data: bytes) -> str:
        return hashlib.md5(data, usedforsecurity=False).hexdigest()

    # -- Store ---------------------------------------------------------------------
    def location(self, key: str = "") -> str:
        return str(self._path(key)) if key else str(self.root)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None

    def _durable_temp(self, path: Path, data: bytes) -> Path:
        """``data`` in a fsynced temp file next to ``path`` (the caller renames it)."""
        fd, tmp = self._temp(path)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def _publish(self, key: str, data: bytes, *, exclusive: bool) -> bool:
        """Write ``data`` durably to a temp file, then give it its name in one step."""
        path = self._path(key)
        tmp = self._durable_temp(path, data)
        try:
            if not exclusive:
                with self._locked(key):
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

    def replace_if(self, key: str, data: bytes, etag: str) -> str | None:
        path = self._path(key)
        tmp = self._durable_temp(path, data)
        try:
            with self._locked(key):
                try:
                    current = self._md5(path.read_bytes())
                except (FileNotFoundError, IsADirectoryError):
                    return None
                if current != etag:
                    return None
                os.replace(tmp, path)
            return self._md5(data)
        finally:
            tmp.unlink(missing_ok=True)

    def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
            st = path.stat()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return ObjectInfo(key, len(data), self._md5(data), st.st_mtime)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _walk(self, prefix: str) -> list[str]:
        check_key(prefix, prefix=True)
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root.joinpath(*folder.split("/")) if folder else self.root
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(RESERVED)]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            head = "" if rel == "." else rel + "/"
            keys.extend(
                head + name
                for name in filenames
                if not name.startswith(RESERVED) and (head + name).startswith(prefix)
            )
        return sorted(keys)

    def list(self, prefix: str = "") -> list[str]:
        return self._walk(prefix)

    def list_page(
        self, prefix: str = "", token: str | None = None, *, limit: int = 1000
    ) -> KeyPage:
        keys = self._walk(prefix)
        if token is not None:
            keys = [k for k in keys if k > token]
        page = keys[: max(1, limit)]
        return KeyPage(page, page[-1] if len(keys) > len(page) else None)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._locked(key):
            if not path.is_file():
                return
            path.unlink(missing_ok=True)
        self._prune(path)

    def delete_prefix(self, prefix: str) -> int:
        keys = self._walk(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    @contextlib.contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        fd, tmp = self._temp(path)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            with self._locked(key):
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
            if not path.exists():
                self._prune(path)


def store_from_url(
    url: str | os.PathLike[str],
    *,
    region: str | None = None,
    profile: str | None = None,
    client: object | None = None,
) -> Store:
    """The store a location names: a folder or ``file://`` URL gives a :class:`LocalStore`,
    ``s3://bucket/prefix`` an :class:`~plotpalette.aws.s3.S3Store` (``region``,
    ``profile`` and an injected boto3 ``client`` apply to S3 only).
    """
    text = os.fspath(url)
    if text.startswith("s3://"):
        from .aws.s3 import S3Store  # boto3 is only imported for S3 locations

        return S3Store.from_url(text, region=region, profile=profile, client=client)
    if text.startswith("file://"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise WorkspaceError(
                f"cannot open {text}: file URLs name a local path",
                fix="Write file:///absolute/path (three slashes).",
            )
        return LocalStore(unquote(parsed.path))
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise WorkspaceError(
            f"unsupported storage location {text!r} ({scheme}://)",
            fix="Use a local folder, a file:// URL or s3://bucket/prefix.",
        )
    return LocalStore(text)
