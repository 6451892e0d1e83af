"""The registry's storage contract: single-item conditional writes and append-only logs.

Everything the job registry persists (jobs, work units, budget, quota shares, workers)
is an :class:`Item` addressed by ``(kind, key)`` and changed by compare-and-swap on its
``version``; audit trails (the cost ledger, events) are append-only logs whose entries
are written at most once per key. There are no cross-item transactions, which is exactly
what both a SQLite file and one DynamoDB table can do safely, so every business rule
above this module (units, leases, budget, quota, finalizer, job states) runs unchanged
on either backend.

Implementations: :class:`SQLiteTables` here (local workspaces) and ``DynamoTables`` in
:mod:`plotpalette.aws.dynamo`. Both pass ``tests/contracts/test_tables_contract.py``.

>>> t = SQLiteTables(":memory:")
>>> t.create("job", "j1", {"state": "QUEUED"}).version
1
>>> update(t, "job", "j1", lambda d: {**d, "state": "RUNNING"}).data["state"]
'RUNNING'
"""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import ConflictError, WorkspaceError

__all__ = [
    "MAX_ITEM_BYTES",
    "Item",
    "Page",
    "SQLiteTables",
    "Tables",
    "encode_data",
    "iter_items",
    "iter_log",
    "tables_from_url",
    "update",
]

#: Largest encoded ``data`` any implementation accepts. DynamoDB's item limit is
#: 400 KB; capping every backend lower means code written against SQLite never
#: meets a size error only on AWS.
MAX_ITEM_BYTES = 350_000


@dataclass(frozen=True)
class Item:
    """One stored item. ``version`` is 1 on create and +1 on every replace."""

    kind: str
    key: str
    data: dict[str, Any]
    version: int


@dataclass(frozen=True)
class Page:
    """One page of a query; ``next_token`` is opaque and ``None`` on the last page."""

    items: list[Item]
    next_token: str | None


@runtime_checkable
class Tables(Protocol):
    """Single-item conditional operations plus idempotent appends (see module doc)."""

    url: str

    def get(self, kind: str, key: str) -> Item | None: ...
    def create(self, kind: str, key: str, data: dict[str, Any]) -> Item | None: ...
    def replace(
        self, kind: str, key: str, data: dict[str, Any], *, version: int
    ) -> Item | None: ...
    def delete(self, kind: str, key: str, *, version: int | None = None) -> bool: ...
    def query(
        self, kind: str, prefix: str = "", *, limit: int = 100, token: str | None = None
    ) -> Page: ...
    def append(self, log: str, key: str, data: dict[str, Any]) -> bool: ...
    def read_log(
        self, log: str, prefix: str = "", *, limit: int = 1000, token: str | None = None
    ) -> Page: ...
    def close(self) -> None: ...


def encode_data(data: dict[str, Any]) -> str:
    """JSON-encode ``data``, refusing what no backend could store."""
    if not isinstance(data, dict):
        raise WorkspaceError(
            f"a stored item's data must be a dict, not {type(data).__name__}",
            fix="Wrap the value in a dict.",
        )
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise WorkspaceError(
            f"item data is not JSON-serialisable: {exc}",
            fix="Store only str/int/float/bool/None/list/dict values (no NaN or infinity).",
        ) from None
    size = len(text.encode())
    if size > MAX_ITEM_BYTES:
        raise WorkspaceError(
            f"item data is {size:,} bytes encoded, over the {MAX_ITEM_BYTES:,}-byte limit",
            fix="Keep large payloads in the object store and store only their key here.",
        )
    return text


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise WorkspaceError(
            f"invalid page token {token!r}", fix="Pass a next_token returned by the same query."
        ) from None


def update(
    tables: Tables,
    kind: str,
    key: str,
    fn: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    retries: int = 50,
) -> Item | None:
    """Read-modify-write one item with optimistic concurrency.

    ``fn`` gets a copy of the current data and returns the new data, or ``None`` to
    abort (nothing is written, ``None`` is returned). On a version conflict the item is
    read again and ``fn`` re-applied, so ``fn`` must be a pure function of its input.
    Returns ``None`` too when the item does not exist. Raises :class:`ConflictError`
    after ``retries`` lost races in a row.
    """
    for attempt in range(retries):
        item = tables.get(kind, key)
        if item is None:
            return None
        new = fn(json.loads(json.dumps(item.data)))
        if new is None:
            return None
        stored = tables.replace(kind, key, new, version=item.version)
        if stored is not None:
            return stored
        time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))
    raise ConflictError(f"{kind} {key!r} kept changing under {retries} attempts to update it")


class _Fetched:
    """Rows read under the lock (a cursor must not be iterated outside it)."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows
        self.rowcount = -1

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return self.rows


def _all_pages(fetch: Callable[[str | None], Page]) -> Iterator[Item]:
    token: str | None = None
    while True:
        got = fetch(token)
        yield from got.items
        if got.next_token is None:
            return
        token = got.next_token


def iter_items(tables: Tables, kind: str, prefix: str = "", *, page: int = 500) -> Iterator[Item]:
    """Every item of ``kind`` whose key starts with ``prefix``, in key order."""
    return _all_pages(lambda token: tables.query(kind, prefix, limit=page, token=token))


def iter_log(tables: Tables, log: str, prefix: str = "", *, page: int = 1000) -> Iterator[Item]:
    """Every entry of ``log`` whose key starts with ``prefix``, in key order."""
    return _all_pages(lambda token: tables.read_log(log, prefix, limit=page, token=token))


def tables_from_url(url: str) -> Tables:
    """Open the tables a ``Tables.url`` names (another process can reopen the same ones).

    ``sqlite:///<path>`` opens :class:`SQLiteTables`; ``dynamodb://<table>`` is handed to
    ``plotpalette.aws.dynamo.DynamoTables.from_url``.
    """
    if url.startswith("sqlite:///"):
        return SQLiteTables(url[len("sqlite:///") :])
    if url.startswith("dynamodb://"):
        from .aws import dynamo  # boto3 lives under aws/ only

        return dynamo.DynamoTables.from_url(url)  # type: ignore[attr-defined,no-any-return]
    raise WorkspaceError(
        f"unknown registry tables location {url!r}",
        fix="Use sqlite:///path/to/registry.sqlite or dynamodb://table-name.",
    )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (kind, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    log TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (log, key)) WITHOUT ROWID;
"""


class SQLiteTables:
    """:class:`Tables` in one SQLite file (WAL); safe across threads and processes.

    Every operation is a single statement in autocommit mode, so each one is atomic on
    its own and concurrent writers (threads or processes) serialise in SQLite's lock.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.url = "sqlite:///" + (
            self.path if self.path == ":memory:" else str(Path(self.path).resolve())
        )
        self._lock = threading.Lock()
        try:
            db = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA busy_timeout=60000")
            if self.path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise WorkspaceError(f"cannot open the registry tables {self.path}: {exc}") from None
        self._db = db

    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            try:
                cur = self._db.execute(sql, args)
                if sql.startswith("SELECT"):
                    return _Fetched(cur.fetchall())
                return cur
            except sqlite3.ProgrammingError as exc:
                raise WorkspaceError(f"registry tables {self.path} are closed: {exc}") from None
            except sqlite3.OperationalError as exc:
                raise WorkspaceError(
                    f"registry tables {self.path}: {exc}",
                    fix="Check that the workspace folder is writable and not on a network "
                    "share without file locking.",
                ) from None

    def get(self, kind: str, key: str) -> Item | None:
        row = self._run(
            "SELECT data, version FROM items WHERE kind=? AND key=?", (kind, key)
        ).fetchone()
        return None if row is None else Item(kind, key, json.loads(row[0]), row[1])

    def create(self, kind: str, key: str, data: dict[str, Any]) -> Item | None:
        text = encode_data(data)
        cur = self._run(
            "INSERT OR IGNORE INTO items (kind, key, data, version) VALUES (?,?,?,1)",
            (kind, key, text),
        )
        return Item(kind, key, json.loads(text), 1) if cur.rowcount == 1 else None

    def replace(self, kind: str, key: str, data: dict[str, Any], *, version: int) -> Item | None:
        text = encode_data(data)
        cur = self._run(
            "UPDATE items SET data=?, version=version+1 WHERE kind=? AND key=? AND version=?",
            (text, kind, key, version),
        )
        return Item(kind, key, json.loads(text), version + 1) if cur.rowcount == 1 else None

    def delete(self, kind: str, key: str, *, version: int | None = None) -> bool:
        if version is None:
            cur = self._run("DELETE FROM items WHERE kind=? AND key=?", (kind, key))
        else:
            cur = self._run(
                "DELETE FROM items WHERE kind=? AND key=? AND version=?", (kind, key, version)
            )
        return cur.rowcount == 1

    def _page(
        self, table: str, col: str, name: str, prefix: str, limit: int, token: str | None
    ) -> tuple[list[tuple[Any, ...]], str | None]:
        if limit < 1:
            raise WorkspaceError(f"page limit must be at least 1, not {limit}")
        after = decode_token(token) if token else None
        sql = f"SELECT key, data{', version' if table == 'items' else ''} FROM {table} "
        sql += f"WHERE {col}=? AND substr(key, 1, ?)=?"
        args: list[Any] = [name, len(prefix), prefix]
        if after is not None:
            sql += " AND key>?"
            args.append(after)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit + 1)
        rows = self._run(sql, tuple(args)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_token(rows[-1][0]) if more else None)

    def query(
        self, kind: str, prefix: str = "", *, limit: int = 100, token: str | None = None
    ) -> Page:
        rows, nxt = self._page("items", "kind", kind, prefix, limit, token)
        return Page([Item(kind, k, json.loads(d), v) for k, d, v in rows], nxt)

    def append(self, log: str, key: str, data: dict[str, Any]) -> bool:
        text = encode_data(data)
        cur = self._run(
            "INSERT OR IGNORE INTO logs (log, key, data) VALUES (?,?,?)", (log, key, text)
        )
        return cur.rowcount == 1

    def read_log(
        self, log: str, prefix: str = "", *, limit: int = 1000, token: str | None = None
    ) -> Page:
        rows, nxt = self._page("logs", "log", log, prefix, limit, token)
        return Page([Item(log, k, json.loads(d), 1) for k, d in rows], nxt)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteTables({self.path!r})"
