"""``finishes``: run a call in a thread and fail, not hang, when it never returns."""

from __future__ import annotations

import threading
from typing import Any


def finishes(fn: Any, *args: Any, within: float = 120.0, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or an assertion error if it is still running after
    ``within`` seconds. The cap is a hang detector (a FIFO read, a quadratic regex
    taking hours), never a speed requirement; speed is measured in ``benchmarks/``."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} did not finish (a hang?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
