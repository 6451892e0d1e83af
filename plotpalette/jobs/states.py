"""Job states and the transitions allowed between them.

::

    QUEUED ──► RUNNING ──► COMPLETED            (every record settled)
       │          ├──────► BUDGET_EXCEEDED ─┐
       │          ├──────► FAILED ──────────┤   resumable: back to RUNNING
       │          ├──────► INTERRUPTED ─────┤   (SIGTERM, Ctrl-C, a crash)
       └──────────┴──────► CANCELLED ───────┘

While a RUNNING job waits on a Bedrock batch inference job (``inference_mode="batch"``)
its *activity* is ``WAITING_ON_BEDROCK`` (:func:`activity`): the state stays RUNNING,
because the work goes on at Bedrock whether or not a process of ours is alive, and any
process can pick it up with ``plotpalette resume`` (see :mod:`.batch_state`).

Only the runner decides COMPLETED, and only when every index of the job has a
settled record in the shards; any stop short of that (a Spot notice, Ctrl-C, a
crash noticed on resume) is INTERRUPTED, never COMPLETED.
"""

from __future__ import annotations

import enum
from typing import Any

from ..errors import JobStateError

__all__ = [
    "EXIT_BY_STATE",
    "RESUMABLE_STATES",
    "TERMINAL_STATES",
    "WAITING_ON_BEDROCK",
    "JobState",
    "activity",
    "check_transition",
]


class JobState(str, enum.Enum):
    """Where a job is in its life. Values are the upper-case names stored in the registry."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        """No further work can happen without a resume (or ever, for COMPLETED)."""
        return self is not JobState.QUEUED and self is not JobState.RUNNING


# States a job can be (re)started from. CANCELLED is resumable on purpose: cancel
# means "stop now", not "throw away what was paid for".
RESUMABLE_STATES = frozenset(
    {
        JobState.QUEUED,
        JobState.INTERRUPTED,
        JobState.BUDGET_EXCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
    }
)
TERMINAL_STATES = frozenset({JobState.COMPLETED})

# Process exit codes of the CLI and the worker entrypoint, by the state a job ended in.
EXIT_BY_STATE = {
    JobState.COMPLETED: 0,
    JobState.BUDGET_EXCEEDED: 3,
    JobState.FAILED: 4,
    JobState.INTERRUPTED: 5,
    JobState.CANCELLED: 5,
}

_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RUNNING: frozenset(
        {
            JobState.COMPLETED,
            JobState.BUDGET_EXCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.INTERRUPTED,
        }
    ),
    JobState.BUDGET_EXCEEDED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.FAILED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.INTERRUPTED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.CANCELLED: frozenset({JobState.RUNNING}),
    JobState.COMPLETED: frozenset(),
}


#: The activity of a RUNNING job whose next records come from a Bedrock batch job.
WAITING_ON_BEDROCK = "WAITING_ON_BEDROCK"
_BEDROCK_ACTIVE = ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping", "staged")


def activity(state: JobState | str, bedrock_batch: dict[str, Any] | None) -> str:
    """What the job is doing: :data:`WAITING_ON_BEDROCK` while RUNNING and waiting on a
    batch job that has not ended, else the state's value."""
    state = JobState(state)
    status = (bedrock_batch or {}).get("status")
    if state is JobState.RUNNING and status in _BEDROCK_ACTIVE:
        return WAITING_ON_BEDROCK
    return state.value


def check_transition(current: JobState | str, new: JobState | str, *, job_id: str = "") -> None:
    """Raise :class:`JobStateError` unless ``current -> new`` is allowed."""
    cur, nxt = JobState(current), JobState(new)
    if nxt not in _ALLOWED[cur]:
        what = f"job {job_id} " if job_id else ""
        if cur is JobState.COMPLETED:
            fix = "A completed job is final; start a new job to generate more records."
        elif cur is JobState.RUNNING and nxt is JobState.RUNNING:
            fix = "It is already running; wait for it, or cancel it with `plotpalette cancel`."
        else:
            fix = None
        raise JobStateError(f"{what}cannot go from {cur.value} to {nxt.value}", fix=fix)
