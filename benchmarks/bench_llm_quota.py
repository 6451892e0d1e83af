"""Quota saturation: how close BedrockBackend runs to a Bedrock quota, from process start.

The emulator (in this process) answers with 200 ms median latency under an RPM/TPM
quota. Each scenario runs in a fresh child process, and the clock starts when the child
is launched — imports, client construction and Region resolution count against the
throughput, as they do for a user. Each call uses ~100 input tokens and 200 output
tokens (maxTokens 256). The bound is min(RPM, TPM / quota tokens per call), with quota
tokens counted as AWS counts them (input + output × burndown).

Scenarios, each at concurrency 8 and 64:

* ``told``: rate_limits set to the true quota. Target >= 0.98 of the bound, < 1 % throttled.
* ``none``: no limits configured (adaptive discovery). Target >= 0.90.
* ``below``: the client is told twice the true quota. Target: 0 failed calls.

``--burndown`` repeats them on a Claude 4.5 model whose output tokens count 5× against
the TPM quota (the emulator counts burndown as Bedrock does).

``--sigterm`` measures the seconds from SIGTERM to exit of a ``plotpalette run`` worker
with 64 calls hung in flight (the service accepts calls and never answers).

Usage: python benchmarks/bench_llm_quota.py [--calls 400] [--burndown] [--sigterm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _machine import print_machine
from bench_llm_startup import AWS_ENV, run_command

from plotpalette.testing import BedrockEmulator

NOVA = "amazon.nova-micro-v1:0"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"  # 5x output burndown
RPM, OUT_TOKENS, MAX_TOKENS = 600, 200, 256
TPM = {NOVA: 150_000, HAIKU: 550_000}  # both bound at 500 calls/min


def prompt(i: int) -> str:
    words = " ".join(f"seed{i % 7} word" for _ in range(48))  # ~100 tokens with the index
    return f"Record {i}: {words} end"


async def child_run(config: dict) -> dict:
    """In the child: make ``calls`` calls and report what came back."""
    from plotpalette.config import Settings
    from plotpalette.llm import ModelRequest, make_backend
    from plotpalette.llm.capabilities import quota_usage

    model = config["model"]
    backend = make_backend(
        Settings(
            backend="bedrock",
            concurrency=config["concurrency"],
            bedrock_endpoint_url=config["endpoint"],
            rate_limits=config["rate_limits"],
        )
    )
    requests = [
        ModelRequest.from_prompt(model, prompt(i), max_tokens=MAX_TOKENS)
        for i in range(config["calls"])
    ]
    replies: list[float] = []  # when each call came back: calls/min over time

    async def call(request: ModelRequest) -> object:
        try:
            return await backend.generate(request)
        finally:
            replies.append(time.time())

    ready = time.time()  # imports and set-up done; the first call starts now
    results = await asyncio.gather(*[call(r) for r in requests], return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    used = [quota_usage(model, r.usage.input_tokens, r.usage.output_tokens) for r in ok]
    return {
        "finished": time.time(),
        "ready": ready,
        "ok": len(ok),
        "failed": len(results) - len(ok),
        "quota_tokens_per_call": sum(used) / max(1, len(used)),
        "errors": sorted({type(r).__name__ for r in results if isinstance(r, BaseException)}),
        "replies": sorted(replies),
    }


def scenario(model: str, name: str, concurrency: int, calls: int) -> dict:
    tpm = TPM[model]
    told = {
        "told": {"rpm": RPM, "tpm": tpm},
        "none": None,
        "below": {"rpm": 2 * RPM, "tpm": 2 * tpm},
    }
    limits = told[name]
    with BedrockEmulator(
        latency_median_s=0.2, latency_jitter=0.25, rpm=RPM, tpm=tpm, output_tokens=OUT_TOKENS
    ) as emulator:
        config = {
            "model": model,
            "calls": calls,
            "concurrency": concurrency,
            "endpoint": emulator.endpoint_url,
            "rate_limits": {model: limits} if limits else {},
        }
        env = {**os.environ, **AWS_ENV}
        started = time.time()
        done = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(config)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out = json.loads(done.stdout.strip().splitlines()[-1])
        counts = dict(emulator.counts)
    elapsed = out["finished"] - started
    bound = min(RPM, tpm / out["quota_tokens_per_call"])
    achieved = out["ok"] / (elapsed / 60)
    replies = out.pop("replies")
    # the middle 80 % of replies: the paced rate, without ramp-up and tail
    lo, hi = replies[len(replies) // 10], replies[len(replies) * 9 // 10]
    steady = (len(replies) * 9 // 10 - len(replies) // 10) / max(1e-9, (hi - lo) / 60)
    return {
        **out,
        "first_reply": replies[0] - out["ready"],
        "steady_fraction": steady / min(RPM, tpm / out["quota_tokens_per_call"]),
        "tail": out["finished"] - replies[-1],
        "seconds": elapsed,
        "startup": out["ready"] - started,
        "fraction_after_startup": out["ok"] / ((out["finished"] - out["ready"]) / 60) / bound,
        "bound": bound,
        "achieved": achieved,
        "fraction": achieved / bound,
        "throttled": counts.get("throttled", 0),
        "requests": counts.get("requests", 0),
    }


def sigterm_exit(hung: int = 64) -> tuple[float, int]:
    """Seconds from SIGTERM to exit of ``plotpalette run`` with ``hung`` calls in flight."""
    with BedrockEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        emulator.configure(failure_rate=1.0, failure_kinds=("hang",))
        emulator.script_failures([None, None])  # the pre-flight probes (two models) answer
        cmd, env = run_command(
            emulator, os.path.join(tmp, "ws"), "--records", "500", "--concurrency", str(hung)
        )
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while emulator.counts["hung"] < hung and time.time() < deadline:
            time.sleep(0.05)
        in_flight = emulator.counts["hung"]
        sent = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return time.perf_counter() - sent, in_flight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--burndown", action="store_true", help="also the 5x burndown model")
    parser.add_argument("--sigterm", action="store_true", help="also time SIGTERM to exit")
    parser.add_argument("--only-sigterm", action="store_true")
    parser.add_argument("--scenarios", default="told,none,below", help="comma-separated")
    parser.add_argument("--concurrency", default="8,64", help="comma-separated")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child_run(json.loads(args.child)))))
        return
    print_machine()
    print(f"load average at start: {os.getloadavg()}")
    models = [NOVA, HAIKU] if args.burndown else [NOVA]
    targets = {"told": ">=0.98, <1% throttled", "none": ">=0.90", "below": "0 failed"}
    for model in [] if args.only_sigterm else models:
        print(f"model {model}: quota {RPM} RPM / {TPM[model]} TPM, {args.calls} calls each")
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            for name in args.scenarios.split(","):
                r = scenario(model, name, concurrency, args.calls)
                print(
                    f"  c={concurrency:<3} {name:5s}: {r['ok']} ok / {r['failed']} failed in "
                    f"{r['seconds']:.1f} s from process start; {r['achieved']:.1f}/min of bound "
                    f"{r['bound']:.1f}/min = {r['fraction']:.3f}; throttled "
                    f"{r['throttled']}/{r['requests']} = "
                    f"{r['throttled'] / max(1, r['requests']):.2%} (target {targets[name]}); "
                    f"start-up {r['startup']:.1f} s, after it {r['fraction_after_startup']:.3f}",
                    flush=True,
                )
                print(
                    f"        where the time went: start-up {r['startup']:.2f} s, first reply "
                    f"+{r['first_reply']:.2f} s, middle 80 % of replies at "
                    f"{r['steady_fraction']:.3f} of the bound, last reply to exit "
                    f"{r['tail']:.2f} s",
                    flush=True,
                )
    if args.sigterm or args.only_sigterm:
        seconds, hung = sigterm_exit()
        print(f"SIGTERM -> exit with {hung} calls hung in flight: {seconds:.1f} s")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
