"""Shared set-up for the job-engine benchmarks (a two-step template in a fresh workspace)."""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from plotpalette.testing import topic_seeds

TEMPLATE_NAME = "bench_qa"
SEEDS = topic_seeds(100)


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
    """A new workspace in a temp folder with the two-step ``bench_qa`` template saved."""
    from plotpalette.testing import qa_template, workspace_with_template

    root = Path(tempfile.mkdtemp(prefix=f"pp-bench-{name}-"))
    return workspace_with_template(root / "ws", qa_template(TEMPLATE_NAME))


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
