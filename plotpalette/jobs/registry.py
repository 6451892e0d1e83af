"""The job registry: jobs, states, progress, the cost ledger and events.

:class:`Registry` is the interface; :class:`SQLiteRegistry` keeps it in a SQLite file
at the workspace root (``layout.REGISTRY_FILE``) in WAL mode with a busy timeout, so a
notebook and a CLI process can use it at the same time. Every write is one short
transaction touching one job row plus appended rows, never several jobs: the same
operations map onto DynamoDB conditional updates (one item) and puts, which is what
the later AWS registry will use.

The cost ledger is append-only. Each row carries two deltas: ``reserve`` (open
reservations taken, negative when released) and ``settle`` (real cost from usage). The
job row keeps running sums, so a reservation is a single conditional update:
``settled + reserved + amount <= budget``. Spend is always ``settled + reserved``: a
worker that dies leaves its reservation open, which keeps the spend conservative.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import layout
from ..errors import JobNotFoundError, JobStateError, WorkspaceError
from .states import RESUMABLE_STATES, JobState, check_transition

__all__ = ["JobInfo", "LedgerRow", "Registry", "SQLiteRegistry", "open_registry"]

_EPS = 1e-12  # float slack in budget comparisons

_SCHEMA = """
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
    heartbeat REAL, cancel_requested INTEGER DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL
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


@dataclass
class JobInfo:
    """One job as the registry knows it (a snapshot; call ``get`` again to refresh)."""

    job_id: str
    name: str | None
    state: JobState
    spec: dict[str, Any]
    fingerprint: str
    template: str
    batch_id: str | None
    records_total: int
    records_ok: int
    records_failed: int
    records_filtered: int
    budget_usd: float | None
    budget_tokens: int | None
    settled_usd: float
    reserved_usd: float
    waste_usd: float
    settled_tokens: int
    reserved_tokens: int
    calls: int
    error: dict[str, Any] | None
    price_tables: list[str]  # price-table versions used, one per run that changed it
    owner: str | None
    owner_pid: int | None
    owner_host: str | None
    heartbeat: float | None
    cancel_requested: bool
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None

    @property
    def spend_usd(self) -> float:
        """Settled cost plus open reservations: never below what was really spent."""
        return self.settled_usd + self.reserved_usd

    @property
    def records_done(self) -> int:
        return self.records_ok + self.records_failed + self.records_filtered

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["state"] = self.state.value
        data["spend_usd"] = self.spend_usd
        data["records_done"] = self.records_done
        return data


@dataclass(frozen=True)
class LedgerRow:
    """One append-only ledger entry (see the module docstring for the meaning)."""

    job_id: str
    worker: str
    kind: str  # "reserve" | "settle" | "recover"
    reserve_usd: float = 0.0
    settle_usd: float = 0.0
    reserve_tokens: int = 0
    settle_tokens: int = 0
    waste_usd: float = 0.0
    calls: int = 0
    note: str | None = None
    ts: float = field(default_factory=time.time)
    seq: int | None = None


class Registry(Protocol):
    """What the job engine needs from a registry (SQLite now, DynamoDB later)."""

    def create_job(
        self,
        job_id: str,
        *,
        spec: dict[str, Any],
        fingerprint: str,
        template: str,
        records_total: int,
        name: str | None = None,
        batch_id: str | None = None,
    ) -> JobInfo: ...
    def get(self, job_id: str) -> JobInfo: ...
    def list(
        self, *, state: str | None = None, batch_id: str | None = None, limit: int | None = None
    ) -> list[JobInfo]: ...
    def transition(
        self,
        job_id: str,
        new: JobState,
        *,
        expected: Iterable[JobState],
        error: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> JobInfo: ...
    def acquire(
        self,
        job_id: str,
        worker: str,
        *,
        lease_s: float = 30.0,
        budget_usd: float | None = ...,
        budget_tokens: int | None = ...,
        price_table: str | None = None,
    ) -> JobInfo: ...
    def reserve(self, job_id: str, worker: str, usd: float, tokens: int) -> bool: ...
    def checkpoint(
        self,
        job_id: str,
        worker: str,
        *,
        ledger: LedgerRow | None = None,
        progress: dict[str, int] | None = None,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> tuple[bool, bool]: ...
    def request_cancel(self, job_id: str) -> None: ...
    def ledger(self, job_id: str) -> list[LedgerRow]: ...
    def add_event(self, job_id: str, kind: str, data: dict[str, Any]) -> None: ...
    def events(
        self, job_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, float, str, dict[str, Any]]]: ...


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SQLiteRegistry:
    """The registry in a SQLite file; safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a killed process (it is in the OS
            # cache), not a power cut; that is the failure the ledger must survive.
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._tx():
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
        except sqlite3.Error as exc:
            raise WorkspaceError(f"cannot open the job registry {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- plumbing --------------------------------------------------------------------
    class _Tx:
        def __init__(self, reg: SQLiteRegistry) -> None:
            self.reg = reg

        def __enter__(self) -> sqlite3.Connection:
            self.reg._lock.acquire()
            try:
                self.reg._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.reg._lock.release()
                raise
            return self.reg._db

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            try:
                self.reg._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
            finally:
                self.reg._lock.release()

    def _tx(self) -> SQLiteRegistry._Tx:
        return SQLiteRegistry._Tx(self)

    def _row(self, db: sqlite3.Connection, job_id: str) -> JobInfo:
        cur = db.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,))
        row = cur.fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r} in {self.path.parent}")
        return self._info(cur.description, row)

    @staticmethod
    def _info(description: Any, row: Sequence[Any]) -> JobInfo:
        data = {d[0]: v for d, v in zip(description, row, strict=True)}
        data["state"] = JobState(data["state"])
        data["spec"] = json.loads(data["spec"])
        data["error"] = json.loads(data["error"]) if data["error"] else None
        data["price_tables"] = json.loads(data["price_tables"]) if data["price_tables"] else []
        data["cancel_requested"] = bool(data["cancel_requested"])
        return JobInfo(**data)

    # -- jobs ------------------------------------------------------------------------
    def create_job(
        self,
        job_id: str,
        *,
        spec: dict[str, Any],
        fingerprint: str,
        template: str,
        records_total: int,
        name: str | None = None,
        batch_id: str | None = None,
    ) -> JobInfo:
        """Register a new QUEUED job; raises :class:`JobStateError` if the id exists."""
        now = time.time()
        with self._tx() as db:
            try:
                db.execute(
                    "INSERT INTO jobs (job_id, name, state, spec, fingerprint, template, "
                    "batch_id, records_total, budget_usd, budget_tokens, created_at, "
                    "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        job_id,
                        name,
                        JobState.QUEUED.value,
                        json.dumps(spec),
                        fingerprint,
                        template,
                        batch_id,
                        records_total,
                        spec.get("budget_usd"),
                        spec.get("budget_tokens"),
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError:
                raise JobStateError(
                    f"a job named {job_id!r} already exists", fix="Choose another job name."
                ) from None
            return self._row(db, job_id)

    def get(self, job_id: str) -> JobInfo:
        with self._lock:
            return self._row(self._db, job_id)

    def list(
        self, *, state: str | None = None, batch_id: str | None = None, limit: int | None = None
    ) -> list[JobInfo]:
        """Jobs, newest first, optionally filtered by state or batch."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if state:
            sql += " AND state=?"
            args.append(JobState(state.upper()).value)
        if batch_id:
            sql += " AND batch_id=?"
            args.append(batch_id)
        sql += " ORDER BY created_at DESC, job_id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            cur = self._db.execute(sql, args)
            return [self._info(cur.description, r) for r in cur.fetchall()]

    def transition(
        self,
        job_id: str,
        new: JobState,
        *,
        expected: Iterable[JobState],
        error: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> JobInfo:
        """Move to ``new`` only if the job is in one of ``expected`` (and, when ``owner``
        is given, still owned by it): a conditional update, as DynamoDB would do it."""
        expected = [JobState(s) for s in expected]
        now = time.time()
        with self._tx() as db:
            info = self._row(db, job_id)
            if info.state not in expected or (owner is not None and info.owner != owner):
                raise JobStateError(
                    f"job {job_id} is {info.state.value}, expected "
                    f"{'/'.join(s.value for s in expected)}"
                    + (f" owned by {owner}" if owner else "")
                )
            check_transition(info.state, new, job_id=job_id)
            final = new.is_final
            db.execute(
                "UPDATE jobs SET state=?, error=?, updated_at=?, finished_at=?, "
                "owner=CASE WHEN ? THEN NULL ELSE owner END, "
                "cancel_requested=CASE WHEN ? THEN 0 ELSE cancel_requested END "
                "WHERE job_id=?",
                (
                    new.value,
                    json.dumps(error) if error else None,
                    now,
                    now if final else None,
                    final,
                    final,
                    job_id,
                ),
            )
            return self._row(db, job_id)

    def acquire(
        self,
        job_id: str,
        worker: str,
        *,
        lease_s: float = 30.0,
        budget_usd: float | None = ...,
        budget_tokens: int | None = ...,  # type: ignore[assignment]
        price_table: str | None = None,
    ) -> JobInfo:
        """Make ``worker`` the job's runner and set it RUNNING.

        Allowed from a resumable state, or from RUNNING when the previous owner is dead
        (its process is gone on this host, or its heartbeat is older than ``lease_s``).
        A dead owner's open reservations are turned into settled *waste* at their worst
        case: what its in-flight calls really cost is unknown, so it is never undercounted.
        Budgets given here replace the stored ones (resume with a bigger budget).
        """
        now = time.time()
        host = socket.gethostname()
        with self._tx() as db:
            info = self._row(db, job_id)
            if info.state is JobState.RUNNING:
                dead = (
                    info.heartbeat is None
                    or now - info.heartbeat > lease_s
                    or (
                        info.owner_host == host
                        and info.owner_pid is not None
                        and not _pid_alive(info.owner_pid)
                    )
                )
                if not dead:
                    raise JobStateError(
                        f"job {job_id} is RUNNING in process {info.owner_pid} on {info.owner_host}",
                        fix="Wait for it to finish, or cancel it with `plotpalette cancel "
                        f"{job_id}`.",
                    )
            elif info.state not in RESUMABLE_STATES:
                check_transition(info.state, JobState.RUNNING, job_id=job_id)
            self._recover_open(db, job_id, exclude=worker)
            sets, args = (
                [
                    "state=?",
                    "owner=?",
                    "owner_pid=?",
                    "owner_host=?",
                    "heartbeat=?",
                    "cancel_requested=0",
                    "error=NULL",
                    "updated_at=?",
                    "finished_at=NULL",
                    "started_at=COALESCE(started_at, ?)",
                ],
                [JobState.RUNNING.value, worker, os.getpid(), host, now, now, now],
            )
            if budget_usd is not ...:
                sets.append("budget_usd=?")
                args.append(budget_usd)
            if budget_tokens is not ...:
                sets.append("budget_tokens=?")
                args.append(budget_tokens)
            if price_table and price_table not in info.price_tables:
                sets.append("price_tables=?")
                args.append(json.dumps([*info.price_tables, price_table]))
            db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE job_id=?", [*args, job_id])
            return self._row(db, job_id)

    def _recover_open(self, db: sqlite3.Connection, job_id: str, *, exclude: str) -> None:
        rows = db.execute(
            "SELECT worker, SUM(reserve_usd), SUM(reserve_tokens) FROM ledger "
            "WHERE job_id=? AND worker<>? GROUP BY worker",
            (job_id, exclude),
        ).fetchall()
        for worker, usd, tokens in rows:
            usd, tokens = usd or 0.0, int(tokens or 0)
            if usd <= _EPS and tokens <= 0:
                continue
            self._append(
                db,
                LedgerRow(
                    job_id,
                    worker,
                    "recover",
                    reserve_usd=-usd,
                    settle_usd=usd,
                    reserve_tokens=-tokens,
                    settle_tokens=tokens,
                    waste_usd=usd,
                    note="worker stopped without settling: its open reservations (calls in "
                    "flight, worst case) are counted as spent",
                ),
            )

    def _append(self, db: sqlite3.Connection, row: LedgerRow) -> None:
        db.execute(
            "INSERT INTO ledger (job_id, worker, ts, kind, reserve_usd, settle_usd, "
            "reserve_tokens, settle_tokens, waste_usd, calls, note) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                row.job_id,
                row.worker,
                row.ts,
                row.kind,
                row.reserve_usd,
                row.settle_usd,
                row.reserve_tokens,
                row.settle_tokens,
                row.waste_usd,
                row.calls,
                row.note,
            ),
        )
        db.execute(
            "UPDATE jobs SET reserved_usd=MAX(0, reserved_usd+?), settled_usd=settled_usd+?, "
            "reserved_tokens=MAX(0, reserved_tokens+?), settled_tokens=settled_tokens+?, "
            "waste_usd=waste_usd+?, calls=calls+? WHERE job_id=?",
            (
                row.reserve_usd,
                row.settle_usd,
                row.reserve_tokens,
                row.settle_tokens,
                row.waste_usd,
                row.calls,
                row.job_id,
            ),
        )

    # -- the hot path ----------------------------------------------------------------
    def reserve(self, job_id: str, worker: str, usd: float, tokens: int) -> bool:
        """Take an open reservation if ``settled + reserved + amount`` fits the budgets.

        Persisted *before* the calls it covers are made, so a crash never hides spend.
        """
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET reserved_usd=reserved_usd+?, reserved_tokens=reserved_tokens+? "
                "WHERE job_id=? AND owner=? "
                "AND (budget_usd IS NULL OR settled_usd+reserved_usd+? <= budget_usd+?) "
                "AND (budget_tokens IS NULL OR settled_tokens+reserved_tokens+? <= budget_tokens)",
                (usd, tokens, job_id, worker, usd, _EPS, tokens),
            )
            if cur.rowcount != 1:
                return False
            db.execute(
                "INSERT INTO ledger (job_id, worker, ts, kind, reserve_usd, reserve_tokens) "
                "VALUES (?,?,?,?,?,?)",
                (job_id, worker, time.time(), "reserve", usd, tokens),
            )
            return True

    def checkpoint(
        self,
        job_id: str,
        worker: str,
        *,
        ledger: LedgerRow | None = None,
        progress: dict[str, int] | None = None,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> tuple[bool, bool]:
        """Settle costs, update progress and heartbeat, append events, in one go.

        Returns ``(still_owner, cancel_requested)`` so the runner learns about a
        ``cancel`` issued from another process, or a lost lease, at every checkpoint.
        """
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT owner, cancel_requested FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            if row is None:
                raise JobNotFoundError(f"no job {job_id!r}")
            if ledger is not None:
                self._append(db, ledger)  # the ledger is kept even if the lease was lost
            owner_ok = row[0] == worker
            if owner_ok:
                sets, args = ["heartbeat=?", "updated_at=?"], [now, now]
                for key, value in (progress or {}).items():
                    if key not in ("records_ok", "records_failed", "records_filtered"):
                        raise ValueError(f"unknown progress counter {key}")
                    sets.append(f"{key}=?")
                    args.append(int(value))
                db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE job_id=?", [*args, job_id])
            for kind, data in events:
                db.execute(
                    "INSERT INTO events (job_id, ts, kind, data) VALUES (?,?,?,?)",
                    (job_id, now, kind, json.dumps(data, default=str)),
                )
            return owner_ok, bool(row[1])

    def request_cancel(self, job_id: str) -> None:
        """Ask the job's running worker to stop (it sees the flag at its next checkpoint)."""
        with self._tx() as db:
            self._row(db, job_id)
            db.execute(
                "UPDATE jobs SET cancel_requested=1, updated_at=? WHERE job_id=?",
                (time.time(), job_id),
            )

    def ledger(self, job_id: str) -> list[LedgerRow]:
        with self._lock:
            cur = self._db.execute(
                "SELECT job_id, worker, kind, reserve_usd, settle_usd, reserve_tokens, "
                "settle_tokens, waste_usd, calls, note, ts, seq FROM ledger WHERE job_id=? "
                "ORDER BY seq",
                (job_id,),
            )
            return [LedgerRow(*r) for r in cur.fetchall()]

    def add_event(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (job_id, ts, kind, data) VALUES (?,?,?,?)",
                (job_id, time.time(), kind, json.dumps(data, default=str)),
            )

    def events(
        self, job_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, float, str, dict[str, Any]]]:
        """Stored events after sequence number ``after``: ``(seq, ts, kind, data)``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, ts, kind, data FROM events WHERE job_id=? AND seq>? "
                "ORDER BY seq LIMIT ?",
                (job_id, after, limit),
            ).fetchall()
        return [(s, t, k, json.loads(d)) for s, t, k, d in rows]

    def __repr__(self) -> str:
        return f"SQLiteRegistry({str(self.path)!r})"


def open_registry(workspace: Any) -> SQLiteRegistry:
    """The registry of a (local) workspace."""
    root = getattr(workspace, "root", None)
    if root is None:
        raise WorkspaceError(
            f"{workspace!r} has no local folder for the SQLite registry",
            fix="Use a local workspace; the DynamoDB registry comes with the AWS deployment.",
        )
    return SQLiteRegistry(Path(root) / layout.REGISTRY_FILE)
