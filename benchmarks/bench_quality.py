"""Quality benchmarks: near-duplicate detection at scale, and judge throughput.

``dedup``: ``find_duplicates`` (datasketch MinHash + LSH banding) over N generated
records of ~50 words (a 20,000-word vocabulary; 2 % planted edited copies), in a fresh
child process pinned to one core that reports its wall time and peak RSS
(``ru_maxrss``). Texts are generated on the fly, so memory is what detection keeps;
the time of generating the texts alone is measured too and subtracted. Targets:
100,000 records under 60 s on one core; 1,000,000 under 1 GB.

``judge``: a judge job through boto3 and the Bedrock emulator (200 ms latency, 600
requests/minute quota) for ``seconds``: achieved calls/s divided by 10/s, the same
saturation target as jobs (>= 0.98).

    .venv/bin/python benchmarks/bench_quality.py dedup --records 100000 1000000
    .venv/bin/python benchmarks/bench_quality.py judge --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))

from _jobs_common import fresh_workspace, machine

VOCAB_SIZE = 20_000
WORDS_PER_TEXT = 50


def _texts(n: int, seed: int = 0):
    rng = random.Random(seed)
    vocab = [f"w{i:05d}" for i in range(VOCAB_SIZE)]
    recent: list[str] = []
    for i in range(n):
        if recent and rng.random() < 0.02:  # an edited copy of a recent text
            words = rng.choice(recent).split()
            for _ in range(3):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            text = " ".join(words)
        else:
            text = " ".join(rng.choices(vocab, k=WORDS_PER_TEXT))
        if i % 50 == 0:
            recent = [*recent[-99:], text]
        yield i, text


def _child(n: int, generate_only: bool) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    from plotpalette.quality import find_duplicates

    start = time.perf_counter()
    if generate_only:
        count = sum(1 for _ in _texts(n))
        found = {"texts": count}
    else:
        dups = find_duplicates(_texts(n))
        found = {"duplicates": len(dups.duplicates), "exact": len(dups.exact_of)}
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, **found}))


def _run_child(n: int, generate_only: bool) -> dict:
    cmd = [sys.executable, __file__, "_child", str(n)] + (
        ["--generate-only"] if generate_only else []
    )
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def dedup(sizes: list[int]) -> None:
    print(f"machine: {machine()}")
    print(f"load average before: {os.getloadavg()}")
    for n in sizes:
        gen = _run_child(n, True)
        run = _run_child(n, False)
        detect = run["seconds"] - gen["seconds"]
        print(
            f"{n:>9,} records: find_duplicates {run['seconds']:.1f} s total, "
            f"{detect:.1f} s without text generation ({gen['seconds']:.1f} s); "
            f"peak RSS {run['peak_mb']:.0f} MB (generation alone {gen['peak_mb']:.0f} MB); "
            f"{run['duplicates']:,} duplicates ({run['exact']:,} exact)"
        )
    print(f"load average after: {os.getloadavg()}")


def judge_throughput(seconds: float, records: int) -> None:
    from plotpalette.jobs import JobControls, JobSpec, RunOptions, run_job
    from plotpalette.llm import make_backend
    from plotpalette.quality import judge
    from plotpalette.testing import BedrockEmulator, InstantBackend, topic_seeds

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "bench")
    ws = fresh_workspace("judge")
    source = run_job(
        ws,
        JobSpec(template="bench_qa", seeds=topic_seeds(records), records=records),
        backend=InstantBackend(),
    ).job_id
    with BedrockEmulator(latency_median_s=0.2, rpm=600) as emu:
        settings = ws.settings.replace(
            backend="bedrock", region="us-east-1", bedrock_endpoint_url=emu.endpoint_url
        )
        controls = JobControls()
        timer = threading.Timer(seconds, controls.interrupt, args=("benchmark time is up",))
        timer.start()
        run = judge(
            ws,
            source,
            budget_usd=50.0,
            backend=make_backend(settings),
            controls=controls,
            options=RunOptions(concurrency=32),
        )
        timer.cancel()
    result = run.result
    calls = sum(1 for r in result.records() for s in r.steps.values() if not s.skipped)
    rate = calls / result.elapsed_s
    print(f"machine: {machine()}")
    print(f"load average: {os.getloadavg()}")
    print(
        f"judge: {calls} calls in {result.elapsed_s:.1f} s = {rate:.2f}/s against a 10/s "
        f"quota -> fraction {rate / 10:.3f} (target >= 0.98); state {result.state.value}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    d = sub.add_parser("dedup")
    d.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    j = sub.add_parser("judge")
    j.add_argument("--seconds", type=float, default=60.0)
    j.add_argument("--records", type=int, default=2_000, help="records available to judge")
    c = sub.add_parser("_child")
    c.add_argument("n", type=int)
    c.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    if args.what == "dedup":
        dedup(args.records)
    elif args.what == "judge":
        judge_throughput(args.seconds, args.records)
    else:
        _child(args.n, args.generate_only)


if __name__ == "__main__":
    main()
