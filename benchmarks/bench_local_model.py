"""The embedded model's speed: output tokens per second and records per minute.

A "record" here is one call with a short prompt and max_tokens 64 (a typical
one-step template on the local backend). Usage:
python benchmarks/bench_local_model.py [--records 8] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _machine import print_machine

from plotpalette.config import Settings
from plotpalette.llm import ModelRequest, make_backend
from plotpalette.llm.local import load_local_model

TOPICS = [
    "the sea",
    "a mountain",
    "autumn",
    "a city at night",
    "rain",
    "a garden",
    "the moon",
    "a train journey",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    print_machine()
    t = time.perf_counter()
    load_local_model()
    load_s = time.perf_counter() - t
    backend = make_backend(Settings(backend="local"))

    async def run() -> list:
        return [
            await backend.generate(
                ModelRequest.from_prompt(
                    "cheap",
                    f"Write a short poem about {TOPICS[i % len(TOPICS)]}.",
                    max_tokens=args.max_tokens,
                    seed=i,
                    temperature=0.7,
                )
            )
            for i in range(args.records)
        ]

    t = time.perf_counter()
    responses = asyncio.run(run())
    elapsed = time.perf_counter() - t
    out_tokens = sum(r.usage.output_tokens for r in responses)
    in_tokens = sum(r.usage.input_tokens for r in responses)
    print(
        f"model load {load_s:.2f} s; {args.records} records, {in_tokens} input + "
        f"{out_tokens} output tokens in {elapsed:.1f} s"
    )
    print(f"  output tokens/s: {out_tokens / elapsed:.1f}")
    print(f"  records/min:     {args.records / (elapsed / 60):.1f}")


if __name__ == "__main__":
    main()
