"""How a run ends: the final state, chosen from what the shards hold and why the run stopped.

COMPLETED only if every index is settled and the error rate stayed below its threshold
(a run that settled everything with too many ``failed`` records ends FAILED, never
COMPLETED full of error records); otherwise the stop reason decides
(budget → BUDGET_EXCEEDED, cancel → CANCELLED, interrupt, a lost lease, no progress
or a used-up daily quota → INTERRUPTED, anything else → FAILED), and the job gets an
error record whose ``fix`` says how to go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import PlotPaletteError
from .states import JobState

__all__ = ["RunOutcome", "final_state"]


@dataclass
class RunOutcome:
    state: JobState
    error: dict[str, Any] | None
    counts: dict[str, int]
    settled: int
    total: int
    spent_usd: float  # real cost of this run's calls (worst case for abandoned ones)
    waste_usd: float
    tokens: int
    unsettled: int
    elapsed_s: float
    worker: str
    extra: dict[str, Any] = field(default_factory=dict)


def final_state(
    stop: tuple[str, PlotPaletteError | str] | None,
    missing: int,
    last_error: PlotPaletteError | None,
    outage_errors: int,
) -> tuple[JobState, dict[str, Any] | None]:
    """The state a run ends in and its error record (``None`` when COMPLETED).

    ``stop`` is the first stop requested (kind, cause), ``missing`` the indices no
    shard holds, ``last_error`` the latest record failure and ``outage_errors`` the
    record attempts left unsettled after retries.
    """
    kind, cause = stop if stop else (None, None)
    if missing <= 0 and kind != "error_rate":
        return JobState.COMPLETED, None
    if kind == "budget":
        state = JobState.BUDGET_EXCEEDED
    elif kind == "cancel":
        state = JobState.CANCELLED
    elif kind in ("interrupt", "lost_lease", "stalled", "quota_day"):
        state = JobState.INTERRUPTED
    else:  # fatal, error rate, or records left unsettled by outages
        state = JobState.FAILED
        if cause is None:
            cause = last_error or PlotPaletteError("records were left unsettled")
            kind = "unsettled"
    return state, _error_dict(kind, cause, missing, outage_errors)


def _error_dict(kind: str | None, cause: Any, missing: int, outage_errors: int) -> dict[str, Any]:
    if isinstance(cause, PlotPaletteError):
        data = cause.to_dict()
    else:
        data = {
            "error": "Stopped",
            "code": "PP600",
            "message": str(cause or kind),
            "fix": "Resume the job to generate the remaining records.",
        }
    data["reason"] = kind
    data["records_missing"] = missing
    if kind == "budget":
        data["fix"] = (
            "Resume with a bigger budget (e.g. `plotpalette resume JOB_ID --budget "
            "N`); the records already paid for are kept."
        )
    elif kind == "error_rate":
        # missing == 0: every record settled, but too many of them failed
        what = "stopped early: too many errors" if missing > 0 else "too many records failed"
        data["message"] = f"{what}; last: {data['message']}"
    elif kind == "unsettled":
        data["message"] = (
            f"{outage_errors} record attempt(s) failed after retries "
            f"({missing} records missing); last error: {data['message']}"
        )
        data["fix"] = "Resume the job to retry the missing records."
    return data
