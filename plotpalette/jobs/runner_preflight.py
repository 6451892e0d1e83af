"""Pre-flight once per run of a job, before any of its workers claims a record.

The first worker of a run to create the run's ``preflight`` item (a conditional create
on the :class:`~plotpalette.tables.Tables` contract) checks every step's model
(:mod:`.preflight`; its probes are billed to that worker's budget lease). The other
workers wait until it writes the result, so N workers do not each pay for the probes;
they adopt its verdict: the models it found unusable (their steps fall back alike) or
the error that stops the job. If that worker dies or exits before writing a result,
a waiting worker runs the checks itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import BudgetExceededError, ModelAccessError, ModelNotFoundError, PlotPaletteError
from .coordination.workers import WORKER, is_dead, worker_key

__all__ = ["PREFLIGHT", "PreflightMixin"]

PREFLIGHT = "preflight"  # Tables kind: one item per (job, run)


class PreflightMixin:
    """The pre-flight half of the runner (it provides the attributes used here)."""

    tables: Any
    registry: Any
    job_id: str
    worker: str
    run_no: int
    executor: Any
    options: Any
    stop: Any
    _io: Any
    _emit: Any
    _request_stop: Any

    async def _preflight(self) -> None:
        """Every step's model priced, accepted and callable before the first record."""
        key = f"{self.job_id}:{self.run_no}"
        mine = await self._io(self.tables.create, PREFLIGHT, key, {"worker": self.worker})
        if mine is None and await self._adopt_preflight(key):
            return
        result: dict[str, Any] = {"worker": self.worker, "done": True}
        try:
            for warning in await self.executor.preflight():
                self._emit("warning", {"message": warning})
        except BudgetExceededError as exc:
            self._request_stop("budget", exc)  # this worker's lease; others try their own
        except PlotPaletteError as exc:
            self._request_stop("fatal", exc)
            result["error"] = exc.to_dict()
        result["unusable"] = {
            m: {**e.to_dict(), "not_found": isinstance(e, ModelNotFoundError)}
            for m, e in self.executor.unusable.items()
        }
        await self._io(self._write_preflight, key, result)

    def _write_preflight(self, key: str, result: dict[str, Any]) -> None:
        item = self.tables.get(PREFLIGHT, key)
        if item is None:
            self.tables.create(PREFLIGHT, key, result)
        else:
            self.tables.replace(PREFLIGHT, key, result, version=item.version)

    async def _adopt_preflight(self, key: str) -> bool:
        """Wait for another worker's pre-flight of this run; ``False`` when it is gone
        without a result (then this worker checks)."""
        while self.stop is None:
            item = await self._io(self.tables.get, PREFLIGHT, key)
            data = item.data if item else {}
            if data.get("done"):
                for model, err in (data.get("unusable") or {}).items():
                    kind = ModelNotFoundError if err.get("not_found") else ModelAccessError
                    self.executor.unusable[model] = kind(err["message"], fix=err.get("fix"))
                if data.get("error"):
                    err = data["error"]
                    self._request_stop("fatal", PlotPaletteError(err["message"], fix=err["fix"]))
                return True
            owner = await self._io(
                self.tables.get, WORKER, worker_key(self.job_id, str(data.get("worker")))
            )
            if item is None or owner is None or is_dead(owner.data):
                return False
            # a probe takes a call's latency: polling at idle_poll_s (then 0.5 s) held every
            # worker but the first ~1 s after joining (measured in bench_scaleout)
            await asyncio.sleep(min(self.options.idle_poll_s, 0.1))
        return True
