"""Seed loading speed: rows/s and MB/s per format, and memory of load vs. streaming scan.

Run: python benchmarks/bench_seeds_load.py [ROWS]   (default 200,000 rows, ~40 MB of JSONL)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def machine() -> str:
    try:
        from _machine import machine_info  # type: ignore[import-not-found]

        return str(machine_info())
    except ImportError:
        return f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    import pandas as pd

    records = [
        {
            "topic": f"topic {i} about the weather and the sea",
            "day": f"day {i % 7}",
            "author": {"name": f"Poet {i % 997}", "era": "modern"},
            "note": "NA" if i % 5 == 0 else "x" * (i % 40),
        }
        for i in range(rows)
    ]
    jsonl = folder / "seeds.jsonl"
    with open(jsonl, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    flat = pd.json_normalize(records)
    flat.to_csv(folder / "seeds.csv", index=False)
    flat.to_parquet(folder / "seeds.parquet", row_group_size=20_000)
    return {"jsonl": jsonl, "csv": folder / "seeds.csv", "parquet": folder / "seeds.parquet"}


def peak_mb(code: str) -> float:
    # tracemalloc in a fresh process: ru_maxrss would inherit the parent's peak across exec
    script = (
        "import tracemalloc; tracemalloc.start()\n"
        + code
        + "\nprint(tracemalloc.get_traced_memory()[1])"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1e6


def main() -> None:
    from plotpalette.seeds import load_seeds, scan_seeds

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), rows)
        hashes = set()
        for fmt, path in files.items():
            mb = path.stat().st_size / 1e6
            start = time.perf_counter()
            seeds = load_seeds(path)
            took = time.perf_counter() - start
            start = time.perf_counter()
            scan = scan_seeds(path)
            scan_took = time.perf_counter() - start
            hashes.add(seeds.sha256)
            assert scan.sha256 == seeds.sha256
            print(
                f"{fmt:8} {mb:7.1f} MB  load {took:6.2f} s ({rows / took:9,.0f} rows/s, "
                f"{mb / took:5.1f} MB/s)  scan {scan_took:6.2f} s"
            )
        print(f"same sha256 across formats: {len(hashes) == 1}")
        base = peak_mb("import plotpalette.seeds")
        jsonl = files["jsonl"]
        load_mb = peak_mb(f"from plotpalette.seeds import load_seeds; load_seeds({str(jsonl)!r})")
        scan_mb = peak_mb(f"from plotpalette.seeds import scan_seeds; scan_seeds({str(jsonl)!r})")
        print(
            f"peak Python heap (JSONL, {rows:,} rows): import only {base:.0f} MB, "
            f"load_seeds {load_mb:.0f} MB, scan_seeds {scan_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
