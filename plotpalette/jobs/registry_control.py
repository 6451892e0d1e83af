"""Requests other processes make of a job through the registry: cancel, pause, delete.

A worker never listens on a socket: it reads these flags at every checkpoint (at most
``flush_seconds`` apart), so a console in another kernel, the CLI or a scheduler can
steer a job it did not start. Each request is one conditional update of one job row,
as on DynamoDB later.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from ..errors import JobStateError
from .registry_schema import Transaction
from .registry_types import JobInfo
from .states import JobState

__all__ = ["ControlMixin", "worker_alive"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_alive(info: JobInfo, *, lease_s: float, now: float | None = None) -> bool:
    """Whether a RUNNING job's worker may still be working: its heartbeat is younger than
    ``lease_s`` and, on this host, its process exists."""
    now = time.time() if now is None else now
    if info.heartbeat is None or now - info.heartbeat > lease_s:
        return False
    if info.owner_host == socket.gethostname() and info.owner_pid is not None:
        return _pid_alive(info.owner_pid)
    return True


class ControlMixin:
    """Cancel, pause and delete requests of :class:`~plotpalette.jobs.registry.SQLiteRegistry`
    (it provides ``_tx``, ``_row``, ``_recover_open`` and ``path``)."""

    _tx: Callable[[], Transaction]
    _row: Callable[..., JobInfo]
    _recover_open: Callable[..., None]

    def request_cancel(self, job_id: str) -> None:
        """Ask the job's running worker to stop (it sees the flag at its next checkpoint)."""
        with self._tx() as db:
            self._row(db, job_id)
            db.execute(
                "UPDATE jobs SET cancel_requested=1, updated_at=? WHERE job_id=?",
                (time.time(), job_id),
            )

    def request_pause(self, job_id: str, paused: bool) -> JobInfo:
        """Ask the job's running worker to pause (``True``) or go on (``False``).

        The worker adopts the flag at its next checkpoint; while paused it starts no new
        record, lets calls in flight finish and keeps its heartbeat, so the job stays
        RUNNING with ``JobInfo.paused`` set. Only a RUNNING job can be paused.
        """
        with self._tx() as db:
            info = self._row(db, job_id)
            if info.state is not JobState.RUNNING:
                raise JobStateError(
                    f"job {job_id} is {info.state.value}; only a RUNNING job can be "
                    + ("paused" if paused else "unpaused"),
                    fix=f"Restart a stopped job with `plotpalette resume {job_id}`."
                    if info.state.is_final and info.state is not JobState.COMPLETED
                    else None,
                )
            db.execute(
                "UPDATE jobs SET paused=?, updated_at=? WHERE job_id=?",
                (int(bool(paused)), time.time(), job_id),
            )
            return self._row(db, job_id)

    def mark_deleted(self, job_id: str, *, lease_s: float = 30.0) -> JobInfo:
        """Hide the job (``deleted_at``) and keep its ledger; returns the row as deleted.

        Refuses (:class:`JobStateError`) a RUNNING job whose worker is alive. A RUNNING
        job whose worker is dead ends INTERRUPTED first, and its open reservations are
        booked as waste, as a takeover would: the money of calls that were in flight
        stays counted.
        """
        now = time.time()
        with self._tx() as db:
            info = self._row(db, job_id)
            sets = ["deleted_at=?", "updated_at=?", "owner=NULL", "paused=0", "cancel_requested=0"]
            args: list[Any] = [now, now]
            if info.state is JobState.RUNNING:
                if worker_alive(info, lease_s=lease_s, now=now):
                    raise JobStateError(
                        f"job {job_id} is RUNNING in process {info.owner_pid} on "
                        f"{info.owner_host}; a running job is not deleted",
                        fix=f"Cancel it first (`plotpalette cancel {job_id}`), or delete with "
                        "force=True / --force, which cancels it and waits for it to stop.",
                    )
                self._recover_open(db, job_id, exclude="")
                sets += ["state=?", "error=?", "finished_at=?"]
                error = {"message": "its worker had stopped; the job was deleted"}
                args += [JobState.INTERRUPTED.value, json.dumps(error), now]
            db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE job_id=?", [*args, job_id])
            return self._row(db, job_id, include_deleted=True)
