"""Cost of the workers' metrics: building and writing a checkpoint's EMF lines.

python benchmarks/bench_emf.py

A worker writes these lines once per checkpoint (default: every 500 records or every
second), so the figure to compare is the time per checkpoint against a checkpoint's
model calls (hundreds of milliseconds each).
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine

from plotpalette.aws.metrics import EmfWriter, checkpoint_from_records
from plotpalette.records import Record, StepResult


def records(n: int, models: int) -> list[dict]:
    out = []
    for i in range(n):
        steps = {
            f"s{k}": StepResult(
                model=f"model-{k}",
                input_tokens=120,
                output_tokens=80,
                latency_ms=450.0 + i,
                cost_usd=0.00002,
            )
            for k in range(models)
        }
        out.append(Record("job", i, 0, "ok", steps=steps, cost_usd=0.00002 * models).to_dict())
    return out


def main() -> None:
    print_machine()
    print(f"load average: {os.getloadavg()}")
    for n, models in ((1, 1), (500, 1), (500, 3), (5000, 3)):
        rows = records(n, models)
        repeat = max(3, 2000 // n)
        start = time.perf_counter()
        lines = 0
        size = 0
        for _ in range(repeat):
            out = io.StringIO()
            lines = EmfWriter(out, stack="bench").write(checkpoint_from_records("job", rows))
            size = len(out.getvalue())
        per = (time.perf_counter() - start) / repeat
        print(
            f"{n:>5} records x {models} model(s): {per * 1000:8.3f} ms per checkpoint, "
            f"{lines} line(s), {size / 1024:.1f} KiB"
        )


if __name__ == "__main__":
    main()
