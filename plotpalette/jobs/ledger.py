"""The append-only cost ledger of the SQLite registry: reservations, settlements and
the recovery of a dead worker's open reservations.

Each row carries two deltas: ``reserve`` (open reservations taken, negative when
released) and ``settle`` (real cost from usage). The job row keeps running sums, so a
reservation is a single conditional update: ``settled + reserved + amount <= budget``.
Spend is always ``settled + reserved``: a worker that dies leaves its reservation open,
which keeps the spend conservative until a takeover books it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from .registry_schema import Transaction
from .registry_types import LedgerRow

__all__ = ["EPS", "LedgerMixin"]

EPS = 1e-12  # float slack in budget comparisons


class LedgerMixin:
    """Ledger operations of :class:`~plotpalette.jobs.registry.SQLiteRegistry`
    (it provides ``_tx``, ``_lock`` and ``_db``)."""

    _db: sqlite3.Connection
    _lock: Any
    _tx: Callable[[], Transaction]

    def _recover_open(self, db: sqlite3.Connection, job_id: str, *, exclude: str) -> None:
        rows = db.execute(
            "SELECT worker, SUM(reserve_usd), SUM(reserve_tokens) FROM ledger "
            "WHERE job_id=? AND worker<>? GROUP BY worker",
            (job_id, exclude),
        ).fetchall()
        for worker, usd, tokens in rows:
            usd, tokens = usd or 0.0, int(tokens or 0)
            if usd <= EPS and tokens <= 0:
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
                (usd, tokens, job_id, worker, usd, EPS, tokens),
            )
            if cur.rowcount != 1:
                return False
            db.execute(
                "INSERT INTO ledger (job_id, worker, ts, kind, reserve_usd, reserve_tokens) "
                "VALUES (?,?,?,?,?,?)",
                (job_id, worker, time.time(), "reserve", usd, tokens),
            )
            return True

    def ledger(self, job_id: str) -> list[LedgerRow]:
        with self._lock:
            cur = self._db.execute(
                "SELECT job_id, worker, kind, reserve_usd, settle_usd, reserve_tokens, "
                "settle_tokens, waste_usd, calls, note, ts, seq FROM ledger WHERE job_id=? "
                "ORDER BY seq",
                (job_id,),
            )
            return [LedgerRow(*r) for r in cur.fetchall()]
