"""The job registry: jobs, states, progress, the cost ledger and events.

:class:`SQLiteRegistry` keeps it in a SQLite file at the workspace root
(``layout.REGISTRY_FILE``; schema and connection in
:mod:`~plotpalette.jobs.registry_schema`), safe for a notebook and a CLI process at the
same time. Every write is one short transaction touching one job row plus appended
rows, never several jobs: the same operations map onto DynamoDB conditional updates
(one item) and puts, which is what the later AWS registry will use. The ledger's rules
are in :mod:`~plotpalette.jobs.ledger`; the row types and the :class:`Registry`
interface in :mod:`~plotpalette.jobs.registry_types`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import JobNotFoundError, JobStateError, WorkspaceError
from .ledger import LedgerMixin
from .registry_control import ControlMixin, worker_alive
from .registry_schema import Transaction, connect
from .registry_types import CheckpointReply, JobInfo, LedgerRow, Registry
from .states import RESUMABLE_STATES, JobState, check_transition

__all__ = [
    "CheckpointReply",
    "JobInfo",
    "LedgerRow",
    "Registry",
    "SQLiteRegistry",
    "open_registry",
]


class SQLiteRegistry(LedgerMixin, ControlMixin):
    """The registry in a SQLite file; safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._db = connect(self.path)
        except sqlite3.Error as exc:
            raise WorkspaceError(f"cannot open the job registry {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- plumbing --------------------------------------------------------------------
    def _tx(self) -> Transaction:
        return Transaction(self._db, self._lock)

    def _row(
        self, db: sqlite3.Connection, job_id: str, *, include_deleted: bool = False
    ) -> JobInfo:
        cur = db.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,))
        row = cur.fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r} in {self.path.parent}")
        info = self._info(cur.description, row)
        if info.deleted_at is not None and not include_deleted:
            raise JobNotFoundError(
                f"job {job_id!r} was deleted on "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(info.deleted_at))}",
                fix="Its files are gone; its cost history stays in the registry "
                "(list_jobs(..., include_deleted=True)).",
            )
        return info

    @staticmethod
    def _info(description: Any, row: Sequence[Any]) -> JobInfo:
        data = {d[0]: v for d, v in zip(description, row, strict=True)}
        data["state"] = JobState(data["state"])
        data["spec"] = json.loads(data["spec"])
        data["error"] = json.loads(data["error"]) if data["error"] else None
        data["price_tables"] = json.loads(data["price_tables"]) if data["price_tables"] else []
        data["cancel_requested"] = bool(data["cancel_requested"])
        data["paused"] = bool(data.get("paused"))
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
                gone = db.execute(
                    "SELECT deleted_at FROM jobs WHERE job_id=?", (job_id,)
                ).fetchone()
                why = " (a deleted job's id: its cost history keeps it)" if gone[0] else ""
                raise JobStateError(
                    f"a job named {job_id!r} already exists{why}", fix="Choose another job name."
                ) from None
            return self._row(db, job_id)

    def get(self, job_id: str, *, include_deleted: bool = False) -> JobInfo:
        """A job's row; a deleted job raises JobNotFoundError unless ``include_deleted``."""
        with self._lock:
            return self._row(self._db, job_id, include_deleted=include_deleted)

    def list(
        self,
        *,
        state: str | None = None,
        batch_id: str | None = None,
        limit: int | None = None,
        include_deleted: bool = False,
    ) -> list[JobInfo]:
        """Jobs, newest first, optionally filtered by state or batch (deleted ones only
        with ``include_deleted``: their rows stay for the cost history)."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
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
                "cancel_requested=CASE WHEN ? THEN 0 ELSE cancel_requested END, "
                "paused=CASE WHEN ? THEN 0 ELSE paused END "
                "WHERE job_id=?",
                (
                    new.value,
                    json.dumps(error) if error else None,
                    now,
                    now if final else None,
                    final,
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
                if worker_alive(info, lease_s=lease_s, now=now):
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
                    "paused=0",
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

    def checkpoint(
        self,
        job_id: str,
        worker: str,
        *,
        ledger: LedgerRow | None = None,
        progress: dict[str, int] | None = None,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
        paused: bool | None = None,
        published_paused: bool = False,
    ) -> CheckpointReply:
        """Settle costs, update progress and heartbeat, append events, in one go.

        The reply tells the runner about a ``cancel`` or a pause issued from another
        process, or a lost lease. Pause is synchronised here: ``paused`` is the worker's
        own state and ``published_paused`` what its previous checkpoint stored. If the
        stored flag differs from that, someone else changed it (:meth:`request_pause`)
        and the worker adopts it; otherwise the worker's own state is stored. Either
        way the reply's ``paused`` is the state to be in.
        """
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT owner, cancel_requested, paused FROM jobs WHERE job_id=?", (job_id,)
            ).fetchone()
            if row is None:
                raise JobNotFoundError(f"no job {job_id!r}")
            if ledger is not None:
                self._append(db, ledger)  # the ledger is kept even if the lease was lost
            owner_ok = row[0] == worker
            stored = bool(row[2])
            adopt = stored if paused is None or stored != published_paused else paused
            if owner_ok:
                sets, args = ["heartbeat=?", "updated_at=?", "paused=?"], [now, now, int(adopt)]
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
            return CheckpointReply(owner_ok, bool(row[1]), adopt)

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
