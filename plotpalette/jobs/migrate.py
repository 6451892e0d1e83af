"""Bring jobs of the first registry format (one ``jobs`` row per job, a SQL ledger) into
the tables of :mod:`plotpalette.tables`, once, when a local workspace is opened.

Each old row becomes a job item and a budget item; its open reservations (the old
format's crash guarantee) are booked as spent and wasted, as a takeover would have
done; one ledger entry per job records the migrated totals. A job that was RUNNING
(its worker is gone: this code cannot run beside the old one) becomes INTERRUPTED and
can be resumed. Idempotent: items are created only if absent, so opening the workspace
again (or from two processes at once) changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..tables import Tables
from .coordination import leases

__all__ = ["migrate_sqlite_v1"]


def migrate_sqlite_v1(path: str | Path, tables: Tables) -> int:
    """Copy old-format jobs found in the SQLite file ``path``; returns how many."""
    if tables.get("meta", "migrated-v1") is not None:
        return 0
    try:
        db = sqlite3.connect(str(path), timeout=30)
    except sqlite3.Error:
        return 0
    try:
        has = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='jobs'")
        if has.fetchone() is None:
            return 0
        cur = db.execute("SELECT * FROM jobs")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    except sqlite3.Error:
        return 0
    finally:
        db.close()
    moved = 0
    for row in rows:
        if tables.get("job", row["job_id"]) is None:
            moved += _migrate(row, tables)
    tables.create("meta", "migrated-v1", {"jobs": len(rows), "at": time.time()})
    return moved


def _migrate(row: dict[str, Any], tables: Tables) -> int:
    state = row["state"]
    error = json.loads(row["error"]) if row.get("error") else None
    if state == "RUNNING":
        state = "INTERRUPTED"
        error = {
            "message": "its worker stopped before the registry was upgraded",
            "fix": "Resume the job.",
            "reason": "interrupt",
        }
    counts = {k: int(row.get(f"records_{k}") or 0) for k in ("ok", "failed", "filtered")}
    open_usd = float(row.get("reserved_usd") or 0.0)
    budget = leases.new_budget(row.get("budget_usd"), row.get("budget_tokens"))
    budget.update(
        spent_usd=float(row.get("settled_usd") or 0.0) + open_usd,
        spent_tokens=int(row.get("settled_tokens") or 0) + int(row.get("reserved_tokens") or 0),
        waste_usd=float(row.get("waste_usd") or 0.0) + open_usd,
        calls=int(row.get("calls") or 0),
    )
    tables.create("budget", row["job_id"], budget)
    tables.append(
        leases.LEDGER,
        f"{row['job_id']}/migrated/{0:08d}",
        {
            "job_id": row["job_id"],
            "worker": "migrated",
            "kind": "migrated",
            "ts": time.time(),
            "leased_usd": 0.0,
            "leased_tokens": 0,
            "booked_usd": budget["spent_usd"],
            "booked_tokens": budget["spent_tokens"],
            "waste_usd": budget["waste_usd"],
            "calls": budget["calls"],
        },
    )
    data = {
        "name": row.get("name"),
        "state": state,
        "spec": json.loads(row["spec"]),
        "fingerprint": row["fingerprint"],
        "template": row["template"],
        "batch_id": row.get("batch_id"),
        "records_total": row["records_total"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "started_at": row.get("started_at"),
        "finished_at": row.get("finished_at"),
        "deleted_at": row.get("deleted_at"),
        "error": error,
        "price_tables": json.loads(row["price_tables"]) if row.get("price_tables") else [],
        "run": 1 if row.get("started_at") else 0,
        "base_counts": counts,
        "final_counts": counts,
    }
    return 1 if tables.create("job", row["job_id"], data) is not None else 0
