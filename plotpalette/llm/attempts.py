"""Attempts whose bill is unknown: the seam between a backend's retries and the budget.

A call that fails *after its request was sent* — a read timeout, a reset connection, a
reply body that cannot be parsed — may have been billed by the provider although no
usage came back. Backends mark such errors with :func:`mark_unknown`; before retrying
one they ``await before_retry(error)``, which lets the job engine book the failed
attempt at its worst case (as waste) and reserve the worst case of the next attempt —
or refuse it (``BudgetExceededError``) when the budget cannot cover another try. Errors
the service answered (throttling, 5xx with a body) were not billed and pass through.

The hook is a context variable, so each record's task carries its own.

A call can also be stopped before anything was sent: a backend wraps its wait for the
client-side rate limiter in :func:`waiting_to_send`, so the engine, watching the call
with :func:`watch_call`, knows a call cancelled there cost nothing (it releases the
reservation instead of booking it at worst case) and can cancel such calls at once
when a job stops, instead of letting them wait for their turn to be sent.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator

__all__ = [
    "CallState",
    "before_retry",
    "mark_unknown",
    "on_unknown_outcome",
    "outcome_unknown",
    "waiting_to_send",
    "watch_call",
]

Hook = Callable[[BaseException], Awaitable[None]]
_hook: contextvars.ContextVar[Hook | None] = contextvars.ContextVar(
    "plotpalette_unknown_outcome_hook", default=None
)


def mark_unknown(error: BaseException) -> BaseException:
    """Flag ``error`` as "the request was sent, the bill is unknown"; returns it."""
    error.outcome_unknown = True  # type: ignore[attr-defined]
    return error


def outcome_unknown(error: BaseException) -> bool:
    return bool(getattr(error, "outcome_unknown", False))


async def before_retry(error: BaseException) -> None:
    """Call before retrying after ``error`` (a no-op unless its bill is unknown)."""
    hook = _hook.get()
    if hook is not None and outcome_unknown(error):
        await hook(error)


@contextlib.contextmanager
def on_unknown_outcome(hook: Hook) -> Iterator[None]:
    """Within the block (the current task), ``before_retry`` calls ``hook``."""
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


class CallState:
    """One watched call: ``queued`` while it waits to be sent (nothing sent yet)."""

    __slots__ = ("queued",)

    def __init__(self) -> None:
        self.queued = False


_call: contextvars.ContextVar[CallState | None] = contextvars.ContextVar(
    "plotpalette_call_state", default=None
)


@contextlib.contextmanager
def watch_call() -> Iterator[CallState]:
    """Within the block (the current task), the backend reports whether the call is
    still waiting to be sent (see :func:`waiting_to_send`)."""
    state = CallState()
    token = _call.set(state)
    try:
        yield state
    finally:
        _call.reset(token)


@contextlib.contextmanager
def waiting_to_send() -> Iterator[None]:
    """Wrap a wait after which the request is sent. If the wait is cancelled, the
    watched call stays ``queued``: nothing was sent, so nothing can be billed."""
    state = _call.get()
    if state is not None:
        state.queued = True
    yield  # not in a ``finally``: a cancelled wait leaves the call marked queued
    if state is not None:
        state.queued = False
