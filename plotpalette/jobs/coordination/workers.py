"""Worker items: who works on a job, whether it is alive, and how much it may have spent.

Each worker process (or in-process worker) writes one item, ``worker/<job>/<worker>``.
Its heartbeat sets ``expires``; the same write carries the worker's spend *mark*: the
cumulative amount (dollars, tokens) its budget lease may have consumed — calls already
paid plus the worst case of calls in flight plus a little headroom. The worker starts no
call that would pass its mark without writing a higher mark first, so after a crash the
mark bounds what the worker really spent, and a reclaim books the mark instead of the
whole lease (``kill -9`` costs the budget a few seconds of spend, not the lease).

Fencing: a worker whose item expired (or whose process is gone on this host) is marked
``fenced`` by whoever takes its work over. Every later write of the fenced worker is a
compare-and-swap on the item's version and fails, so its mark is frozen at the value
the reclaim booked, and a zombie (SIGSTOP, long GC pause, a partitioned task) can
neither raise its spend nor settle its lease again.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from ...tables import Item, Tables, iter_items

__all__ = ["WORKER", "Fenced", "WorkerView", "is_dead", "pid_alive", "worker_key"]

WORKER = "worker"


class Fenced(Exception):
    """This worker lost its claim (it was presumed dead and its work taken over)."""


def worker_key(job_id: str, worker: str) -> str:
    return f"{job_id}/{worker}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead(data: dict[str, Any], *, now: float | None = None) -> bool:
    """A worker item whose owner cannot be working any more: stopped, fenced, expired,
    or (on this host) its process is gone."""
    if data.get("state") != "running":
        return True
    now = time.time() if now is None else now
    if data.get("expires", 0) < now:
        return True
    if data.get("host") == socket.gethostname() and data.get("pid"):
        return not pid_alive(int(data["pid"]))
    return False


@dataclass
class WorkerView:
    """One worker as the status view shows it."""

    worker: str
    state: str  # running | exited | fenced
    alive: bool
    pid: int | None
    host: str | None
    heartbeat: float | None
    counts: dict[str, int]
    unit: str | None
    in_flight: int
    rate: float
    run: int

    @classmethod
    def of(cls, item: Item, now: float) -> WorkerView:
        d = item.data
        return cls(
            worker=d["worker"],
            state=d.get("state", "running"),
            alive=not is_dead(d, now=now),
            pid=d.get("pid"),
            host=d.get("host"),
            heartbeat=d.get("heartbeat"),
            counts=dict(d.get("counts") or {}),
            unit=d.get("unit"),
            in_flight=int(d.get("in_flight", 0)),
            rate=float(d.get("rate", 0.0)),
            run=int(d.get("run", 0)),
        )


def iter_worker_data(tables: Tables, job_id: str) -> list[dict[str, Any]]:
    return [i.data for i in iter_items(tables, WORKER, f"{job_id}/")]


def list_workers(tables: Tables, job_id: str) -> list[WorkerView]:
    now = time.time()
    return [WorkerView.of(i, now) for i in iter_items(tables, WORKER, f"{job_id}/")]


class WorkerItem:
    """This process's own worker item; every write is a CAS on the version it last wrote."""

    def __init__(self, tables: Tables, job_id: str, worker: str, *, lease_s: float) -> None:
        self.tables = tables
        self.job_id = job_id
        self.worker = worker
        self.key = worker_key(job_id, worker)
        self.lease_s = lease_s
        self.version = 0
        self.data: dict[str, Any] = {}
        self._lock = threading.Lock()  # one write at a time: each CASes on the last

    def join(self, run: int) -> None:
        now = time.time()
        data = {
            "worker": self.worker,
            "job_id": self.job_id,
            "state": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run": run,
            "started": now,
            "heartbeat": now,
            "expires": now + self.lease_s,
            "cap_usd": 0.0,
            "cap_tokens": 0,
            "counts": {},
            "unit": None,
            "in_flight": 0,
            "rate": 0.0,
        }
        item = self.tables.create(WORKER, self.key, data)
        if item is None:
            raise Fenced(f"worker id {self.worker} is already taken")
        self.version, self.data = item.version, item.data

    def write(self, **changes: Any) -> None:
        """Heartbeat plus ``changes``; raises :class:`Fenced` if someone fenced us."""
        with self._lock:
            now = time.time()
            data = {**self.data, **changes, "heartbeat": now, "expires": now + self.lease_s}
            item = self.tables.replace(WORKER, self.key, data, version=self.version)
            if item is None:
                raise Fenced(f"worker {self.worker} of job {self.job_id} was fenced")
            self.version, self.data = item.version, item.data


def fence(tables: Tables, job_id: str, worker: str) -> dict[str, Any] | None:
    """Fence a dead worker; returns its final item data (its frozen mark), or ``None`` if
    it is alive. Idempotent: an already fenced or exited worker's data is returned."""
    key = worker_key(job_id, worker)
    while True:
        item = tables.get(WORKER, key)
        if item is None:
            return {"cap_usd": None, "cap_tokens": None, "state": "missing"}
        if item.data.get("state") in ("fenced", "exited"):
            return item.data
        if not is_dead(item.data):
            return None
        data = {**item.data, "state": "fenced", "fenced_at": time.time()}
        if tables.replace(WORKER, key, data, version=item.version) is not None:
            return data
