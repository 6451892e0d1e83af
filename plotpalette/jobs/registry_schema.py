"""The SQLite registry's schema, connection settings and transactions.

WAL mode with a busy timeout lets a notebook and a CLI process use the file at the same
time; ``synchronous=NORMAL`` in WAL mode means a commit survives a killed process (it is
in the OS cache), not a power cut, which is the failure the ledger must survive.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

__all__ = ["SCHEMA", "Transaction", "connect"]

# Columns added after the first release: a registry created before them is upgraded in
# place (``ALTER TABLE ... ADD COLUMN`` keeps every row, the new column gets its default).
_ADDED_COLUMNS = {"paused": "INTEGER DEFAULT 0", "deleted_at": "REAL"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, name TEXT, state TEXT NOT NULL, spec TEXT NOT NULL,
    fingerprint TEXT NOT NULL, template TEXT NOT NULL, batch_id TEXT,
    records_total INTEGER NOT NULL, records_ok INTEGER DEFAULT 0,
    records_failed INTEGER DEFAULT 0, records_filtered INTEGER DEFAULT 0,
    budget_usd REAL, budget_tokens INTEGER,
    settled_usd REAL DEFAULT 0, reserved_usd REAL DEFAULT 0, waste_usd REAL DEFAULT 0,
    settled_tokens INTEGER DEFAULT 0, reserved_tokens INTEGER DEFAULT 0,
    calls INTEGER DEFAULT 0, error TEXT, price_tables TEXT, owner TEXT, owner_pid INTEGER,
    owner_host TEXT,
    heartbeat REAL, cancel_requested INTEGER DEFAULT 0, paused INTEGER DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL,
    deleted_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, worker TEXT NOT NULL,
    ts REAL NOT NULL, kind TEXT NOT NULL, reserve_usd REAL DEFAULT 0,
    settle_usd REAL DEFAULT 0, reserve_tokens INTEGER DEFAULT 0,
    settle_tokens INTEGER DEFAULT 0, waste_usd REAL DEFAULT 0, calls INTEGER DEFAULT 0,
    note TEXT
);
CREATE INDEX IF NOT EXISTS ledger_job ON ledger(job_id, worker);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, ts REAL NOT NULL,
    kind TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);
"""


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (and create or upgrade) the registry database at ``path``."""
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=30000")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("BEGIN IMMEDIATE")
    try:
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                db.execute(stmt)
        have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
        for column, decl in _ADDED_COLUMNS.items():
            if column not in have:
                db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {decl}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return db


class Transaction:
    """``with Transaction(db, lock) as db:`` one ``BEGIN IMMEDIATE`` ... ``COMMIT``
    (``ROLLBACK`` on an exception), serialised with the other threads of this process."""

    __slots__ = ("db", "lock")

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db, self.lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.db

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.lock.release()
