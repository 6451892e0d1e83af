"""Start-up: seconds from launching ``plotpalette run`` to its first Bedrock request.

A real ``plotpalette run --backend bedrock`` process against the Bedrock emulator (in
this process). Two figures, from process launch: the first request (the pre-flight
probe of the step's model) and the first billed record call. Target: < 0.5 s to the
first request on an idle machine. Runs ``--repeat`` times and reports the median.

Usage: python benchmarks/bench_llm_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _machine import print_machine

from plotpalette.testing import BedrockEmulator

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def run_command(emulator: BedrockEmulator, workspace: str, *extra: str) -> tuple[list, dict]:
    """``plotpalette run`` of the built-in question_answer template on Bedrock, aimed at
    ``emulator``: the command line and its environment."""
    env = {**os.environ, **AWS_ENV, "PLOTPALETTE_BEDROCK_ENDPOINT_URL": emulator.endpoint_url}
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "plotpalette"),
        "--workspace",
        workspace,
        "run",
        "--template",
        "question_answer",
        "--seeds",
        "sample:poetry",
        "--backend",
        "bedrock",
        *extra,
    ]
    return cmd, env


TRACE = os.path.join(os.path.dirname(__file__), "_startup_trace.py")


def one_run(
    emulator: BedrockEmulator, workspace: str, marks: str | None = None
) -> tuple[float, float]:
    emulator.requests.clear()
    cmd, env = run_command(emulator, workspace, "--records", "2")
    if marks:  # the same command, with timestamps at its stages
        cmd = [sys.executable, TRACE, marks, *cmd[1:]]
    launched = time.time()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = billed = None
    while proc.poll() is None or (billed is None and len(emulator.requests) > 1):
        now = time.perf_counter() - started
        if first is None and emulator.requests:
            first = now
        if billed is None and any(
            (r.get("inferenceConfig") or {}).get("maxTokens", 0) > 1 for r in emulator.requests
        ):
            billed = now
            break
        time.sleep(0.002)
    proc.wait()
    if first is None or billed is None:
        raise SystemExit(f"no request seen: {proc.stderr.read().decode()[-2000:]}")
    if marks:
        stages = json.loads(Path(marks).read_text())
        stages = {k: v - launched for k, v in stages.items()}
        stages["first request"], stages["first billed call"] = first, billed
        Path(marks).write_text(json.dumps(stages))
    return first, billed


def breakdown(emulator: BedrockEmulator, tmp: str, repeat: int) -> list[tuple[str, float]]:
    """Median seconds from launch to each stage over ``repeat`` traced runs."""
    runs = []
    for i in range(repeat):
        marks = os.path.join(tmp, f"marks{i}.json")
        one_run(emulator, os.path.join(tmp, f"traced{i}"), marks)
        runs.append(json.loads(Path(marks).read_text()))
    names = set().union(*runs)
    medians = [(n, statistics.median(r[n] for r in runs if n in r)) for n in names]
    return sorted(medians, key=lambda item: item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print_machine()
    print(f"load average at start: {os.getloadavg()}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # with no .pyc files, every run compiles the package from source (~0.1-0.3 s)
        print("note: PYTHONDONTWRITEBYTECODE is set; run `python -m compileall plotpalette` first")
    with BedrockEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        runs = [one_run(emulator, os.path.join(tmp, f"ws{i}")) for i in range(args.repeat)]
        stages = breakdown(emulator, tmp, args.repeat)
    firsts = [r[0] for r in runs]
    billed = [r[1] for r in runs]
    print(f"runs: {args.repeat}")
    print(
        f"first request (pre-flight probe): median {statistics.median(firsts):.3f} s, "
        f"min {min(firsts):.3f} s"
    )
    print(
        f"first billed record call:         median {statistics.median(billed):.3f} s, "
        f"min {min(billed):.3f} s"
    )
    print("breakdown (traced runs, median seconds from launch; gap = since previous stage):")
    previous = 0.0
    for name, at in stages:
        print(f"  {at:6.3f} s  (+{at - previous:.3f})  {name}")
        previous = at
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
