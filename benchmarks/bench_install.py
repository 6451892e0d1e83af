"""Install size and time: wheel size, install time with and without the local-model
extra, and the time ``import plotpalette`` takes.

    .venv/bin/python benchmarks/bench_install.py            # warm pip cache
    .venv/bin/python benchmarks/bench_install.py --compile  # + llama-cpp-python from source

Builds the wheel with ``scripts/build_dist.py`` (with the guide if the book is built,
else without, and says which), installs it into fresh venvs with this machine's pip
cache (so downloads are mostly cache hits: a first install on a new machine is slower)
and prints figures plus the machine and load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import print_machine

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t0


def install(tmp: Path, name: str, requirement: str, *extra: str) -> tuple[float, Path]:
    venv = tmp / name
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    seconds = timed([str(venv / "bin" / "pip"), "install", "-q", *extra, requirement])
    return seconds, venv / "bin" / "python"


def import_time(python: Path, runs: int = 7) -> tuple[float, float]:
    """Median seconds for `import plotpalette` and for a bare interpreter start."""

    def median(code: str) -> float:
        return statistics.median(timed([str(python), "-c", code]) for _ in range(runs))

    return median("import plotpalette"), median("pass")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--compile", action="store_true", help="also time llama-cpp-python's build")
    args = ap.parse_args()
    print_machine()
    print(f"load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        guide = (ROOT / "book" / "_build" / "html" / "index.html").is_file()
        cmd = [sys.executable, str(ROOT / "scripts" / "build_dist.py"), "--outdir", str(tmp)]
        build = timed(cmd + ([] if guide else ["--without-guide"]) + ["--no-isolation"])
        (wheel,) = tmp.glob("*.whl")
        (sdist,) = tmp.glob("*.tar.gz")
        print(f"build (sdist + wheel): {build:.1f} s")
        print(
            f"wheel: {wheel.name} {wheel.stat().st_size / 1e6:.2f} MB "
            f"({'with' if guide else 'without'} the built guide)"
        )
        print(f"sdist: {sdist.stat().st_size / 1e6:.2f} MB")

        core, python = install(tmp, "core", str(wheel))
        print(f"install, core only (warm pip cache): {core:.1f} s")
        imp, bare = import_time(python)
        print(
            f"import plotpalette: {imp * 1000:.0f} ms median "
            f"(interpreter start alone {bare * 1000:.0f} ms)"
        )
        local, _ = install(tmp, "local", f"{wheel}[local]")
        print(f"install with [local] (llama-cpp-python from pip's wheel cache): {local:.1f} s")
        if args.compile:
            seconds, _ = install(
                tmp,
                "compile",
                f"{wheel}[local]",
                "--no-cache-dir",
                "--no-binary",
                "llama-cpp-python",
            )
            print(f"install with [local], llama-cpp-python compiled from source: {seconds:.1f} s")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
