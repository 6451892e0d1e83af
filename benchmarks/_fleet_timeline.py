"""Where a fleet loses its quota: a timeline of one fan-out run, split into phases.

A :class:`Timeline` samples the Bedrock emulator's counters (answered and throttled
calls) every 0.1 s and reads the job's worker items (join time, first call, throttles,
exit) once the run is over. :meth:`Timeline.report` prints, against the quota bound:

- **start-up**: from spawning the processes until every worker has made its first
  call (per worker: spawn -> join = interpreter, imports, workspace open; join ->
  first call = quota share, pre-flight);
- **steady**: from then until the first worker goes idle (no unit left to claim) or
  leaves;
- **tail**: from then until the last answered call (units draining);
- **exit**: from the last answered call until the fleet's processes are gone.

Each phase shows its duration, answered calls, the fraction of the bound it reached and
the throttles it drew, and the calls it lost against the bound, so the lost fraction of
the whole run adds up phase by phase.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from plotpalette.jobs.coordination.workers import iter_worker_data


class Timeline:
    """Samples ``emu.counts`` in a thread from :meth:`start` until :meth:`stop`."""

    def __init__(self, emu: Any, rpm: float) -> None:
        self.emu = emu
        self.per_s = rpm / 60.0
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.spawned = 0.0
        self.ended = 0.0

    def _sample(self) -> None:
        c = self.emu.counts
        self.samples.append((time.time(), c["ok"], c["throttled"]))

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def start(self) -> Timeline:
        self.spawned = time.time()
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.ended = time.time()
        self._stop.set()
        self._thread.join()
        self._sample()

    def _at(self, t: float) -> tuple[int, int]:
        """(ok, throttled) counted by wall time ``t`` (the last sample at or before it)."""
        ok = thr = 0
        for ts, o, th in self.samples:
            if ts > t:
                break
            ok, thr = o, th
        return ok, thr

    def _last_ok(self) -> float:
        final = self.samples[-1][1]
        return next(ts for ts, o, _ in self.samples if o == final)

    def report(self, tables: Any, job_id: str) -> list[str]:
        workers = iter_worker_data(tables, job_id)
        t0 = self.spawned
        joins = sorted(w["started"] - t0 for w in workers)
        firsts = sorted(w["first_call"] - t0 for w in workers if w.get("first_call"))
        # a worker leaves the quota when it goes idle (nothing left to claim) or exits
        exits = sorted(
            w.get("idle_at") or w["heartbeat"] for w in workers if w.get("state") == "exited"
        )
        all_calling = t0 + (firsts[-1] if firsts else 0.0)
        last_ok = self._last_ok()
        first_exit = min(exits[0] if exits else last_ok, last_ok)
        bounds = [
            ("start-up", t0, max(t0, min(all_calling, first_exit))),
            ("steady", max(t0, min(all_calling, first_exit)), first_exit),
            ("tail", first_exit, last_ok),
            ("exit", last_ok, self.ended),
        ]
        wall = self.ended - t0
        lines = [
            "  per worker (s after spawn): join "
            + _spread(joins)
            + "; first call "
            + _spread(firsts)
            + "; throttles "
            + ", ".join(str(int(w.get("throttles") or 0)) for w in workers)
            + "; records ok "
            + ", ".join(str((w.get("counts") or {}).get("ok", 0)) for w in workers)
        ]
        exit_after = sorted(last_ok - e for e in exits)
        lines.append(
            "  workers idle or exited (s before the last answered call): " + _spread(exit_after)
        )
        lines.append("  ok/throttled per 5 s: " + " ".join(self._bins(t0, 5.0)))
        lost_total = wall * self.per_s - self.samples[-1][1]
        for name, a, b in bounds:
            span = max(0.0, b - a)
            ok_a, thr_a = self._at(a)
            ok_b, thr_b = self._at(b)
            ok, thr = ok_b - ok_a, thr_b - thr_a
            lost = span * self.per_s - ok
            frac = ok / (span * self.per_s) if span > 0 else 0.0
            lines.append(
                f"  {name:8} {span:6.1f} s: {ok:5d} ok = {frac:.3f} of the bound, "
                f"{thr:4d} throttled; lost {lost:6.1f} calls "
                f"({100 * lost / max(1.0, wall * self.per_s):.1f}% of the run's bound)"
            )
        lines.append(
            f"  total    {wall:6.1f} s: lost {lost_total:.1f} calls = "
            f"{100 * lost_total / max(1.0, wall * self.per_s):.1f}% of the bound"
        )
        return lines

    def _bins(self, t0: float, width: float) -> list[str]:
        out, t = [], t0
        while t < self.ended:
            (ok_a, thr_a), (ok_b, thr_b) = self._at(t), self._at(t + width)
            out.append(f"{ok_b - ok_a}/{thr_b - thr_a}")
            t += width
        return out


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{values[0]:.2f}/{statistics.median(values):.2f}/{values[-1]:.2f} (min/med/max)"
