"""Template engine figures: compile time, render throughput, preview, attack rejection.

python benchmarks/bench_templates.py
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine

from plotpalette.samples import sample_rows
from plotpalette.templates import Renderer, builtin_templates, preview, render_string


def per_call(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    print_machine()
    rows = sample_rows()
    tpl = builtin_templates()["question_answer"]
    compile_s = per_call(lambda: Renderer(tpl), 50)
    print(f"compile question_answer (2 steps, 5 columns): {compile_s * 1e3:.2f} ms")

    r = Renderer(tpl)

    def record(i: int = 0) -> None:
        ctx = r.context(rows[i % len(rows)], record_index=i, rng_seed=1)
        for step in tpl.steps:
            r.render_step(step.id, ctx)
            r.record_step_output(ctx, step.id, "output text")
        r.map_output(ctx)

    n = 2000
    start = time.perf_counter()
    for i in range(n):
        record(i)
    elapsed = time.perf_counter() - start
    print(
        f"render question_answer: {n / elapsed:,.0f} records/s "
        f"({elapsed / n * 1e6:.0f} µs per record: 2 prompts + 5 columns)"
    )

    start = time.perf_counter()
    preview(tpl, rows[:10], records=1000)
    print(f"preview 10 rows (no backend): {(time.perf_counter() - start) * 1e3:.0f} ms")

    attacks = {
        "'a' * 10**9": "{{ 'a' * 10**9 }}",
        "range(10**9) loop": "{% for i in range(10**9) %}x{% endfor %}",
        "nested 10k x 10k loops": "{% for i in range(10000) %}{% for j in range(10000) %}"
        "{% endfor %}{% endfor %}",
        "recursive macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "string doubling": "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    }
    for label, text in attacks.items():
        times = []
        for _ in range(5):
            start = time.perf_counter()
            with contextlib.suppress(Exception):
                render_string(text)
            times.append(time.perf_counter() - start)
        print(f"rejected {label:24} in {statistics.median(times) * 1e3:.1f} ms (median of 5)")


if __name__ == "__main__":
    main()
