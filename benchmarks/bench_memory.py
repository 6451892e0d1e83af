"""Memory: peak RSS while a 100,000-record job streams its records to shards.

Samples RSS every 0.5 s from a background thread and prints it at 10% steps of
progress; the peak should stay flat (records are not kept after their shard is written).
The backend is a minimal in-process fake that keeps nothing per call.

    python benchmarks/bench_memory.py [records]
"""

from __future__ import annotations

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))

from _jobs_common import SEEDS, fresh_workspace, machine


class LeanBackend:
    """Constant replies, no per-call history (InstantBackend records every request)."""

    name = "lean"

    def resolve_model(self, model):
        from plotpalette.llm import resolve_tier

        return resolve_tier(model)

    def max_input_tokens(self, request):
        return len(request.prompt_text) // 2 + 16

    def count_tokens(self, text, model):
        return len(text) // 4

    async def generate(self, request):
        from plotpalette.llm.base import ModelResponse, Usage

        return ModelResponse(
            text="A short reply about the topic.",
            stop_reason="end_turn",
            usage=Usage(12, 8),
            latency_ms=0.0,
            model=request.model,
        )

    def stats(self):
        return []


def main(records: int = 100_000) -> None:
    import psutil

    from plotpalette.jobs import JobSpec, RunOptions, run_job

    proc = psutil.Process()
    samples: list[tuple[int, float]] = []
    progress = {"settled": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((progress["settled"], proc.memory_info().rss / 2**20))
            time.sleep(0.5)

    def on_event(event) -> None:
        if event.kind == "progress":
            progress["settled"] = event.data["settled"]

    ws = fresh_workspace("memory")
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result = run_job(
        ws,
        JobSpec(template="bench_qa", seeds=SEEDS, records=records),
        backend=LeanBackend(),
        on_event=on_event,
        options=RunOptions(concurrency=64),
        handle_signals=False,
    )
    stop.set()
    thread.join()
    print(f"machine: {machine()}")
    print(f"state {result.state.value}, {result.records_ok} records in {result.elapsed_s:.1f} s")
    step = records // 10
    for target in range(step, records + 1, step):
        rss = max((m for s, m in samples if s <= target), default=0.0)
        print(f"  up to {target:>7} records: peak RSS {rss:7.1f} MiB")
    print(f"peak RSS overall {max(m for _, m in samples):.1f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
