"""Shipped fixtures for job tests, benchmarks and docs (test doubles, not production code).

* :func:`qa_template` — the YAML of a small question/answer template (one or two steps).
* :func:`topic_seeds` — seed rows ``{"topic": ...}`` for it.
* :func:`workspace_with_template` — a workspace with such a template saved.
* :func:`worker_command` / :func:`wait_until_running` — run a job in a worker subprocess
  on :class:`~plotpalette.testing.InstantBackend` (kill tests, pause across processes).
* :func:`until` — poll a condition (a job's progress, a widget's value) with a timeout.

>>> ws = workspace_with_template(tmp_path / "ws", qa_template("qa"))   # doctest: +SKIP
>>> run_job(ws, JobSpec(template="qa", seeds=topic_seeds(7), records=20),
...         backend=InstantBackend())                                  # doctest: +SKIP
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "qa_template",
    "topic_seeds",
    "until",
    "wait_until_running",
    "worker_command",
    "workspace_with_template",
]


def qa_template(
    name: str = "qa_two_step",
    *,
    steps: int = 2,
    fallback: Sequence[str] = (),
    max_tokens: tuple[int, int] = (40, 60),
    output: bool = True,
) -> str:
    """A template asking a question about ``{{ topic }}`` (step ``ask``) and, with
    ``steps=2``, answering it (step ``answer``, with ``fallback`` models); both on the
    ``cheap`` tier. ``output`` adds the ``question``/``answer`` output mapping."""
    if steps not in (1, 2):
        raise ValueError(f"steps must be 1 or 2, got {steps}")
    lines = [
        f"name: {name}",
        "steps:",
        "  - id: ask",
        "    model: cheap",
        '    prompt: "Write one question about {{ topic }}."',
        f"    max_tokens: {max_tokens[0]}",
    ]
    if steps == 2:
        lines += [
            "  - id: answer",
            "    model: cheap",
            *([f"    fallback: [{', '.join(fallback)}]"] if fallback else []),
            '    prompt: "Answer briefly: {{ steps.ask.output }}"',
            f"    max_tokens: {max_tokens[1]}",
        ]
    if output:
        lines += ["output:", '  question: "{{ steps.ask.output }}"']
        if steps == 2:
            lines.append('  answer: "{{ steps.answer.output }}"')
    return "\n".join(lines) + "\n"


def topic_seeds(n: int, prefix: str = "topic ") -> list[dict[str, str]]:
    """``n`` seed rows ``{"topic": f"{prefix}{i}"}``."""
    return [{"topic": f"{prefix}{i}"} for i in range(n)]


def workspace_with_template(root: str | Path, template: str | None = None) -> Any:
    """Open (create) a workspace at ``root`` and save ``template`` (default
    :func:`qa_template`) in its library; returns the Workspace."""
    from ..templates.library import TemplateLibrary
    from ..workspace import Workspace

    ws = Workspace.open(str(root))
    TemplateLibrary(ws).save(template if template is not None else qa_template())
    return ws


def worker_command(
    workspace: Any,
    job_id: str,
    *,
    latency: float = 0.0,
    concurrency: int = 4,
    flush_seconds: float = 1.0,
    flush_records: int | None = None,
    grace: float | None = None,
) -> list[str]:
    """The argv of ``python -m plotpalette.testing.worker`` running ``job_id`` on the
    InstantBackend (``latency`` seconds a call): the production worker with a test
    backend."""
    cmd = [
        sys.executable,
        "-m",
        "plotpalette.testing.worker",
        job_id,
        "--workspace",
        workspace.location,
        "--latency",
        str(latency),
        "--concurrency",
        str(concurrency),
        "--flush-seconds",
        str(flush_seconds),
    ]
    if flush_records is not None:
        cmd += ["--flush-records", str(flush_records)]
    if grace is not None:
        cmd += ["--grace", str(grace)]
    return cmd


def until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is truthy (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def wait_until_running(
    workspace: Any, job_id: str, proc: subprocess.Popen[Any], timeout: float = 20.0
) -> bool:
    """Wait until ``proc`` owns ``job_id`` (RUNNING, its pid): its signal handlers are
    installed by then. False if it exited or the time ran out first."""
    from ..jobs import JobState, job_status

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        info = job_status(workspace, job_id)
        if info.state is JobState.RUNNING and any(w["pid"] == proc.pid for w in info.workers):
            return True
        time.sleep(0.02)
    return False
