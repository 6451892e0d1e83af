"""The job registry: jobs and their states, steering flags, events and the cost ledger.

:class:`Registry` is backend-neutral: it stores everything as items of
:mod:`plotpalette.tables` (``job/<id>``, plus the ``budget``, ``unit`` and ``worker``
items of :mod:`~plotpalette.jobs.coordination`) and changes each with one conditional
write, so the same code runs on SQLite (:class:`SQLiteRegistry`, local workspaces) and
on DynamoDB. A :class:`~plotpalette.workspace.Workspace` builds and owns its registry:
use ``ws.registry`` rather than opening one.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import JobNotFoundError, JobStateError
from ..tables import SQLiteTables, Tables, iter_items, iter_log, update
from .coordination import leases, units, workers
from .registry_types import JobInfo, LedgerRow
from .states import RESUMABLE_STATES, JobState, check_transition

__all__ = ["JobInfo", "LedgerRow", "Registry", "SQLiteRegistry", "open_registry"]

JOB = "job"
EVENTS = "events"
_COUNTERS = ("ok", "failed", "filtered")
_event_seq = itertools.count()


class Registry:
    """Jobs on top of a :class:`~plotpalette.tables.Tables` (see the module docstring)."""

    def __init__(self, tables: Tables, *, shared: bool = False) -> None:
        self.tables = tables
        self._shared = shared  # owned by a Workspace: only the workspace closes it

    def close(self) -> None:
        if not self._shared:
            self.tables.close()

    # -- reading ---------------------------------------------------------------------
    def _item(self, job_id: str, *, include_deleted: bool = False) -> dict[str, Any]:
        item = self.tables.get(JOB, job_id)
        if item is None:
            raise JobNotFoundError(f"no job {job_id!r} in this workspace")
        data = item.data
        if data.get("deleted_at") is not None and not include_deleted:
            raise JobNotFoundError(
                f"job {job_id!r} was deleted on "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(data['deleted_at']))}",
                fix="Its files are gone; its cost history stays in the registry "
                "(list_jobs(..., include_deleted=True)).",
            )
        return data

    def _info(self, job_id: str, data: dict[str, Any]) -> JobInfo:
        budget = self.tables.get(leases.BUDGET, job_id)
        # a deleted job's budget item is gone; its totals were kept in the job row
        b = budget.data if budget else data.get("budget_final") or leases.new_budget(None, None)
        run = int(data.get("run", 0))
        counts = dict(data.get("base_counts") or {})
        live = []
        for w in workers.list_workers(self.tables, job_id):
            if w.run == run:
                for k in _COUNTERS:
                    counts[k] = counts.get(k, 0) + w.counts.get(k, 0)
                counts["failed"] = counts.get("failed", 0) - w.counts.get("retried", 0)
            if w.alive:
                live.append(vars(w))
        if data.get("final_counts") is not None and data["state"] != JobState.RUNNING.value:
            counts = dict(data["final_counts"])
        unit_items = units.units(self.tables, job_id)
        alive = {w["worker"] for w in live}
        first = live[0] if live else {}
        return JobInfo(
            job_id=job_id,
            name=data.get("name"),
            state=JobState(data["state"]),
            spec=data["spec"],
            fingerprint=data["fingerprint"],
            template=data["template"],
            batch_id=data.get("batch_id"),
            records_total=data["records_total"],
            records_ok=max(0, counts.get("ok", 0)),
            records_failed=max(0, counts.get("failed", 0)),
            records_filtered=max(0, counts.get("filtered", 0)),
            budget_usd=b.get("budget_usd"),
            budget_tokens=b.get("budget_tokens"),
            settled_usd=b["spent_usd"],
            reserved_usd=sum(x["usd"] for x in b["leases"].values()),
            waste_usd=b["waste_usd"],
            settled_tokens=b["spent_tokens"],
            reserved_tokens=sum(x["tokens"] for x in b["leases"].values()),
            calls=b["calls"],
            error=data.get("error"),
            price_tables=list(data.get("price_tables") or []),
            owner=first.get("worker"),
            owner_pid=first.get("pid"),
            owner_host=first.get("host"),
            heartbeat=first.get("heartbeat"),
            cancel_requested=bool(data.get("cancel_requested")),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            paused=bool(data.get("paused")),
            deleted_at=data.get("deleted_at"),
            workers=live,
            units=units.unit_counts(unit_items, lambda w: w not in alive),
            run=run,
            aws=data.get("aws"),
            bedrock_batch=data.get("bedrock_batch"),
        )

    def get(self, job_id: str, *, include_deleted: bool = False) -> JobInfo:
        """A job; a deleted job raises JobNotFoundError unless ``include_deleted``."""
        return self._info(job_id, self._item(job_id, include_deleted=include_deleted))

    def job_data(self, job_id: str) -> dict[str, Any]:
        """The raw job item (the engine's view; use :meth:`get` for a :class:`JobInfo`)."""
        return self._item(job_id, include_deleted=True)

    def list(
        self,
        *,
        state: str | None = None,
        batch_id: str | None = None,
        limit: int | None = None,
        include_deleted: bool = False,
    ) -> list[JobInfo]:
        """Jobs, newest first, optionally filtered by state or batch (deleted ones only
        with ``include_deleted``: their items stay for the cost history)."""
        want = JobState(state.upper()).value if state else None
        rows = []
        for item in iter_items(self.tables, JOB):
            d = item.data
            if d.get("deleted_at") is not None and not include_deleted:
                continue
            if (want and d["state"] != want) or (batch_id and d.get("batch_id") != batch_id):
                continue
            rows.append(item)
        rows.sort(key=lambda i: (-i.data["created_at"], i.key))
        if limit:
            rows = rows[: int(limit)]
        return [self._info(i.key, i.data) for i in rows]

    # -- writing ---------------------------------------------------------------------
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
        data = {
            "name": name,
            "state": JobState.QUEUED.value,
            "spec": spec,
            "fingerprint": fingerprint,
            "template": template,
            "batch_id": batch_id,
            "records_total": records_total,
            "created_at": now,
            "updated_at": now,
            "run": 0,
            "base_counts": {},
        }
        if self.tables.create(JOB, job_id, data) is None:
            gone = self.tables.get(JOB, job_id)
            why = " (a deleted job's id: its cost history keeps it)"
            raise JobStateError(
                f"a job named {job_id!r} already exists"
                + (why if gone and gone.data.get("deleted_at") else ""),
                fix="Choose another job name.",
            )
        leases.set_budget(self.tables, job_id, spec.get("budget_usd"), spec.get("budget_tokens"))
        return self.get(job_id)

    def _update(self, job_id: str, fn: Any) -> dict[str, Any]:
        box: dict[str, Any] = {}

        def wrap(data: dict[str, Any]) -> dict[str, Any] | None:
            box.pop("error", None)
            try:
                new = fn(data)
            except JobStateError as exc:
                box["error"] = exc
                return None
            new["updated_at"] = time.time()
            return new

        item = update(self.tables, JOB, job_id, wrap)
        if "error" in box:
            raise box["error"]
        if item is None:
            self._item(job_id)  # raises JobNotFoundError
            raise JobStateError(f"job {job_id} could not be updated")
        return item.data

    def transition(
        self,
        job_id: str,
        new: JobState,
        *,
        expected: Iterable[JobState],
        error: dict[str, Any] | None = None,
        run: int | None = None,
        final_counts: dict[str, int] | None = None,
    ) -> JobInfo:
        """Move to ``new`` only if the job is in one of ``expected`` (and, with ``run``,
        still in that run): one conditional write, so racing finalizers agree."""
        expected = [JobState(s) for s in expected]

        def fn(data: dict[str, Any]) -> dict[str, Any]:
            state = JobState(data["state"])
            if state not in expected or (run is not None and data.get("run") != run):
                raise JobStateError(
                    f"job {job_id} is {state.value}, expected {'/'.join(s.value for s in expected)}"
                )
            check_transition(state, new, job_id=job_id)
            data.update(state=new.value, error=error)
            if new.is_final:
                data.update(finished_at=time.time(), cancel_requested=False, paused=False)
                if final_counts is not None:
                    data["final_counts"] = final_counts
            return data

        self._update(job_id, fn)
        return self.get(job_id)

    def start_run(
        self,
        job_id: str,
        *,
        counts: dict[str, int],
        price_table: str | None = None,
        unit_size: int,
        may_restart: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Join the job: a RUNNING job is joined as it is; a resumable one is started
        (RUNNING, a new run number, units back to pending, ``counts`` from the shards as
        the run's base). Returns ``(job data, started)``. ``may_restart`` (given the job's
        data, in the same conditional write) refuses to start a stopped job with
        :class:`JobStateError`: a worker AWS Batch started checks the state before it
        joins, but the job could end in between, and it then restarted a FAILED job."""
        started = {"v": False}
        live = any(w.alive for w in workers.list_workers(self.tables, job_id))

        def fn(data: dict[str, Any]) -> dict[str, Any]:
            state = JobState(data["state"])
            started["v"] = False
            if state is JobState.RUNNING and (live or not data.get("stop")):
                return data  # join the run (a stopping one: the joiner sees the stop)
            if state is not JobState.RUNNING and state not in RESUMABLE_STATES:
                check_transition(state, JobState.RUNNING, job_id=job_id)
            if state is not JobState.RUNNING and may_restart and not may_restart(data):
                raise JobStateError(
                    f"job {job_id} is {state.value}: this worker does not restart it",
                    fix="`plotpalette resume JOB_ID` or `plotpalette submit JOB_ID` does.",
                )
            now = time.time()
            started["v"] = True
            tables = list(data.get("price_tables") or [])
            if price_table and price_table not in tables:
                tables.append(price_table)
            data.update(
                state=JobState.RUNNING.value,
                run=int(data.get("run", 0)) + 1,
                base_counts=counts,
                final_counts=None,
                error=None,
                stop=None,
                cancel_requested=False,
                paused=False,
                finished_at=None,
                started_at=data.get("started_at") or now,
                price_tables=tables,
                unit_size=data.get("unit_size") or unit_size,
            )
            return data

        data = self._update(job_id, fn)
        if started["v"]:
            units.reset_units(self.tables, job_id, data["records_total"], data["unit_size"])
        return data, started["v"]

    def set_budget(self, job_id: str, budget_usd: Any = ..., budget_tokens: Any = ...) -> None:
        leases.set_budget(self.tables, job_id, budget_usd, budget_tokens)

    def set_stop(self, job_id: str, kind: str, error: dict[str, Any] | None) -> None:
        """Record why the job must stop (the first reason wins); every worker stops at
        its next checkpoint and the finalizer turns it into the final state."""

        def fn(data: dict[str, Any]) -> dict[str, Any]:
            if not data.get("stop"):
                data["stop"] = {"kind": kind, "error": error}
            return data

        self._update(job_id, fn)

    def set_batch_status(self, job_id: str, status: dict[str, Any] | None) -> None:
        """The Bedrock batch job the job waits on (see :mod:`.batch_state`); ``None``
        when it waits on none."""
        self._update(job_id, lambda d: {**d, "bedrock_batch": status})

    def set_paused(self, job_id: str, paused: bool) -> None:
        self._update(job_id, lambda d: {**d, "paused": bool(paused)})

    def request_cancel(self, job_id: str) -> None:
        """Ask the job's workers to stop (they see the flag at their next checkpoint)."""
        self._update(job_id, lambda d: {**d, "cancel_requested": True})

    def request_pause(self, job_id: str, paused: bool) -> JobInfo:
        """Ask the job's workers to pause (``True``) or go on (``False``); they adopt
        the flag at their next checkpoint. Only a RUNNING job can be paused."""

        def fn(data: dict[str, Any]) -> dict[str, Any]:
            state = JobState(data["state"])
            if state is not JobState.RUNNING:
                raise JobStateError(
                    f"job {job_id} is {state.value}; only a RUNNING job can be "
                    + ("paused" if paused else "unpaused"),
                    fix=f"Restart a stopped job with `plotpalette resume {job_id}`."
                    if state.is_final and state is not JobState.COMPLETED
                    else None,
                )
            data["paused"] = bool(paused)
            return data

        self._update(job_id, fn)
        return self.get(job_id)

    def mark_deleted(self, job_id: str) -> JobInfo:
        """Hide the job (``deleted_at``) and keep its ledger. Refuses a RUNNING job with
        a live worker; a RUNNING job whose workers are all dead is finalized first (their
        budget leases reclaimed: the money of calls in flight stays counted)."""
        from .coordination.finalize import reclaim_dead

        info = self.get(job_id)
        if info.state is JobState.RUNNING:
            if info.workers:
                w = info.workers[0]
                raise JobStateError(
                    f"job {job_id} is RUNNING in process {w['pid']} on {w['host']}; a "
                    "running job is not deleted",
                    fix=f"Cancel it first (`plotpalette cancel {job_id}`), or delete with "
                    "force=True / --force, which cancels it and waits for it to stop.",
                )
            reclaim_dead(self.tables, job_id)
            error = {"message": "its workers had stopped; the job was deleted"}

            def stop(data: dict[str, Any]) -> dict[str, Any]:
                if data["state"] == JobState.RUNNING.value:
                    data.update(state=JobState.INTERRUPTED.value, error=error)
                    data["finished_at"] = time.time()
                return data

            self._update(job_id, stop)
        self._update(
            job_id,
            lambda d: {**d, "deleted_at": time.time(), "paused": False, "cancel_requested": False},
        )
        return self.get(job_id, include_deleted=True)

    # -- ledger and events -----------------------------------------------------------
    def ledger(self, job_id: str) -> list[LedgerRow]:
        """The job's cost ledger: one row per budget write, as deltas per lease."""
        rows: list[LedgerRow] = []
        last: dict[str, dict[str, Any]] = {}
        for n, entry in enumerate(iter_log(self.tables, leases.LEDGER, f"{job_id}/")):
            d = entry.data
            prev = last.get(d["worker"], {})
            rows.append(
                LedgerRow(
                    job_id,
                    d["worker"],
                    d["kind"],
                    reserve_usd=d["leased_usd"] - prev.get("leased_usd", 0.0),
                    settle_usd=d["booked_usd"] - prev.get("booked_usd", 0.0),
                    reserve_tokens=d["leased_tokens"] - prev.get("leased_tokens", 0),
                    settle_tokens=d["booked_tokens"] - prev.get("booked_tokens", 0),
                    waste_usd=d["waste_usd"] - prev.get("waste_usd", 0.0),
                    calls=d["calls"] - prev.get("calls", 0),
                    ts=d["ts"],
                    seq=n + 1,
                )
            )
            last[d["worker"]] = d
        return rows

    def ledger_spend(self, job_id: str) -> float:
        """Dollars booked according to the ledger alone (the latest entry per lease)."""
        last: dict[str, float] = {}
        for entry in iter_log(self.tables, leases.LEDGER, f"{job_id}/"):
            last[entry.data["worker"]] = entry.data["booked_usd"]
        return sum(last.values())

    def add_event(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        now = time.time()
        key = f"{job_id}/{now:017.6f}-{os.getpid()}-{next(_event_seq):06d}"
        self.tables.append(EVENTS, key, {"ts": now, "kind": kind, "data": data})

    def events(self, job_id: str, *, limit: int = 1000) -> list[tuple[float, str, dict[str, Any]]]:
        """The job's stored events, oldest first: ``(ts, kind, data)``."""
        out = []
        for entry in iter_log(self.tables, EVENTS, f"{job_id}/"):
            out.append((entry.data["ts"], entry.data["kind"], entry.data["data"]))
            if len(out) >= limit:
                break
        return out

    def __repr__(self) -> str:
        return f"Registry({self.tables!r})"


class SQLiteRegistry(Registry):
    """The registry in a SQLite file (``registry.sqlite`` at a local workspace's root)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        super().__init__(SQLiteTables(self.path))


def open_registry(workspace: Any) -> Registry:
    """The registry of ``workspace`` (its own, shared instance: do not close it)."""
    return workspace.registry
