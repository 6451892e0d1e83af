"""Turning SIGTERM and Ctrl-C into a clean stop.

On EC2 Spot (and Fargate Spot) a SIGTERM is the two-minute notice: the runner stops
taking records, lets calls in flight finish within its grace period, writes the last
shard and marks the job INTERRUPTED, so the next task resumes it. Ctrl-C does the
same; a second Ctrl-C abandons calls in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator

from .events import JobControls

__all__ = ["stop_on_signals"]


@contextlib.contextmanager
def stop_on_signals(loop: asyncio.AbstractEventLoop, controls: JobControls) -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT (and SIGHUP) interrupt the job via ``controls``.

    Only possible in the main thread; elsewhere this does nothing (a notebook thread
    is stopped through :class:`JobControls` instead).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    installed = []
    for sig, name in (
        (signal.SIGTERM, "SIGTERM (e.g. a Spot interruption notice)"),
        (signal.SIGINT, "Ctrl-C"),
        (getattr(signal, "SIGHUP", None), "SIGHUP"),
    ):
        if sig is None:
            continue
        try:
            loop.add_signal_handler(sig, controls.interrupt, f"interrupted by {name}")
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # e.g. Windows
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
