"""Run a coroutine from synchronous code — also inside Jupyter's running event loop.

The one coroutine runner of the package (the job engine, previews, seed generation).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(
    coro: Coroutine[Any, Any, T],
    *,
    name: str = "plotpalette-call",
    on_interrupt: Callable[[], None] | None = None,
) -> T:
    """``asyncio.run(coro)``, or the same on a helper thread when this thread already
    runs a loop (a notebook cell, where ``asyncio.run`` refuses to start).

    On the helper thread a Ctrl-C (``KeyboardInterrupt`` in the caller) calls
    ``on_interrupt`` (e.g. a job's clean interrupt) and keeps waiting when given;
    without it the interrupt propagates.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=on_interrupt is not None)
    thread.start()
    while thread.is_alive():
        try:
            thread.join(0.2)
        except KeyboardInterrupt:
            if on_interrupt is None:
                raise
            on_interrupt()
    if "error" in box:
        raise box["error"]
    return box["value"]
