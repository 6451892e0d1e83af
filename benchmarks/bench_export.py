"""Export a large job to Parquet and CSV: seconds and peak memory.

Generates ``--records`` synthetic records (default 1,000,000, about 1 GB of shards) with
the job engine's own shard writer in a throw-away workspace, registers the job, then
runs ``export_job`` once per format, each in a fresh child process that reports its own
peak RSS (``ru_maxrss``), so one measurement never inflates the next. Target: peak RSS
under 500 MB whatever the job size (exports stream; only a batch is in memory).

    /work/venv/bin/python benchmarks/bench_export.py               # the full 1M run
    /work/venv/bin/python benchmarks/bench_export.py --records 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOB_ID = "bench-export"
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "poets",
    "argue",
    "about",
    "rhyme",
    "meter",
    "light",
    "shadow",
    "river",
    "stone",
    "memory",
    "winter",
    "harvest",
]


def _machine() -> dict[str, object]:
    try:
        sys.path.insert(0, str(Path(__file__).parent))
        from _machine import machine_info  # type: ignore[import-not-found]

        return dict(machine_info())
    except ImportError:
        return {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def generate(root: Path, records: int, per_shard: int) -> tuple[float, int]:
    """Write the synthetic job; returns (seconds, shard bytes)."""
    from plotpalette import Workspace, layout
    from plotpalette.jobs import JobSpec, open_registry
    from plotpalette.jobs.shards import ShardWriter
    from plotpalette.records import Record, StepResult
    from plotpalette.templates.library import TemplateLibrary

    start = time.perf_counter()
    ws = Workspace.open(root)
    spec = JobSpec(template="question_answer@1", seeds="0" * 64, records=records).to_dict()
    template = TemplateLibrary(ws).get("question_answer@1")
    ws.store.create(layout.template_snapshot_key(JOB_ID), template.to_yaml().encode())
    registry = open_registry(ws)
    registry.create_job(
        JOB_ID, spec=spec, fingerprint="bench", template="question_answer@1", records_total=records
    )
    registry.close()
    rng = random.Random(7)
    writer = ShardWriter(ws.store, JOB_ID, "bench")
    for i in range(records):
        question, answer = _text(rng, 10), _text(rng, 22)
        writer.add(
            Record(
                job_id=JOB_ID,
                index=i,
                seed_index=i % 500,
                status="ok" if i % 20 else "filtered",
                outputs={"question": question, "answer": answer, "category": WORDS[i % 7]},
                steps={
                    "ask": StepResult(
                        model="anthropic.claude-3-haiku-20240307-v1:0",
                        output=question,
                        input_tokens=60,
                        output_tokens=40,
                        latency_ms=310.0,
                        stop_reason="end_turn",
                        cost_usd=6.5e-05,
                    ),
                    "answer": StepResult(
                        model="anthropic.claude-3-haiku-20240307-v1:0",
                        output=answer,
                        input_tokens=90,
                        output_tokens=95,
                        latency_ms=820.0,
                        stop_reason="end_turn",
                        cost_usd=1.4e-04,
                    ),
                },
                prompts={
                    "ask": {"system": None, "prompt": f"Write a question about {i}."},
                    "answer": {"system": "Be brief.", "prompt": f"Answer: {question[:80]}"},
                },
                flags=["truncated"] if i % 97 == 0 else [],
                cost_usd=2.05e-04,
                finished_at=f"2026-11-{1 + i * 3 // records:02d}T10:00:00Z",
            )
        )
        if writer.pending >= per_shard:
            writer.flush()
    writer.flush()
    return time.perf_counter() - start, writer.bytes_written


def child(root: str, fmt: str, dest: str) -> None:
    """Run one export and print its figures as JSON (runs in its own process)."""
    from plotpalette import Workspace
    from plotpalette.export import export_job

    start = time.perf_counter()
    result = export_job(Workspace.open(root), JOB_ID, dest, format=fmt, shard_size=250_000)
    seconds = time.perf_counter() - start
    size = sum(Path(f).stat().st_size for f in result.files)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "format": fmt,
                "seconds": seconds,
                "rows": result.rows,
                "files": len(result.files),
                "bytes": size,
                "peak_rss_mb": peak_kb / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--per-shard", type=int, default=5000, help="records per job shard")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--keep", action="store_true", help="keep the temp workspace")
    parser.add_argument(
        "--child", nargs=3, metavar=("ROOT", "FORMAT", "DEST"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print("machine:", json.dumps(_machine()))
    tmp = Path(tempfile.mkdtemp(prefix="pp-bench-export-"))
    try:
        seconds, size = generate(tmp / "ws", args.records, args.per_shard)
        print(
            f"generated {args.records:,} records, {size / 1e6:,.0f} MB of shards in {seconds:.1f} s"
        )
        for fmt in args.formats.split(","):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(tmp / "ws"),
                    fmt,
                    str(tmp / f"out-{fmt}"),
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                sys.exit(f"{fmt} export failed:\n{out.stderr}")
            fig = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{fmt:8s} {fig['rows']:>10,} rows  {fig['seconds']:7.1f} s  "
                f"{fig['rows'] / fig['seconds']:>9,.0f} rows/s  "
                f"{fig['bytes'] / 1e6:7,.0f} MB in {fig['files']} file(s)  "
                f"peak RSS {fig['peak_rss_mb']:6.0f} MB "
                f"({'under' if fig['peak_rss_mb'] < 500 else 'OVER'} the 500 MB target)"
            )
    finally:
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
