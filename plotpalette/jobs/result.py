"""How a run ended: :class:`JobResult`, and how it is made from the runners' outcomes
(one per worker in the calling process) and the registry's view of the job."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import layout
from ..records import Record
from ..workspace import Workspace
from .registry import JobInfo
from .runner import RunOutcome
from .shards import iter_records
from .states import JobState

__all__ = ["JobResult", "combine_outcomes", "job_result"]


@dataclass
class JobResult:
    """How a run (or resume) ended."""

    job_id: str
    state: JobState
    records_total: int
    records_ok: int
    records_failed: int
    records_filtered: int
    records_missing: int
    spend_usd: float  # the job's total so far, all runs (settled + open reservations)
    run_spend_usd: float  # real cost of this run's calls
    waste_usd: float  # cost of work that produced no record (this run)
    tokens: int
    elapsed_s: float
    error: dict[str, Any] | None
    records_path: str
    resume_command: str | None
    workspace: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state is JobState.COMPLETED

    def records(self, *, status: str | None = None) -> list[Record]:
        """The job's records in index order (see :func:`iter_records` to stream)."""
        return list(
            iter_records(Workspace.open(self.workspace), self.job_id, status=status, ordered=True)
        )

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["state"] = self.state.value
        return data

    def summary(self) -> str:
        """One human paragraph: state, counts, spend, where the records are."""
        lines = [
            f"job {self.job_id}: {self.state.value}",
            f"  records: {self.records_ok} ok, {self.records_filtered} filtered, "
            f"{self.records_failed} failed, {self.records_missing} missing "
            f"(of {self.records_total})",
            f"  spend:   ${self.spend_usd:.4f} (this run ${self.run_spend_usd:.4f}, "
            f"waste ${self.waste_usd:.4f}, {self.tokens} tokens)",
            f"  records: {self.records_path}",
        ]
        if self.error:
            lines.append(f"  reason:  {self.error.get('message')}")
            lines.append(f"  fix:     {self.error.get('fix')}")
        if self.resume_command:
            lines.append(f"  resume:  {self.resume_command}")
        return "\n".join(lines)


def combine_outcomes(outcomes: list[RunOutcome], final: JobState | None) -> RunOutcome:
    """One outcome for the workers of this call: the job's state, summed figures."""
    last = max(outcomes, key=lambda o: o.state.is_final)
    counts: dict[str, int] = {}
    for o in outcomes:
        for k, v in o.counts.items():
            counts[k] = counts.get(k, 0) + v
    extra: dict[str, Any] = {"workers": [o.worker for o in outcomes]}
    for o in outcomes:
        for k, v in o.extra.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                extra[k] = extra.get(k, 0) + v
            else:
                extra[k] = extra.get(k) or v
    return RunOutcome(
        state=final or last.state,
        error=last.error,
        counts=counts,
        settled=max(o.settled for o in outcomes),
        total=last.total,
        spent_usd=sum(o.spent_usd for o in outcomes),
        waste_usd=sum(o.waste_usd for o in outcomes),
        tokens=sum(o.tokens for o in outcomes),
        unsettled=sum(o.unsettled for o in outcomes),
        elapsed_s=max(o.elapsed_s for o in outcomes),
        worker=outcomes[0].worker,
        extra=extra,
    )


def job_result(ws: Workspace, info: JobInfo, outcome: RunOutcome) -> JobResult:
    root = ws.root
    where = (
        str(Path(root) / layout.records_prefix(info.job_id))
        if root is not None
        else f"{ws.location.rstrip('/')}/{layout.records_prefix(info.job_id)}"
    )
    state = outcome.state
    resume = None
    if state is not JobState.COMPLETED and state.is_final:
        resume = f"plotpalette --workspace {ws.location} resume {info.job_id}"
        if state is JobState.BUDGET_EXCEEDED:
            resume += " --budget <more dollars>"
    return JobResult(
        job_id=info.job_id,
        state=state,
        records_total=info.records_total,
        records_ok=info.records_ok,
        records_failed=info.records_failed,
        records_filtered=info.records_filtered,
        records_missing=max(0, info.records_total - info.records_done),
        spend_usd=info.spend_usd,
        run_spend_usd=outcome.spent_usd,
        waste_usd=outcome.waste_usd,
        tokens=outcome.tokens,
        elapsed_s=outcome.elapsed_s,
        error=outcome.error,
        records_path=where,
        resume_command=resume,
        workspace=ws.location,
        extra=outcome.extra,
    )
