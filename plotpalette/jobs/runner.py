"""The asyncio engine of one worker: claim units, run records, checkpoint, stop, finalize.

A job may have many workers (processes, tasks, or several in one loop); each runs one
:class:`Runner`. It joins the job (starting it when it was stopped), then claims work
units (:mod:`.coordination.units`) one at a time and runs ``concurrency`` records at
once through the :class:`~plotpalette.jobs.execute.RecordExecutor`, skipping indices
the shards already settle. Money comes from the worker's budget lease
(:class:`~plotpalette.jobs.budget.BudgetGovernor`).

A ticker checkpoints: finished records go to a new shard first, then the worker's
heartbeat (with counts and its spend mark), and every few seconds a budget booking.
That order matters: a crash in between leaves records whose cost is still covered by
the lease and the mark, never the reverse. A unit is marked done only after its
records are in the shards. Every blocking store/registry call runs off the event loop.

Stops: the job's flags (cancel, pause, a fatal error or the error rate recorded by any
worker) are read at each checkpoint; SIGTERM/Ctrl-C (:class:`JobControls`) stop this
worker only; a budget that cannot cover the next call stops this worker, which hands
its lease back so others can use it. In every case no new record starts, records whose
call still waits to be sent (at the rate limit, nothing spent) are cancelled at once,
calls in flight get ``grace_s`` to finish (then they are abandoned and booked at worst
case), the last shard is written, the lease closed, unfinished units handed back, and
the finalizer run (:mod:`.runner_finish`, :mod:`.coordination.finalize`): the last
worker out decides the job's state.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BudgetExceededError, DailyQuotaError, PlotPaletteError
from ..records import Record
from ..store import Store
from .budget import BudgetGovernor
from .coordination import quota
from .coordination import units as unit_rules
from .coordination.finalize import reclaim_dead
from .coordination.workers import Fenced, WorkerItem
from .events import EventCallback, JobControls, JobEvent
from .execute import FatalJobError, RecordExecutor, RecordUnsettled
from .ops_hooks import OpsHooks
from .outcome import RunOutcome
from .runner_checkpoints import CheckpointMixin
from .runner_finish import FinishMixin
from .runner_preflight import PreflightMixin
from .runner_units import UnitsMixin, _Unit
from .shards import ShardCache, ShardIndex, ShardWriter
from .states import JobState
from .watchdog import ProgressWatchdog

__all__ = ["RunOptions", "RunOutcome", "Runner"]


@dataclass
class RunOptions:
    """Engine knobs that never change results (not part of the fingerprint)."""

    concurrency: int = 8
    flush_records: int = 500  # write a shard after this many finished records...
    flush_seconds: float = 1.0  # ...or this often, whichever comes first
    # shards at checkpoints at most this often (None: every checkpoint); a unit's end
    # and a stop always write one. Workers on S3 use 5 s (PUTs, and the reads of
    # whoever finalizes, take over or exports: one shard per worker per second was
    # 1,600 objects for a 200-s job of 8 workers)
    shard_seconds: float | None = None
    progress_seconds: float = 0.5
    grace_s: float = 30.0  # calls in flight may finish within this after a stop
    lease_s: float = 30.0  # a worker silent for this long is presumed dead
    lease_seconds: float = 10.0  # a budget lease covers about this long of spend
    mark_seconds: float = 1.0  # the spend mark runs this far ahead of spend
    settle_seconds: float = 10.0  # bookings on the budget item at most this often
    persist_progress_seconds: float = 10.0  # progress events stored in the registry
    unit_size: int | None = None  # records per work unit (None: chosen from the job)
    # how often a worker with nothing to claim looks again: at a fleet's end the idle
    # workers learn here that the last unit is done, so this is exit latency too
    idle_poll_s: float = 0.25
    # decides, in the same conditional write as the join, whether this worker may start
    # a stopped job (None: it may); a worker AWS Batch started must not undo a decision
    may_restart: Callable[[dict[str, Any]], bool] | None = None


class Runner(UnitsMixin, CheckpointMixin, PreflightMixin, FinishMixin):
    """One worker of one job; see the module docstring."""

    def __init__(
        self,
        *,
        job_id: str,
        store: Store,
        registry: Any,
        make_executor: Any,
        backend: Any,
        options: RunOptions,
        controls: JobControls | None = None,
        on_event: EventCallback | None = None,
        error_window: int = 50,
        error_threshold: float = 0.5,
        budget_usd: float | None = ...,
        budget_tokens: int | None = ...,  # type: ignore[assignment]
        price_table: str | None = None,
        total: int | None = None,
        batch: Any = None,
        ops: OpsHooks | None = None,
    ) -> None:
        self.job_id = job_id
        self.store = store
        self.registry = registry
        self.tables = registry.tables
        self.make_executor = make_executor
        self.backend = backend
        self.options = options
        self.controls = controls or JobControls()
        self.on_event = on_event
        self.ops = ops or OpsHooks(environ={})  # metrics and notifications (none by default)
        self.worker = f"w{secrets.token_hex(4)}"
        self.budget = {"budget_usd": budget_usd, "budget_tokens": budget_tokens}
        self.price_table = price_table
        self.total = total or 0
        self.window: collections.deque[bool] = collections.deque(maxlen=error_window)
        self.error_threshold = error_threshold
        self.counts: collections.Counter[str] = collections.Counter()  # this worker's
        self.unsettled = 0
        self.stop: tuple[str, PlotPaletteError | str] | None = None
        self.last_error: PlotPaletteError | None = None
        self._recent: list[Record] = []
        self._rate: collections.deque[tuple[float, int]] = collections.deque(maxlen=40)
        self._stop_at: float | None = None
        self._lost_lease = False
        self._published_pause = False
        self._unit: _Unit | None = None  # the unit new records come from
        self._active: list[_Unit] = []  # units with records not yet settled here
        self._units_done = 0
        self._claim_lock = asyncio.Lock()
        self._no_more_work = False
        self._last_shard = time.monotonic()
        self._taken_over = 0
        self._throttles_seen: dict[str, int] = {}
        self.batch = batch  # BatchOptions when the job runs in Bedrock batch mode
        self.batch_claimed: set[int] = set()  # indices the batch phase settles
        self._batch_waiting = False  # waiting on Bedrock: no stall watchdog
        self._quota_idle = False  # nothing to run: this worker's quota share is given back
        self._quota_fair = True  # this worker holds its fair share of every quota
        self.shard_cache = ShardCache()  # shards read ahead by an idle finalizer
        self._finalizer_at: float | None = None  # when this worker last claimed to finalize
        self._read_ahead_at = 0.0

    # -- events ----------------------------------------------------------------------
    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # a broken subscriber must not break the job
                self.on_event(JobEvent(kind, self.job_id, data))

    def _request_stop(self, kind: str, cause: PlotPaletteError | str) -> None:
        if self.stop is None:
            self.stop = (kind, cause)
            self._stop_at = time.monotonic()

    async def _io(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- main ------------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        started = time.monotonic()
        self.index = await self._io(ShardIndex(self.store, self.job_id).refresh)
        base = {"ok": 0, "failed": len(self.index.failed), "filtered": 0}
        job = await self._io(self.registry.job_data, self.job_id)
        self.total = job["records_total"]
        if any(v is not ... for v in self.budget.values()):
            await self._io(self.registry.set_budget, self.job_id, **self.budget)
        size = self.options.unit_size or unit_rules.unit_size(self.total)
        ok_like = await self._io(self._count_good)
        base.update(ok_like)
        job, first_worker = await self._io(
            self.registry.start_run,
            self.job_id,
            counts=base,
            price_table=self.price_table,
            unit_size=size,
            may_restart=self.options.may_restart,
        )
        self.run_no = job["run"]
        if first_worker:  # the job's history (status, JobConsole) shows each run's start
            event = {"state": JobState.RUNNING.value, "error": None, "run": self.run_no}
            await self._io(self.registry.add_event, self.job_id, "state", event)
        self.me = WorkerItem(self.tables, self.job_id, self.worker, lease_s=self.options.lease_s)
        await self._io(self.me.join, self.run_no)
        self._emit("state", {"state": JobState.RUNNING.value, "error": None, "worker": self.worker})
        budget = await self._io(self.tables.get, "budget", self.job_id)
        self.base_spend = budget.data["spent_usd"] if budget else 0.0
        self.governor = BudgetGovernor(
            self.tables,
            self.job_id,
            self.me,
            lease_seconds=self.options.lease_seconds,
            mark_seconds=self.options.mark_seconds,
            settle_seconds=self.options.settle_seconds,
        )
        self.governor.reclaim = lambda: reclaim_dead(self.tables, self.job_id)
        self.writer = ShardWriter(self.store, self.job_id, self.worker)
        self.executor: RecordExecutor = self.make_executor(self.governor)
        # take this process's share of the quota before the first call
        models = sorted({m for plan in getattr(self.executor, "plans", []) for m in plan.models})
        quota.prime(self.backend, models)
        # Start at once at the share the others have room for; until it is the fair
        # 1/N the ticker re-syncs every tick (the others shrink at their heartbeats).
        # Waiting here for fairness cost ~2 s of every newcomer's start (measured).
        self._quota_fair = await self._share_quota()
        # no progress for long while calls wait: the job is interrupted (see .watchdog)
        self.watchdog = ProgressWatchdog.for_plans(self.executor.plans, self.backend)
        await self._preflight()
        self._rate.append((time.monotonic(), 0))
        # no more records in flight than the backend can really run at once (the local
        # model decodes a few calls together): a stop then waits for those only, not a queue
        slots = getattr(self.backend, "max_concurrency", None) or self.options.concurrency
        ticker = asyncio.create_task(self._tick())  # heartbeats while batch jobs run
        if self.batch is not None:
            from .batch import run_batch_phase

            await run_batch_phase(self, self.batch)
        workers = [
            asyncio.create_task(self._work())
            for _ in range(max(1, min(self.options.concurrency, slots)))
        ]
        try:
            await self._wait([*workers, ticker])
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        request = self.controls.stop_request
        if request is not None:
            self._request_stop(*request)
        return await self._finish(started)

    def _count_good(self) -> dict[str, int]:
        from .shards import scan_shards

        scan = scan_shards(self.store, self.job_id)
        return {"ok": scan.counts.get("ok", 0), "filtered": scan.counts.get("filtered", 0)}

    async def _wait(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for the record tasks (the last task is the ticker, which never ends by
        itself: if it does, it failed, and the failure is raised)."""
        workers, ticker = tasks[:-1], tasks[-1]
        while True:
            _, pending = await asyncio.wait(workers, timeout=0.05)
            if ticker.done() and not ticker.cancelled() and ticker.exception() is not None:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise ticker.exception()  # type: ignore[misc]
            if not pending:
                break
            request = self.controls.stop_request
            if request is not None:
                self._request_stop(*request)
            if self.stop is not None:
                # records whose call still waits to be sent (nothing spent) stop now, not
                # after their turn at the rate limit (a 4-worker fleet took 6-7 s from
                # SIGTERM to exit: 8 queued calls at a quarter of 300 RPM, measured)
                for task in pending:
                    if self.executor.unsent(task):
                        task.cancel()
            if (
                self.stop is not None
                and self._stop_at is not None
                and (
                    self.controls.abandon_requested
                    or self._lost_lease
                    or time.monotonic() - self._stop_at > self.options.grace_s
                )
            ):
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                break
        for task in workers:  # surface engine bugs instead of hiding them
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    # -- records -----------------------------------------------------------------------
    async def _work(self) -> None:
        threshold, window = self.error_threshold, self.window
        min_window = min(window.maxlen or 1, 10)
        since_yield = 0
        while True:
            since_yield += 1
            if since_yield >= 64:
                since_yield = 0  # an instant backend never suspends: let the ticker run
                await asyncio.sleep(0)
            request = self.controls.stop_request
            if request is not None:
                self._request_stop(*request)
            if self.stop is not None:
                return
            if self.controls.paused:
                await asyncio.sleep(0.05)
                continue
            got = await self._next_index()
            if got is None:
                return
            unit, index = got
            unit.outstanding += 1
            try:
                record = await self.executor.run(index)
            except RecordUnsettled as exc:
                # transient (throttled, 5xx): not counted by the error-rate stop
                self.unsettled += 1
                self.last_error = exc.cause
                if isinstance(exc.cause, DailyQuotaError):
                    self._request_stop("quota_day", exc.cause)
            except BudgetExceededError as exc:
                unit.todo.appendleft(index)
                self._request_stop("budget", exc)
                return
            except FatalJobError as exc:
                self._request_stop("fatal", exc.cause)
                return
            except Fenced as exc:
                self._fenced(str(exc))
                return
            except asyncio.CancelledError:
                unit.todo.appendleft(index)  # abandoned at the stop: not settled here
                raise
            else:
                self.writer.add(record)
                if index in self.index.failed and record.status != "failed":
                    self.counts["retried"] += 1
                self.counts[record.status] += 1
                unit.counts[record.status] += 1
                self._recent.append(record)
                failed = record.status == "failed"
                window.append(failed)
                if failed and record.error:
                    self.last_error = PlotPaletteError(record.error, fix="See the record's error.")
                if self.writer.pending >= self.options.flush_records:
                    await self._flush()
            finally:
                unit.outstanding -= 1
            if not unit.todo and unit.outstanding == 0 and self.stop is None:
                await self._complete(unit)
            if len(window) >= min_window and window.count(True) / len(window) >= threshold:
                cause = self.last_error or PlotPaletteError("too many failed records")
                self._request_stop("error_rate", cause)
                return
