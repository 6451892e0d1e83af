"""The embedded model's speed: records per minute of the README's main job, and tokens/s.

``--job`` (the default) runs the README's main job on the local backend: the built-in
two-step ``question_answer`` template over ``sample:poetry`` in a fresh workspace, through
``run_job`` (the whole engine: rendering, token counting, budget, shards). ``--calls``
times single chat calls instead (a short prompt, ``--max-tokens`` out).

The machine is often shared: the load average before and after is printed with the
figures, and CPU seconds per record (which move far less with the load than wall time);
compare configurations back to back, alternating. Output lengths vary from run to run
when calls are decoded together (see :mod:`plotpalette.llm.local_batch`), so average
several runs. Knobs (environment variables read by :mod:`plotpalette.llm.local_speed`):
``PLOTPALETTE_LOCAL_DECODERS`` (llama.cpp contexts, one per core by default),
``PLOTPALETTE_LOCAL_BATCH`` (calls decoded together), ``PLOTPALETTE_LLAMA_THREADS``,
``PLOTPALETTE_LLAMA_DECODE_THREADS``, ``PLOTPALETTE_LLAMA_EXTRA_BUFFERS`` (``0``/``1``),
``PLOTPALETTE_LOCAL_QUANT``.

    python benchmarks/bench_local_model.py [--records 6] [--calls] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _machine import print_machine

from plotpalette.config import Settings
from plotpalette.llm import ModelRequest, make_backend
from plotpalette.llm.local import load_local_model, runtime_settings

TOPICS = ["the sea", "a mountain", "autumn", "a city at night", "rain", "a garden"]


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_job(records: int) -> None:
    import plotpalette as pp

    root = Path(tempfile.mkdtemp(prefix="pp-bench-local-"))
    ws = pp.Workspace.open(root / "ws")
    ws = pp.Workspace(ws.store, ws.settings.replace(backend="local"))
    spec = pp.JobSpec(
        template="question_answer",
        seeds=pp.sample_seeds("poetry"),
        records=records,
        budget_usd=0.50,
        backend="local",
    )
    pp.preview("question_answer", spec.seeds.rows[:1])  # imports and template checks: once
    t, cpu = time.perf_counter(), time.process_time()
    result = pp.run_job(ws, spec)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    rows = list(result.records())
    out_tokens = sum(s.output_tokens for r in rows for s in r.steps.values())
    in_tokens = sum(s.input_tokens for r in rows for s in r.steps.values())
    ok = sum(1 for r in rows if r.status == "ok")
    print(
        f"README job: {ok}/{records} records ok ({result.state.value}), "
        f"{in_tokens} prompt + {out_tokens} output tokens in {elapsed:.1f} s"
    )
    print(f"  records/min:     {len(rows) / (elapsed / 60):.2f}")
    print(f"  output tokens/s: {out_tokens / elapsed:.1f}")
    # CPU time moves far less with the load than wall time does: compare it on a busy machine
    print(f"  CPU s/record:    {cpu / len(rows):.2f} (all threads; {cpu / elapsed:.2f} cores busy)")


def bench_calls(records: int, max_tokens: int) -> None:
    backend = make_backend(Settings(backend="local"))

    async def one(i: int):  # type: ignore[no-untyped-def]
        request = ModelRequest.from_prompt(
            "cheap",
            f"Write a short poem about {TOPICS[i % len(TOPICS)]}.",
            max_tokens=max_tokens,
            seed=i,
            temperature=0.7,
        )
        return await backend.generate(request)

    async def run() -> list:
        return await asyncio.gather(*(one(i) for i in range(records)))

    t = time.perf_counter()
    responses = asyncio.run(run())
    elapsed = time.perf_counter() - t
    out_tokens = sum(r.usage.output_tokens for r in responses)
    print(f"{records} calls, {out_tokens} output tokens in {elapsed:.1f} s")
    print(f"  output tokens/s: {out_tokens / elapsed:.1f}")
    print(f"  calls/min:       {records / (elapsed / 60):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=6)
    parser.add_argument("--calls", action="store_true", help="time single calls, not the job")
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    print_machine()
    print(f"before: {_load()}")
    t = time.perf_counter()
    load_local_model()
    print(f"model load {time.perf_counter() - t:.2f} s; {runtime_settings()}")
    if args.calls:
        bench_calls(args.records, args.max_tokens)
    else:
        bench_job(args.records)
    print(f"after:  {_load()}")


if __name__ == "__main__":
    main()
