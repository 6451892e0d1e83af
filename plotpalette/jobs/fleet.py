"""N worker processes on this machine for one job (``plotpalette run --workers N``).

Each process is ``python -m plotpalette worker JOB_ID`` — exactly what an ECS task runs —
so a local run exercises the same claims, leases and finalizer as a fleet. The parent
only watches: it forwards SIGTERM/Ctrl-C to its workers, reports progress from the
registry, and runs the finalizer once they are gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from ..workspace import Workspace
from .coordination.finalize import finalize
from .ops_hooks import OpsHooks
from .registry import JobInfo

__all__ = ["run_fleet", "worker_argv"]


def worker_argv(ws: Workspace, job_id: str, *, extra: list[str] | None = None) -> list[str]:
    """The argv of one worker process for ``job_id`` in ``ws``."""
    return [
        sys.executable,
        "-m",
        "plotpalette",
        "--workspace",
        ws.location,
        "worker",
        job_id,
        *(extra or []),
    ]


def run_fleet(
    ws: Workspace,
    job_id: str,
    workers: int,
    *,
    extra: list[str] | None = None,
    on_progress: Callable[[JobInfo], None] | None = None,
    poll_s: float = 0.5,
    env: dict[str, str] | None = None,
) -> tuple[JobInfo, list[int]]:
    """Run ``workers`` worker processes until they exit; returns the job and exit codes."""
    procs = [
        subprocess.Popen(
            worker_argv(ws, job_id, extra=extra),
            stdout=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        for _ in range(max(1, workers))
    ]

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signum)

    old = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread: nothing to forward
            old[sig] = signal.signal(sig, forward)
    try:
        while any(p.poll() is None for p in procs):
            if on_progress is not None:
                with contextlib.suppress(Exception):
                    on_progress(ws.registry.get(job_id))
            time.sleep(poll_s)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    # the workers finalize themselves; this catches a job whose last worker was killed
    finalize(ws.registry, ws.store, job_id, on_final=OpsHooks.from_settings(ws.settings).final)
    return ws.registry.get(job_id), [p.returncode for p in procs]
