"""The end of a :class:`~plotpalette.jobs.runner.Runner`'s run: write what is left,
close the budget lease, hand unfinished units back, record why this worker stopped,
and run the finalizer (or wait for the worker that claimed it)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from ..errors import PlotPaletteError
from .coordination import quota
from .coordination import units as unit_rules
from .coordination.finalize import finalize, release_finalizer
from .coordination.workers import Fenced
from .outcome import RunOutcome, final_state
from .states import JobState

__all__ = ["JOB_STOPS", "FinishMixin"]

# Stops that end the job for every worker: a fatal error, the error rate, no progress
# (the service stopped answering) and a used-up daily quota (per account and Region).
JOB_STOPS = ("fatal", "error_rate", "stalled", "quota_day")


class FinishMixin:
    """The end half of the runner (it provides the attributes used here)."""

    stop: Any
    counts: Any
    window: Any
    error_threshold: float
    last_error: Any
    unsettled: int
    governor: Any
    tables: Any
    registry: Any
    store: Any
    job_id: str
    worker: str
    me: Any
    backend: Any
    controls: Any
    ops: Any
    index: Any
    total: int
    shard_cache: Any
    _active: list[Any]
    _lost_lease: bool
    _units_done: int
    _taken_over: int
    _io: Any
    _flush: Any
    _publish_recent: Any
    _request_stop: Any
    _emit: Any
    _final_by_another: Any

    def _check_short_run_error_rate(self) -> None:
        """The error-rate rule once more at the end, over what this worker settled: the
        windowed check needs ten finished records, so a 5-record job whose every call
        was refused would otherwise end COMPLETED."""
        settled = sum(v for k, v in self.counts.items() if k != "retried")
        if self.stop is not None or not self.window or not settled:
            return
        if self.counts.get("failed", 0) / settled >= self.error_threshold:
            cause = self.last_error or PlotPaletteError("too many failed records")
            self._request_stop("error_rate", cause)

    async def _finish(self, started: float) -> RunOutcome:
        self._check_short_run_error_rate()
        kind = self.stop[0] if self.stop else None
        # abandoned calls were booked at worst case by the executor; records in the
        # buffer go to a shard before the lease closes (their cost is covered until then)
        await self._flush()
        await self._publish_recent()
        with contextlib.suppress(Fenced):
            await self.governor.checkpoint(final=True)
        for unit in list(self._active) if not self._lost_lease else []:
            done = not unit.todo and unit.outstanding == 0
            await self._io(
                unit_rules.finish_unit,
                self.tables,
                self.worker,
                unit.claim,
                done=done,
                counts=dict(unit.counts),
            )
        error = None
        if kind in (*JOB_STOPS, "budget", "interrupt") and self.stop is not None:
            _, error = final_state(self.stop, 1, self.last_error, self.unsettled)
        if kind in JOB_STOPS:  # the whole job stops, not only this worker
            await self._io(self.registry.set_stop, self.job_id, kind, error)
        if kind == "cancel":
            await self._io(self.registry.request_cancel, self.job_id)
        with contextlib.suppress(Fenced):
            await self._io(
                self.me.write,
                state="exited",
                exit_reason=kind,
                exit_error=error,
                counts=dict(self.counts),
                in_flight=0,
                unit=None,
                first_call=self.governor.first_call_at,
                throttles=quota.throttles(self.backend),
            )
        await self._io(quota.leave, self.tables, self.backend)  # the others take its share
        state = await self._final_by_another() or await self._io(
            finalize,
            self.registry,
            self.store,
            self.job_id,
            on_final=self.ops.final,
            cache=self.shard_cache,
        )
        if state is None:
            state = JobState.RUNNING  # other workers go on with the job
            await self._io(release_finalizer, self.tables, self.job_id, self.worker)
        self._emit("progress", self.progress())
        info = await self._io(self.registry.job_data, self.job_id)
        self._emit("state", {"state": state.value, "error": info.get("error")})
        return RunOutcome(
            state=state,
            error=info.get("error") if state.is_final else None,
            counts={k: v for k, v in self.counts.items() if k != "retried"},
            settled=len(self.index.good) + sum(self.counts.values()),
            total=self.total,
            spent_usd=self.governor.spent_usd,
            waste_usd=self.governor.waste_usd,
            tokens=self.governor.spent_tokens,
            unsettled=self.unsettled,
            elapsed_s=time.monotonic() - started,
            worker=self.worker,
            extra={
                "lost_lease": self._lost_lease,
                "stop": kind,
                "units_done": self._units_done,
                "taken_over": self._taken_over,
                "budget_writes": self.governor.budget_writes,
                "mark_writes": self.governor.mark_writes,
                "calls": self.governor.calls,
            },
        )
