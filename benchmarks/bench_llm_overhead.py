"""Client overhead: calls per second through boto3 against a zero-latency emulator.

The process (client and emulator threads) is pinned to one core with
``os.sched_setaffinity`` so the figure is per core. Three paths: a raw boto3
``converse`` loop, ``BedrockBackend.generate`` one at a time, and 8 concurrent.

Usage: python benchmarks/bench_llm_overhead.py [--calls 500]
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
from plotpalette.testing import BedrockEmulator

MODEL = "amazon.nova-micro-v1:0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    print_machine()
    with BedrockEmulator(output_tokens=50) as emu:
        settings = Settings(
            backend="bedrock",
            region="us-east-1",
            concurrency=8,
            bedrock_endpoint_url=emu.endpoint_url,
        )
        backend = make_backend(settings)
        client = backend.client
        messages = [{"role": "user", "content": [{"text": "Say something."}]}]
        client.converse(modelId=MODEL, messages=messages)  # warm up
        started = time.perf_counter()
        for _ in range(args.calls):
            client.converse(modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 64})
        raw = args.calls / (time.perf_counter() - started)

        async def sequential() -> float:
            t = time.perf_counter()
            for i in range(args.calls):
                await backend.generate(ModelRequest.from_prompt(MODEL, f"Say {i}.", max_tokens=64))
            return args.calls / (time.perf_counter() - t)

        async def concurrent() -> float:
            t = time.perf_counter()
            await asyncio.gather(
                *[
                    backend.generate(ModelRequest.from_prompt(MODEL, f"Say {i}.", max_tokens=64))
                    for i in range(args.calls)
                ]
            )
            return args.calls / (time.perf_counter() - t)

        seq = asyncio.run(sequential())
        conc = asyncio.run(concurrent())
    print(f"one core, zero-latency emulator, {args.calls} calls each:")
    print(f"  raw boto3 converse loop:           {raw:7.1f} calls/s")
    print(f"  BedrockBackend.generate, serial:   {seq:7.1f} calls/s")
    print(f"  BedrockBackend.generate, 8 at once:{conc:7.1f} calls/s")


if __name__ == "__main__":
    main()
