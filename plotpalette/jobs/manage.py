"""Steering and removing jobs from any process: pause, unpause, delete.

>>> pause_job(ws, job_id); unpause_job(ws, job_id)        # doctest: +SKIP
>>> delete_job(ws, job_id).files_removed                   # doctest: +SKIP

Pause goes through the registry, so it works on a job running in another kernel, the
CLI or a worker task; the worker adopts the flag at its next checkpoint. (``resume``
is a different verb: it restarts a *stopped* job.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import JobNotFoundError, JobStateError
from ..tables import iter_items, update
from ..workspace import Workspace
from .api import _workspace
from .coordination import leases
from .coordination.finalize import finalize
from .coordination.units import UNIT
from .coordination.workers import WORKER
from .ops_hooks import OpsHooks
from .registry import JOB, JobInfo
from .runner_preflight import PREFLIGHT
from .states import JobState

__all__ = ["DeletedJob", "delete_job", "pause_job", "unpause_job"]


def pause_job(workspace: Workspace | str | Path, job_id: str) -> JobInfo:
    """Pause a RUNNING job, wherever it runs: no new record starts, calls in flight
    finish, the state stays RUNNING with ``JobInfo.paused`` set. Takes effect at the
    worker's next checkpoint (``RunOptions.flush_seconds``, 1 s by default)."""
    return _request_pause(workspace, job_id, True)


def unpause_job(workspace: Workspace | str | Path, job_id: str) -> JobInfo:
    """Let a paused RUNNING job go on (see :func:`pause_job`)."""
    return _request_pause(workspace, job_id, False)


def _request_pause(workspace: Workspace | str | Path, job_id: str, paused: bool) -> JobInfo:
    return _workspace(workspace).registry.request_pause(job_id, paused)


@dataclass
class DeletedJob:
    """What :func:`delete_job` removed, and the cost history it kept."""

    job_id: str
    state: JobState  # the job's state when it was deleted
    files_removed: int
    spend_usd: float  # the job's total spend, still in the registry's ledger
    ledger_rows: int  # ledger rows kept

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["state"] = self.state.value
        return data


def delete_job(
    workspace: Workspace | str | Path,
    job_id: str,
    *,
    force: bool = False,
    wait_s: float = 120.0,
    lease_s: float | None = None,
) -> DeletedJob:
    """Delete a job's files and hide it from listings; **its cost history is kept**.

    Removed: everything under ``jobs/<job_id>/`` (records, manifest, spec, template
    snapshot, exports written there, report). The job no longer pins its template, so
    the template can be deleted once no other job uses it. Exports written elsewhere
    are not touched.

    Also removed: the job's coordination items in the registry (work units, worker
    items, pre-flight results and the budget item, whose totals are first copied into
    the job row so the deleted job still reports what it spent).

    Kept: the registry row (marked ``deleted_at``), its cost-ledger rows and its event
    history (both append-only logs). The ledger
    is the append-only record of money already spent; deleting a dataset does not
    un-spend it, and silently dropping those rows would make cost analytics and budget
    reports under-count. The deleted job is left out of :func:`list_jobs` and
    :func:`job_status` (``JobNotFoundError``); ``list_jobs(ws, include_deleted=True)``
    and ``open_registry(ws).ledger(job_id)`` still show it. Its id is not reused.

    A RUNNING job is refused with :class:`JobStateError` unless its workers are all
    dead (no heartbeat within their lease, or their processes are gone), in which case
    it ends INTERRUPTED and their budget leases are reclaimed (booked) first. With
    ``force=True`` a running job is cancelled and, once its worker has stopped (within
    ``wait_s`` seconds), deleted. An unknown job raises :class:`JobNotFoundError`; a
    deleted job whose files were left behind (a crash mid-delete) has them removed.
    """
    ws = _workspace(workspace)
    registry = ws.registry
    try:
        info = registry.get(job_id)
    except JobNotFoundError:
        info = registry.get(job_id, include_deleted=True)  # re-raises for unknown ids
        if not ws.store.list(layout.job_prefix(job_id)):
            raise
    else:
        if force and info.state is JobState.RUNNING:
            _cancel_and_wait(ws, job_id, wait_s=wait_s)
        info = registry.mark_deleted(job_id)
    _remove_registry_items(ws, job_id)  # again after a crash mid-delete: idempotent
    removed = _remove_files(ws, job_id)
    return DeletedJob(
        job_id=job_id,
        state=info.state,
        files_removed=removed,
        spend_usd=info.spend_usd,
        ledger_rows=len(registry.ledger(job_id)),
    )


_FINALIZE_GRACE_S = 2.0  # an exiting worker's own finalize usually takes well under this


def _cancel_and_wait(ws: Workspace, job_id: str, *, wait_s: float) -> None:
    from .api import cancel_job

    cancel_job(ws, job_id)
    deadline = time.monotonic() + wait_s
    gone_at = None
    while True:
        info = ws.registry.get(job_id)
        if info.state is not JobState.RUNNING:
            return
        if not info.workers:
            # its last worker has exited (or died) and may not have finalized yet. Give
            # an exiting worker a moment to finalize itself: a second finalizer racing
            # it could write manifest.json after the files were deleted. Then end the
            # job here, CANCELLED as asked (finalizing twice is harmless).
            gone_at = gone_at or time.monotonic()
            if time.monotonic() - gone_at >= _FINALIZE_GRACE_S:
                finalize(ws.registry, ws.store, job_id, on_final=OpsHooks(ws.settings).final)
                return
        if time.monotonic() >= deadline:
            raise JobStateError(
                f"job {job_id} was asked to cancel but still runs after {wait_s:.0f} s",
                fix="Its calls in flight may take up to the grace period; try again, or "
                "stop its process.",
            )
        time.sleep(0.1)


def _remove_registry_items(ws: Workspace, job_id: str) -> int:
    """Delete the job's unit, worker, pre-flight and budget items (single-item deletes,
    the same on SQLite and DynamoDB). The budget's totals go into the job row first, so
    a crash in between loses nothing. Returns how many items were deleted."""
    tables = ws.registry.tables
    budget = tables.get(leases.BUDGET, job_id)
    if budget is not None:
        snapshot = budget.data
        update(tables, JOB, job_id, lambda d: {**d, "budget_final": snapshot})
    doomed = [
        (kind, item.key)
        for kind, prefix in (
            (UNIT, f"{job_id}/"),
            (WORKER, f"{job_id}/"),
            (PREFLIGHT, f"{job_id}:"),
        )
        for item in iter_items(tables, kind, prefix)
    ]
    if budget is not None:
        doomed.append((leases.BUDGET, job_id))
    return sum(1 for kind, key in doomed if tables.delete(kind, key))


def _remove_files(ws: Workspace, job_id: str) -> int:
    prefix = layout.job_prefix(job_id)
    keys = ws.store.list(prefix)
    for key in keys:
        ws.store.delete(key)
    ws.store.delete(prefix.rstrip("/"))  # a local folder (temp files, empty dirs); no-op on S3
    return len(keys)
