"""Regex filters on crafted seed values: time per filter as the value doubles.

Linear work doubles with the input; quadratic work quadruples. Each filter gets the
worst of several hostile shapes (runs of openers with no closer, newline floods, ...).

python benchmarks/bench_filters_linear.py [max_megabytes]   (default 4)
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine

from plotpalette.errors import PlotPaletteError
from plotpalette.templates import render_string

SHAPES = {
    "[": "[",
    "![": "![",
    "](": "](",
    "*": "*",
    " *a": " *a",
    "_": "_",
    "`": "`",
    "\\n": "\n",
    "<": "<",
    '."': '."',
    "%(": "%(",
}
FILTERS = [
    "strip_markdown|length",
    "sentences|length",
    "keywords|length",
    "random_word|length",
    "token_count",
    "format('x')|length",
]


def worst(expr: str, size: int) -> tuple[float, str]:
    slowest, name = 0.0, ""
    for label, unit in SHAPES.items():
        value = unit * (size // len(unit))
        start = time.perf_counter()
        # an invalid format string, say: the time taken to say so is what counts
        with contextlib.suppress(PlotPaletteError):
            render_string("{{ v|" + expr + " }}", {"v": value})
        took = time.perf_counter() - start
        if took > slowest:
            slowest, name = took, label
    return slowest, name


def main() -> None:
    print_machine()
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    sizes = [top * 2**20 // 4, top * 2**20 // 2, top * 2**20]
    print("worst time over the shapes, per value size (ratio to the previous size)")
    for expr in FILTERS:
        cells, previous = [], None
        for size in sizes:
            took, shape = worst(expr, size)
            ratio = f" x{took / previous:.1f}" if previous else ""
            cells.append(f"{size / 2**20:.0f} MiB {took:.2f}s{ratio} ({shape!r})")
            previous = took
        print(f"{expr:24} " + " | ".join(cells))


if __name__ == "__main__":
    main()
