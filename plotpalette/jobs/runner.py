"""The asyncio engine: many records at once, checkpoints, stops, and the final state.

One :class:`Runner` drives one job in one process. ``concurrency`` worker coroutines
pull record indices (skipping those already in the shards) and hand them to the
:class:`~plotpalette.jobs.execute.RecordExecutor`. A ticker writes checkpoints:
finished records to a new shard first, then one registry transaction with the cost
settlement, progress counters and heartbeat. That order matters: a crash in between
leaves records whose cost is still covered by open reservations, never the reverse.

Pause works across processes: the checkpoint publishes this runner's pause state to the
registry and adopts a flag another process set there (``request_pause``), so a paused
job stays RUNNING, keeps its heartbeat and starts no new record.

Stops (budget exhausted, cancel, SIGTERM/Ctrl-C via :class:`JobControls`, a fatal
error, the error rate over a window passing the threshold) all end the same way: no
new records, calls in flight get ``grace_s`` to finish (then are abandoned), the last
shard is written, and the state is chosen from what the shards hold: COMPLETED only
if every index is settled (see :mod:`.outcome`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import BudgetExceededError, DailyQuotaError, JobStateError, PlotPaletteError
from ..records import Record
from ..store import Store
from .budget import BudgetGovernor
from .events import EventCallback, JobControls, JobEvent
from .execute import FatalJobError, RecordExecutor, RecordUnsettled
from .outcome import RunOutcome, final_state
from .registry import Registry
from .shards import ShardWriter, scan_shards, write_manifest
from .states import JobState
from .watchdog import ProgressWatchdog

__all__ = ["RunOptions", "RunOutcome", "Runner"]


@dataclass
class RunOptions:
    """Engine knobs that never change results (not part of the fingerprint)."""

    concurrency: int = 8
    flush_records: int = 500  # write a shard after this many finished records...
    flush_seconds: float = 1.0  # ...or this often, whichever comes first
    progress_seconds: float = 0.5
    grace_s: float = 60.0  # calls in flight may finish within this after a stop
    lease_s: float = 30.0  # a RUNNING job with an older heartbeat is taken over
    grant_calls: int = 32  # a budget grant covers at most this many calls...
    grant_seconds: float = 0.01  # ...and about this long of calls at the current rate
    persist_progress_seconds: float = 10.0  # progress events stored in the registry


class Runner:
    """Runs (or resumes) one job; see the module docstring."""

    def __init__(
        self,
        *,
        job_id: str,
        store: Store,
        registry: Registry,
        total: int,
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
    ) -> None:
        self.job_id = job_id
        self.store = store
        self.registry = registry
        self.total = total
        self.make_executor = make_executor
        self.backend = backend
        self.options = options
        self.controls = controls or JobControls()
        self.on_event = on_event
        self.worker = f"w{secrets.token_hex(4)}"
        self.budget = {"budget_usd": budget_usd, "budget_tokens": budget_tokens}
        self.price_table = price_table
        self.window: collections.deque[bool] = collections.deque(maxlen=error_window)
        self.error_threshold = error_threshold
        self.counts: collections.Counter[str] = collections.Counter()
        self.new_counts: collections.Counter[str] = collections.Counter()
        self.unsettled = 0
        self.stop: tuple[str, PlotPaletteError | str] | None = None
        self.last_error: PlotPaletteError | None = None
        self._recent: list[Record] = []
        self._rate: collections.deque[tuple[float, int]] = collections.deque(maxlen=40)
        self._stop_at: float | None = None
        self._lost_lease = False
        self._published_pause = False  # the pause flag the last checkpoint stored

    # -- events ----------------------------------------------------------------------
    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            # a broken subscriber must not break the job
            with contextlib.suppress(Exception):
                self.on_event(JobEvent(kind, self.job_id, data))

    def _request_stop(self, kind: str, cause: PlotPaletteError | str) -> None:
        if self.stop is None:
            self.stop = (kind, cause)
            self._stop_at = time.monotonic()

    # -- main ------------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        started = time.monotonic()
        info = self.registry.acquire(
            self.job_id,
            self.worker,
            lease_s=self.options.lease_s,
            price_table=self.price_table,
            **{k: v for k, v in self.budget.items() if v is not ...},
        )
        self._emit("state", {"state": JobState.RUNNING.value, "error": None, "worker": self.worker})
        self.base_spend = info.settled_usd + info.reserved_usd
        scan = scan_shards(self.store, self.job_id)
        # Failed records are run again on resume; their new outcome will be counted.
        self.counts.update({k: v for k, v in scan.counts.items() if k != "failed"})
        done = scan.indices - scan.failed
        self.governor = BudgetGovernor(
            self.registry,
            self.job_id,
            self.worker,
            grant_calls=self.options.grant_calls,
            grant_seconds=self.options.grant_seconds,
        )
        self.writer = ShardWriter(self.store, self.job_id, self.worker)
        self.executor: RecordExecutor = self.make_executor(self.governor)
        self.watchdog = ProgressWatchdog.for_plans(self.executor.plans, self.backend)
        await self._preflight()
        pending: Iterator[int] = (i for i in range(self.total) if i not in done)
        self._settled_before = len(done)
        self._rate.append((time.monotonic(), 0))
        workers = [
            asyncio.create_task(self._work(pending))
            for _ in range(max(1, self.options.concurrency))
        ]
        ticker = asyncio.create_task(self._tick())
        try:
            await self._wait(workers)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        request = self.controls.stop_request
        if request is not None:  # a stop that came in while the last records finished
            self._request_stop(*request)
        self._check_short_run_error_rate()
        self._checkpoint(final=True)
        self._emit("progress", self.progress())  # the final figures, however short the run
        return self._finish(started)

    async def _wait(self, workers: list[asyncio.Task[None]]) -> None:
        while True:
            _, pending = await asyncio.wait(workers, timeout=0.05)
            if not pending:
                break
            request = self.controls.stop_request
            if request is not None:
                kind, reason = request
                self._request_stop(kind, reason)
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

    async def _work(self, pending: Iterator[int]) -> None:
        threshold, window = self.error_threshold, self.window
        min_window = min(window.maxlen or 1, 10)
        since_yield = 0
        while True:
            since_yield += 1
            if since_yield >= 64:
                # an instant backend never suspends: let the ticker (checkpoints,
                # progress, stop requests) run now and then
                since_yield = 0
                await asyncio.sleep(0)
            request = self.controls.stop_request
            if request is not None:
                self._request_stop(*request)
            if self.stop is not None:
                return
            if self.controls.paused:
                await asyncio.sleep(0.05)
                continue
            index = next(pending, None)
            if index is None:
                return
            try:
                record = await self.executor.run(index)
            except RecordUnsettled as exc:
                # transient (throttled, 5xx): not counted by the error-rate stop
                self.unsettled += 1
                self.last_error = exc.cause
                if isinstance(exc.cause, DailyQuotaError):
                    self._request_stop("quota_day", exc.cause)
            except BudgetExceededError as exc:
                self._request_stop("budget", exc)
                return
            except FatalJobError as exc:
                self._request_stop("fatal", exc.cause)
                return
            else:
                self.writer.add(record)
                self.counts[record.status] += 1
                self.new_counts[record.status] += 1
                self._recent.append(record)
                failed = record.status == "failed"
                window.append(failed)
                if failed and record.error:
                    self.last_error = PlotPaletteError(record.error, fix="See the record's error.")
                if self.writer.pending >= self.options.flush_records:
                    self._checkpoint()
            if len(window) >= min_window and window.count(True) / len(window) >= threshold:
                cause = self.last_error or PlotPaletteError("too many failed records")
                self._request_stop("error_rate", cause)
                return

    def _check_short_run_error_rate(self) -> None:
        """The error-rate rule once more at the end, over the whole job: the windowed
        check needs ten finished records, so a 5-record job whose every call was refused
        would otherwise end COMPLETED. Job-wide, so a resume finishing the last few
        records of a big job is not judged on those few alone."""
        settled = sum(self.counts.values())
        if self.stop is not None or not self.window or not settled:
            return
        if self.counts.get("failed", 0) / settled >= self.error_threshold:
            cause = self.last_error or PlotPaletteError("too many failed records")
            self._request_stop("error_rate", cause)

    async def _tick(self) -> None:
        opts = self.options
        last_flush = last_persist = time.monotonic()
        last_progress = last_flush
        # wake often enough for both: a flush interval shorter than the progress interval
        # (a worker that must lose little on kill -9) is honoured
        interval = max(0.001, min(opts.progress_seconds, opts.flush_seconds))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            if now - last_flush >= opts.flush_seconds:
                persist = now - last_persist >= opts.persist_progress_seconds
                self._checkpoint(persist_progress=persist)
                last_flush = now
                if persist:
                    last_persist = now
            if now - last_progress >= opts.progress_seconds:
                last_progress = now
                self._emit("progress", self.progress())
            # progress: a call billed or a record finished (not one left unsettled)
            moved = self.governor.spent_tokens + sum(self.new_counts.values())
            stalled = self.watchdog.check(
                moved, self.governor.in_flight_calls, last_error=self.last_error
            )
            if stalled is not None:
                self._request_stop("stalled", stalled)

    async def _preflight(self) -> None:
        """Every step's model priced, accepted and callable before the first record."""
        try:
            for warning in await self.executor.preflight():
                self._emit("warning", {"message": warning})
        except BudgetExceededError as exc:
            self._request_stop("budget", exc)
        except PlotPaletteError as exc:
            self._request_stop("fatal", exc)

    # -- checkpoints -----------------------------------------------------------------
    def _checkpoint(self, *, final: bool = False, persist_progress: bool = False) -> None:
        self.writer.flush()  # records first: their cost is still covered by reservations
        row = self.governor.ledger_row(final=final)
        events = [("progress", self.progress(limiters=False))] if persist_progress else []
        local_paused = self.controls.paused
        owner_ok, cancel, paused = self.registry.checkpoint(
            self.job_id,
            self.worker,
            ledger=row,
            progress={f"records_{k}": self.counts.get(k, 0) for k in ("ok", "failed", "filtered")},
            events=events,
            paused=local_paused,
            published_paused=self._published_pause,
        )
        if owner_ok:
            self._published_pause = paused
            if paused and not local_paused:  # another process paused the job...
                self.controls.pause()
            elif local_paused and not paused:  # ...or let it go on
                self.controls.resume()
        if not owner_ok and not self._lost_lease:
            self._lost_lease = True
            self._request_stop("lost_lease", "another worker took over this job")
        if cancel:
            self._request_stop("cancel", "cancelled (requested through the registry)")
        if self._recent:
            self._emit("records", {"records": self._recent})
            self._recent = []
        if self.governor.overruns:
            self._emit(
                "warning",
                {
                    "message": f"{self.governor.overruns} call(s) cost more "
                    "than their reservation; the backend under-estimated "
                    "input tokens"
                },
            )
            self.governor.overruns = 0

    def progress(self, *, limiters: bool = True) -> dict[str, Any]:
        """The figures the progress event carries."""
        now = time.monotonic()
        done = sum(self.new_counts.values())
        self._rate.append((now, done))
        t0, d0 = self._rate[0]
        data: dict[str, Any] = {
            "total": self.total,
            "settled": self._settled_before + done,
            "ok": self.counts.get("ok", 0),
            "failed": self.counts.get("failed", 0),
            "filtered": self.counts.get("filtered", 0),
            "unsettled": self.unsettled,
            "spend_usd": self.base_spend + self.governor.spent_usd,
            "run_spend_usd": self.governor.spent_usd,
            "reserved_usd": self.governor.open_usd,
            "waste_usd": self.governor.waste_usd,
            "tokens": self.governor.spent_tokens,
            "in_flight": self.governor.in_flight_calls,
            "records_per_s": (done - d0) / (now - t0) if now > t0 else 0.0,
            "paused": self.controls.paused,
            "stopping": self.stop[0] if self.stop else None,
        }
        if limiters:
            try:
                data["limiters"] = [vars(s) for s in self.backend.stats()]
            except Exception:  # figures are best effort
                data["limiters"] = []
        return data

    # -- the end -----------------------------------------------------------------------
    def _finish(self, started: float) -> RunOutcome:
        scan = scan_shards(self.store, self.job_id)
        settled = len(scan.indices)
        self.counts = collections.Counter(scan.counts)
        missing = self.total - settled
        state, error = final_state(self.stop, missing, self.last_error, self.unsettled)
        write_manifest(
            self.store,
            self.job_id,
            state=state.value,
            records_total=self.total,
            scan=scan,
            extra={"error": error},
        )
        if not self._lost_lease:
            try:
                self.registry.transition(
                    self.job_id, state, expected=[JobState.RUNNING], error=error, owner=self.worker
                )
            except JobStateError:
                self._lost_lease = True
        self._emit("state", {"state": state.value, "error": error})
        return RunOutcome(
            state=state,
            error=error,
            counts=dict(self.counts),
            settled=settled,
            total=self.total,
            spent_usd=self.governor.spent_usd,
            waste_usd=self.governor.waste_usd,
            tokens=self.governor.spent_tokens,
            unsettled=missing,
            elapsed_s=time.monotonic() - started,
            worker=self.worker,
            extra={"lost_lease": self._lost_lease},
        )
