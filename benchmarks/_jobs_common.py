"""Shared set-up for the job-engine benchmarks (a two-step template in a fresh workspace)."""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path
from typing import Any

TWO_STEP = """
name: bench_qa
steps:
  - id: ask
    model: cheap
    prompt: "Write one question about {{ topic }}."
    max_tokens: 40
  - id: answer
    model: cheap
    prompt: "Answer briefly: {{ steps.ask.output }}"
    max_tokens: 60
output:
  question: "{{ steps.ask.output }}"
  answer: "{{ steps.answer.output }}"
"""
SEEDS = [{"topic": f"topic {i}"} for i in range(100)]


def machine() -> str:
    try:
        from _machine import machine_info  # type: ignore[import-not-found]

        info = machine_info()
        return info if isinstance(info, str) else ", ".join(f"{k}={v}" for k, v in info.items())
    except ImportError:
        import os

        return (
            f"{platform.platform()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cpus, "
            f"Python {platform.python_version()}"
        )


def fresh_workspace(name: str) -> Any:
    from plotpalette.templates import TemplateLibrary, parse_template
    from plotpalette.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix=f"pp-bench-{name}-"))
    ws = Workspace.open(root / "ws")
    TemplateLibrary(ws).save(parse_template(TWO_STEP))
    return ws


class TimedBackend:
    """Wraps a backend and measures the wall time spent inside ``generate``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.inside_s = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def generate(self, request: Any) -> Any:
        t = time.perf_counter()
        try:
            return await self.inner.generate(request)
        finally:
            self.inside_s += time.perf_counter() - t
            self.calls += 1
