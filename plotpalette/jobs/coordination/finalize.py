"""The finalizer: any worker may run it, any number of times, concurrently.

It ends a RUNNING job only when no live worker holds a unit: first it fences dead
workers and reclaims their budget leases (so every dollar they may have spent is
booked), then it reads what the shards hold and picks the state — COMPLETED only when
every unit is done and every index has a settled record; otherwise the recorded stop
reason decides (budget → BUDGET_EXCEEDED, cancel → CANCELLED, fatal errors → FAILED,
no reason: the workers were interrupted → INTERRUPTED). The state change is one
conditional write guarded by the run number, so a second finalizer, or one racing
with a resume, changes nothing. ``on_final`` (the notification hook) runs only in the
finalizer whose write made the transition, so a job's end is announced exactly once.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

from ...errors import JobStateError, PlotPaletteError
from ...tables import Tables, update
from ..outcome import final_state
from ..registry import JOB
from ..shards import ShardCache, scan_shards, write_manifest
from ..states import JobState
from . import leases, units, workers

__all__ = [
    "FINALIZER_CLAIM_S",
    "claim_finalizer",
    "finalize",
    "reclaim_dead",
    "release_finalizer",
]

# how long a worker's claim to finalize holds off the others (reading 10,000 shards from
# S3, 16 at a time, takes about 20 s; a lapsed claim only means a second reader)
FINALIZER_CLAIM_S = 30.0


def reclaim_dead(tables: Tables, job_id: str) -> float:
    """Fence every dead worker that still holds a budget lease and book its mark.
    Returns the dollars booked by reclaims."""
    budget = tables.get(leases.BUDGET, job_id)
    booked = 0.0
    for worker in list(budget.data["leases"]) if budget else []:
        final = workers.fence(tables, job_id, worker)
        if final is None:
            continue  # alive
        if final.get("state") == "exited":
            # a clean exit closes its lease itself; one still open here was not settled
            final = {"cap_usd": None, "cap_tokens": None}
        booked += leases.reclaim(
            tables, job_id, worker, final.get("cap_usd"), final.get("cap_tokens")
        )
    return booked


def claim_finalizer(tables: Tables, job_id: str, worker: str, run: int | None) -> bool:
    """Ask to be the worker that reads the shards and ends the job (run ``run``).

    Every worker finalizes as it exits, and each finalizer reads every shard; a fleet's
    workers run out of units together, so N of them read the job's shards at once (on
    the Batch simulator, 8 workers and 400 records: 10 s from the last answer until
    the job was final, 8 readers of 395 shards). The first to claim reads; the others
    wait for the job to end. A claim lapses when its process is gone (on this host) or
    after :data:`FINALIZER_CLAIM_S`, so a finalizer that dies on the way never strands
    the job. False while another live worker holds the claim."""
    me = {
        "worker": worker,
        "run": run,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "at": time.time(),
    }

    def take(data: dict[str, Any]) -> dict[str, Any] | None:
        held = data.get("finalizer") or {}
        if data.get("state") != JobState.RUNNING.value:
            return None
        if held.get("run") == run and held.get("worker") != worker and not _lapsed(held):
            return None
        return {**data, "finalizer": me}

    return update(tables, JOB, job_id, take) is not None


def release_finalizer(tables: Tables, job_id: str, worker: str) -> None:
    """Give up ``worker``'s claim to finalize (it leaves while the job goes on, e.g.
    on SIGTERM), so the next worker to finish need not wait for the claim to lapse."""

    def give(data: dict[str, Any]) -> dict[str, Any] | None:
        if (data.get("finalizer") or {}).get("worker") != worker:
            return None
        return {**data, "finalizer": None}

    update(tables, JOB, job_id, give)


def _lapsed(claim: dict[str, Any]) -> bool:
    if time.time() - float(claim.get("at", 0)) > FINALIZER_CLAIM_S:
        return True
    same_host = claim.get("host") == socket.gethostname() and claim.get("pid")
    return bool(same_host) and not workers.pid_alive(int(claim["pid"]))


def finalize(
    registry: Any,
    store: Any,
    job_id: str,
    *,
    stop: Any = None,
    on_final: Callable[[Any, str, JobState], None] | None = None,
    cache: ShardCache | None = None,
) -> JobState | None:
    """Try to end the job; returns its final state, or ``None`` while work goes on.
    ``cache``: shards this process has already read (see :class:`ShardCache`)."""
    tables: Tables = registry.tables
    data = registry.job_data(job_id)
    if data["state"] != JobState.RUNNING.value or data.get("deleted_at"):
        return JobState(data["state"])  # already final (or deleted: nothing to write)
    run = data.get("run")

    def dead(w: str | None) -> bool:
        item = tables.get(workers.WORKER, workers.worker_key(job_id, w or ""))
        return item is None or workers.is_dead(item.data)

    items = units.units(tables, job_id)
    if any(i.data["state"] == "leased" and not dead(i.data["owner"]) for i in items):
        return None
    live = [w for w in workers.list_workers(tables, job_id) if w.alive and w.run == run]
    reason = data.get("stop") or stop
    if reason is None:  # workers say why they stopped in their items: budget first
        exits = sorted(
            (w for w in workers.iter_worker_data(tables, job_id) if w.get("run") == run),
            key=lambda w: (w.get("exit_reason") != "budget", -w.get("heartbeat", 0)),
        )
        for w in exits:
            if w.get("exit_reason") in ("budget", "interrupt") and w.get("exit_error"):
                reason = {"kind": w["exit_reason"], "error": w["exit_error"]}
                break
    if reason is None and data.get("cancel_requested"):
        reason = {"kind": "cancel", "error": None}
    pending = [i for i in items if i.data["state"] != "done"]
    if pending and live and reason is None:
        return None  # live workers will claim what is left
    reclaim_dead(tables, job_id)
    scan = scan_shards(store, job_id, cache=cache)
    missing = data["records_total"] - len(scan.indices)
    kind = (reason or {}).get("kind")
    stored = (reason or {}).get("error")
    cause: Any = PlotPaletteError(stored["message"], fix=stored.get("fix")) if stored else kind
    if kind is None and pending:
        kind, cause = "interrupt", "every worker stopped before the job was done"
    failed = scan.counts.get("failed", 0)
    threshold = float(data["spec"].get("error_threshold", 0.5))
    if kind is None and missing <= 0 and failed / max(1, len(scan.indices)) >= threshold:
        kind, cause = "error_rate", PlotPaletteError("too many records failed")
    state, error = final_state((kind, cause) if kind else None, missing, None, 0)
    if stored and error is not None:
        error = {**stored, "reason": kind, "records_missing": missing}
    if state is JobState.COMPLETED and pending:
        state, error = final_state(("interrupt", "work units left"), max(missing, 1), None, 0)
    write_manifest(
        store,
        job_id,
        state=state.value,
        records_total=data["records_total"],
        scan=scan,
        extra={"error": error},
    )
    counts = {k: scan.counts.get(k, 0) for k in ("ok", "failed", "filtered")}
    try:
        registry.transition(
            job_id,
            state,
            expected=[JobState.RUNNING],
            error=error,
            run=run,
            final_counts=counts,
        )
    except JobStateError:
        return JobState(registry.job_data(job_id)["state"])
    registry.add_event(job_id, "state", {"state": state.value, "error": error})
    if on_final is not None:
        on_final(registry, job_id, state)
    return state
