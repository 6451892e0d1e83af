"""Blocking calls run off the event loop, in threads that never hold the process.

boto3 is synchronous, so each Bedrock call runs in a worker thread. The standard
``ThreadPoolExecutor`` joins its threads when the interpreter exits, so a call hung on
a silent service kept a stopped worker alive for minutes (184 s measured after SIGTERM
with calls in flight). :class:`DaemonPool` threads are daemons: a process that has
decided to exit exits, and an abandoned call is left to its socket timeout. The pool
grows on demand (a job run with a higher concurrency than the settings).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["DaemonPool"]

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class DaemonPool:
    """A fixed-size, growable pool of daemon worker threads."""

    def __init__(self, size: int, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self.resize(size)

    @property
    def size(self) -> int:
        return len(self._threads)

    def resize(self, size: int) -> None:
        """Grow to ``size`` threads (never shrinks: idle threads cost nothing)."""
        with self._lock:
            while len(self._threads) < size and not self._closed:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        if self._closed:
            raise RuntimeError(f"{self.name} pool is closed")
        self._queue.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued: never started, never billed
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

    def close(self) -> None:
        """Let idle threads end; calls in flight are not waited for."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)
