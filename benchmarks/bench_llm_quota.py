"""Quota saturation: how close BedrockBackend runs to a Bedrock quota without tripping it.

The emulator answers with 200 ms median latency under a 600 RPM / 150k TPM quota.
Each call uses ~300 tokens (100 in, 200 out; maxTokens 256), so the quota bound is
min(600, 150000 / 300) = 500 calls/min. Two modes:

* ``limits``: rate_limits set to the quota. Target: >= 0.98 of the bound, < 1 % throttled.
* ``discovery``: no limits; adaptive concurrency/rate must find the quota. Target: >= 0.90.

Usage: python benchmarks/bench_llm_quota.py [--calls 1000] [--mode limits|discovery|both]
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
from plotpalette.llm.tokens import approx_tokens
from plotpalette.testing import BedrockEmulator

MODEL = "amazon.nova-micro-v1:0"
RPM, TPM, OUT_TOKENS, MAX_TOKENS = 600, 150_000, 200, 256


def prompt(i: int) -> str:
    words = " ".join(f"seed{i % 7} word" for _ in range(48))  # ~100 tokens with the index
    return f"Record {i}: {words} end"


async def run(emulator: BedrockEmulator, calls: int, limits: bool) -> dict[str, float]:
    rate_limits = {MODEL: {"rpm": RPM, "tpm": TPM}} if limits else {}
    backend = make_backend(
        Settings(
            backend="bedrock",
            region="us-east-1",
            concurrency=16,
            bedrock_endpoint_url=emulator.endpoint_url,
            rate_limits=rate_limits,
        )
    )
    requests = [
        ModelRequest.from_prompt(MODEL, prompt(i), max_tokens=MAX_TOKENS) for i in range(calls)
    ]
    started = time.perf_counter()
    responses = await asyncio.gather(*[backend.generate(r) for r in requests])
    elapsed = time.perf_counter() - started
    tokens = sum(r.usage.input_tokens + r.usage.output_tokens for r in responses) / calls
    bound = min(RPM, TPM / tokens)
    achieved = calls / (elapsed / 60)
    counts = emulator.counts
    return {
        "calls": calls,
        "seconds": elapsed,
        "tokens_per_call": tokens,
        "bound_per_min": bound,
        "achieved_per_min": achieved,
        "fraction": achieved / bound,
        "throttled_fraction": counts["throttled"] / max(1, counts["requests"]),
        "throttled": counts["throttled"],
        "requests": counts["requests"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--mode", choices=("limits", "discovery", "both"), default="both")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    print_machine()
    print(
        f"emulator: 200 ms median latency, quota {RPM} RPM / {TPM} TPM; "
        f"prompt ~{approx_tokens(prompt(0))} tokens, {OUT_TOKENS} out"
    )
    modes = ["limits", "discovery"] if args.mode == "both" else [args.mode]
    for mode in modes:
        with BedrockEmulator(
            latency_median_s=0.2, latency_jitter=0.25, rpm=RPM, tpm=TPM, output_tokens=OUT_TOKENS
        ) as emulator:
            r = asyncio.run(run(emulator, args.calls, limits=(mode == "limits")))
        target = "target >=0.98, <1% throttled" if mode == "limits" else "target >=0.90"
        print(
            f"{mode:9s}: {r['calls']} calls in {r['seconds']:.1f} s, "
            f"{r['achieved_per_min']:.1f}/min of bound {r['bound_per_min']:.1f}/min "
            f"= {r['fraction']:.3f}; throttled {r['throttled']}/{r['requests']} "
            f"= {r['throttled_fraction']:.2%} ({target})"
        )


if __name__ == "__main__":
    main()
