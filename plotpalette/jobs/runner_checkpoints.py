"""Checkpoints of :class:`~plotpalette.jobs.runner.Runner`: records to a shard first, then
the budget booking, the heartbeat (with counts, spend mark and quota share), and the
job's flags (cancel, pause, stop) read back; plus the progress figures."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..errors import PlotPaletteError
from .coordination import quota
from .coordination.workers import Fenced, worker_key
from .states import JobState

__all__ = ["CheckpointMixin"]


class CheckpointMixin:
    """The checkpoint half of the runner (it provides the attributes used here)."""

    options: Any
    tables: Any
    registry: Any
    job_id: str
    worker: str
    writer: Any
    governor: Any
    me: Any
    controls: Any
    counts: Any
    index: Any
    total: int
    unsettled: int
    stop: Any
    base_spend: float
    backend: Any
    _recent: list[Any]
    _rate: Any
    _published_pause: bool
    _units_done: int
    _io: Any
    _emit: Any
    _fenced: Any
    _request_stop: Any
    _quota_fair: bool
    _quota_idle: bool
    _throttles_seen: dict[str, int]
    watchdog: Any
    _batch_waiting: bool
    _last_shard: float
    last_error: Any
    ops: Any

    # -- checkpoints -----------------------------------------------------------------
    async def _flush(self) -> None:
        taken = self.writer.take()
        if taken is None:
            return
        # a fenced worker (a zombie woken up) writes no shard: its unit is someone else's
        mine = await self._io(self.tables.get, "worker", worker_key(self.job_id, self.worker))
        if mine is None or mine.data.get("state") != "running":
            self._fenced("its worker item was fenced")
            return
        await self._io(self.writer.write, *taken)

    async def _tick(self) -> None:
        opts = self.options
        last_flush = last_persist = last_beat = time.monotonic()
        last_progress = last_flush
        interval = max(0.001, min(opts.progress_seconds, opts.flush_seconds))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            if now - last_flush >= opts.flush_seconds:
                last_flush = now
                beat = now - last_beat >= min(opts.flush_seconds, opts.lease_s / 3)
                await self._checkpoint(beat=beat)
                if beat:
                    last_beat = now
                if now - last_persist >= opts.persist_progress_seconds:
                    last_persist = now
                    await self._io(
                        self.registry.add_event,
                        self.job_id,
                        "progress",
                        self.progress(limiters=False),
                    )
            elif not self._quota_fair:
                await self._share_quota()  # a newcomer: take its fair share soon
            if now - last_progress >= opts.progress_seconds:
                last_progress = now
                self._emit("progress", self.progress())
            # progress: a call answered or a record finished (not a call abandoned at its
            # deadline and booked at worst case, nor a record left unsettled)
            moved = self.governor.answered + sum(self.counts.values())
            stalled = self.watchdog.check(
                moved, self.governor.in_flight_calls, last_error=self.last_error
            )
            if stalled is not None and not self._batch_waiting:  # Bedrock batch: hours
                self._request_stop("stalled", stalled)

    async def _share_quota(self) -> bool:
        """This process's share of the workspace-wide quota (AIMD across workers)."""
        if self._quota_idle:
            return True  # an idle worker holds no share (see UnitsMixin._idle)
        self._quota_fair = await self._io(
            quota.apply_shares,
            self.tables,
            self.backend,
            self.options.lease_s,
            self._throttles_seen,
        )
        return self._quota_fair

    def _shard_due(self) -> bool:
        every = self.options.shard_seconds
        now = time.monotonic()
        if every is not None and now - self._last_shard < every:
            return False
        self._last_shard = now
        return True

    async def _checkpoint(self, *, beat: bool = True) -> None:
        try:
            if self._shard_due():
                await self._flush()
            await self.governor.checkpoint()
            if beat:
                await self._io(
                    self.me.write,
                    counts=dict(self.counts),
                    in_flight=self.governor.in_flight_calls,
                    rate=self._records_per_s(),
                    # for the fleet's start-up and throttle breakdown (status, benchmarks)
                    first_call=self.governor.first_call_at,
                    throttles=quota.throttles(self.backend),
                )
                # this worker's share of the workspace-wide quota (AIMD across workers)
                await self._share_quota()
        except Fenced as exc:
            self._fenced(str(exc))
            return
        job = await self._io(self.registry.job_data, self.job_id)
        await self._adopt_flags(job)
        await self._publish_recent()
        if self.governor.overruns:
            self._emit(
                "warning",
                {
                    "message": f"{self.governor.overruns} call(s) cost more than their "
                    "reservation; the backend under-estimated input tokens"
                },
            )
            self.governor.overruns = 0

    async def _publish_recent(self) -> None:
        """Hand the records settled since the last checkpoint to subscribers and, when
        metrics are on, write their EMF lines (one set per checkpoint)."""
        if not self._recent:
            return
        recent, self._recent = self._recent, []
        self._emit("records", {"records": recent})
        if self.ops.writer is not None:
            await self._io(self.ops.checkpoint, self.job_id, recent, self.backend)

    async def _adopt_flags(self, job: dict[str, Any]) -> None:
        if job.get("deleted_at") or job["state"] != JobState.RUNNING.value:
            # finalized (or deleted) by someone else: this worker simply has no more work
            self._request_stop("job_ended", f"the job is {job['state']}")
        if job.get("cancel_requested"):
            self._request_stop("cancel", "cancelled (requested through the registry)")
        stop = job.get("stop")
        if stop:
            kind = stop["kind"]
            err = stop.get("error") or {}
            self._request_stop(kind, PlotPaletteError(err.get("message", kind), fix=err.get("fix")))
        local = self.controls.paused
        stored = bool(job.get("paused"))
        if local != self._published_pause:  # paused/unpaused here: publish it
            await self._io(self.registry.set_paused, self.job_id, local)
            self._published_pause = local
        elif stored != local:  # another process paused the job, or let it go on
            self.controls.pause() if stored else self.controls.resume()
            self._published_pause = stored

    def _records_per_s(self) -> float:
        now = time.monotonic()
        done = sum(v for k, v in self.counts.items() if k != "retried")
        self._rate.append((now, done))
        t0, d0 = self._rate[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0

    def progress(self, *, limiters: bool = True) -> dict[str, Any]:
        """The figures the progress event carries (this worker's, plus the job total)."""
        done = sum(v for k, v in self.counts.items() if k != "retried")
        data: dict[str, Any] = {
            "total": self.total,
            "settled": len(self.index.good) + done,
            "ok": self.counts.get("ok", 0),
            "failed": self.counts.get("failed", 0),
            "filtered": self.counts.get("filtered", 0),
            "unsettled": self.unsettled,
            "spend_usd": self.base_spend + self.governor.spent_usd,
            "run_spend_usd": self.governor.spent_usd,
            "reserved_usd": self.governor.open_usd,
            "leased_usd": self.governor.open_usd,
            "waste_usd": self.governor.waste_usd,
            "tokens": self.governor.spent_tokens,
            "in_flight": self.governor.in_flight_calls,
            "records_per_s": self._records_per_s(),
            "paused": self.controls.paused,
            "stopping": self.stop[0] if self.stop else None,
            "worker": self.worker,
            "units_done": self._units_done,
        }
        if limiters:
            try:
                data["limiters"] = [vars(s) for s in self.backend.stats()]
            except Exception:  # figures are best effort
                data["limiters"] = []
        return data
