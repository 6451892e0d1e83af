"""End to end through boto3 and the Bedrock emulator: fraction of the quota achieved.

Emulator: 200 ms latency, 600 requests/minute quota; a two-step template. The engine
should keep the model layer at its quota: achieved calls/s divided by 10/s (target
>= 0.98). The first seconds include the limiter's ramp-up; the run lasts ``seconds``.

    python benchmarks/bench_end_to_end.py [seconds]
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _jobs_common import SEEDS, fresh_workspace, machine


def main(seconds: float = 60.0) -> None:
    from plotpalette.jobs import JobHandle, JobSpec, RunOptions
    from plotpalette.llm import make_backend
    from plotpalette.testing import BedrockEmulator

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "bench")
    ws = fresh_workspace("e2e")
    with BedrockEmulator(latency_median_s=0.2, rpm=600) as emu:
        settings = ws.settings.replace(
            backend="bedrock", region="us-east-1", bedrock_endpoint_url=emu.endpoint_url
        )
        backend = make_backend(settings)
        spec = JobSpec(
            template="bench_qa", seeds=SEEDS, records=100_000, budget_usd=50.0, backend="bedrock"
        )
        handle = JobHandle(ws, spec, backend=backend, options=RunOptions(concurrency=32)).start()
        time.sleep(seconds)
        handle.interrupt()
        result = handle.wait(120)
    calls = sum(1 for r in result.records() for s in r.steps.values() if not s.skipped)
    elapsed = result.elapsed_s  # includes the grace period after the interrupt
    rate = calls / elapsed
    print(f"machine: {machine()}")
    print(
        f"{calls} calls in {elapsed:.1f} s = {rate:.2f}/s against a 10/s quota -> "
        f"fraction {rate / 10:.3f} (target >= 0.98); state {result.state.value}"
    )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
