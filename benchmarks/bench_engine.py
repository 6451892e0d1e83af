"""Engine overhead: records/s on one core with an instant in-process backend.

A two-step template, 20,000 records, InstantBackend (no latency, short replies). The
figure that matters is the engine's own cost per record (total time minus the time
spent inside the fake backend); target: at least 5,000 records/s.

    python benchmarks/bench_engine.py [records]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _jobs_common import SEEDS, TimedBackend, fresh_workspace, machine


def main(records: int = 20_000) -> None:
    from plotpalette.jobs import JobSpec, RunOptions, run_job
    from plotpalette.testing import InstantBackend

    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    ws = fresh_workspace("engine")
    backend = TimedBackend(InstantBackend(output_tokens=12))
    spec = JobSpec(template="bench_qa", seeds=SEEDS, records=records, budget_usd=100.0)
    t = time.perf_counter()
    result = run_job(
        ws, spec, backend=backend, options=RunOptions(concurrency=64), handle_signals=False
    )
    wall = time.perf_counter() - t
    engine = wall - backend.inside_s
    print(f"machine: {machine()}")
    print(
        f"state {result.state.value}, {result.records_ok} ok of {records}, "
        f"{backend.calls} calls, spend ${result.spend_usd:.4f}"
    )
    print(f"wall {wall:.2f} s -> {records / wall:,.0f} records/s including the fake backend")
    print(
        f"inside backend {backend.inside_s:.2f} s; engine {engine:.2f} s -> "
        f"{records / engine:,.0f} records/s engine overhead only (target >= 5,000)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
