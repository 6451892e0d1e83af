"""What the job console costs: engine throughput with and without a live console, and the
time to open a console on a finished job (which reads the registry and the last records).

Run: python benchmarks/bench_ui_console.py [records]
"""

from __future__ import annotations

import sys
import tempfile
import time

from _machine import print_machine

from plotpalette import Workspace
from plotpalette.jobs import JobHandle, JobSpec, run_job
from plotpalette.templates.library import TemplateLibrary
from plotpalette.testing import InstantBackend
from plotpalette.ui import JobConsole

TEMPLATE = """
name: bench_ui
steps:
  - id: ask
    model: cheap
    max_tokens: 40
    prompt: "Write one question about {{ topic }}."
"""
SEEDS = [{"topic": f"topic {i}"} for i in range(100)]


def main(records: int) -> None:
    print_machine()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(f"{tmp}/ws")
        TemplateLibrary(ws).save(TEMPLATE)
        spec = JobSpec(template="bench_ui", seeds=SEEDS, records=records, budget_usd=100.0)

        t0 = time.perf_counter()
        plain = run_job(ws, spec, backend=InstantBackend(), handle_signals=False)
        bare = time.perf_counter() - t0

        t0 = time.perf_counter()
        console = JobConsole(JobHandle(ws, spec, backend=InstantBackend()))
        console.wait()
        live = time.perf_counter() - t0
        assert console.progress_bar.value == records

        t0 = time.perf_counter()
        reopened = JobConsole(plain.job_id, workspace=ws)
        attach = time.perf_counter() - t0
        assert reopened.progress_bar.value == records

    print(f"records:                         {records}")
    print(f"engine alone (run_job):          {bare:.2f} s  ({records / bare:,.0f} records/s)")
    print(f"engine + live JobConsole:        {live:.2f} s  ({records / live:,.0f} records/s)")
    print(f"open a console on finished job:  {attach * 1000:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
