"""The small finished job the monitoring, export and cost notebooks need to show anything.

Notebooks 05–07 open on a workspace that may hold no job yet (a fresh install, a CI
run). :func:`starter_job` is the one place that decides what to do then: reuse the
newest COMPLETED job, or run a small one on the embedded model (free) and return it.
It uses only the core job API, so it needs no widgets and no kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import JobError
from ..jobs import JobSpec, JobState, list_jobs, run_job
from ..workspace import Workspace
from ._sources import open_workspace

__all__ = ["starter_job"]


def starter_job(
    *,
    workspace: Workspace | str | Path | None = None,
    template: str = "open_question",
    seeds: Any = "sample:poetry",
    records: int = 2,
    budget_usd: float | None = 0.10,
    backend: str | None = "local",
    max_tokens: int | None = 64,
) -> str:
    """The id of the workspace's newest COMPLETED job, running a small one first if there
    is none (``records`` records of ``template`` over ``seeds`` under ``budget_usd``).

    Raises :class:`~plotpalette.errors.JobError` if that small job does not complete
    (its state and the way to look at it are in the message).
    """
    ws = open_workspace(workspace)
    finished = list_jobs(ws, state="COMPLETED")
    if finished:
        return finished[0].job_id
    print("No finished job in this workspace yet: making a small one first.")
    spec = JobSpec(
        template=template,
        seeds=seeds,
        records=records,
        budget_usd=budget_usd,
        backend=backend,
        max_tokens=max_tokens or None,
        name="starter job",
    )
    result = run_job(ws, spec, handle_signals=False)
    print(f"{result.job_id}: {result.state.value}")
    if result.state is not JobState.COMPLETED:
        raise JobError(
            f"the starter job {result.job_id} ended {result.state.value}",
            fix=f"Look at it with `plotpalette status {result.job_id}`; rerun the cell "
            "(a larger budget_usd if it ran out of money).",
        )
    return result.job_id
