"""Jobs whose workers run on AWS Batch: submit, and the hooks cancel and status use.

>>> sub = submit_job("s3://bucket/workspace", JobSpec(template="qa", seeds="sample:poetry",
...                  records=5000, budget_usd=5, runtime="aws", workers=8))  # doctest: +SKIP
>>> job_status("s3://bucket/workspace", sub.job_id).units                   # doctest: +SKIP

:func:`submit_job` creates the job in the ``s3://`` workspace (QUEUED) and submits
one Batch array job of N children, each ``plotpalette worker JOB_ID``; it returns at
once. From then on the shared registry is the job's truth: ``status``, the JobConsole
and the JobsTable follow it from any process, and pause/unpause/cancel reach every
worker through its flags. The Batch job id is recorded on the job (``JobInfo.aws``)
so that cancel also terminates the Batch job. boto3 stays in :mod:`plotpalette.aws.batch`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, JobStateError, PlotPaletteError
from ..tables import update
from ..workspace import Workspace
from .registry import JOB
from .spec import JobSpec
from .states import JobState

__all__ = [
    "Submitted",
    "orchestrated",
    "resubmitted",
    "submit_job",
    "terminate_remote",
]

# Set by AWS Batch in every container it starts.
BATCH_ENV = "AWS_BATCH_JOB_ID"


@dataclass
class Submitted:
    """What :func:`submit_job` did: the job and its Batch array job."""

    job_id: str
    batch_job_id: str
    workers: int
    job_queue: str
    workspace: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        return (
            f"job {self.job_id}: submitted to AWS Batch as {self.batch_job_id} "
            f"({self.workers} worker{'s' if self.workers != 1 else ''} on {self.job_queue})\n"
            f"  follow:  plotpalette --workspace {self.workspace} status {self.job_id}\n"
            f"  cancel:  plotpalette --workspace {self.workspace} cancel {self.job_id}"
        )


def orchestrated() -> bool:
    """True in a worker that AWS Batch started (its retries are Batch's decision)."""
    return bool(os.environ.get(BATCH_ENV))


def resubmitted(data: dict[str, Any]) -> bool:
    """True when this Batch worker belongs to a submission made after the job stopped
    (``submit JOB_ID`` of a cancelled or failed job): it may restart the job."""
    aws = data.get("aws") or {}
    parent = os.environ.get(BATCH_ENV, "").split(":")[0]
    return (
        bool(parent)
        and parent == aws.get("batch_job_id")
        and (float(data.get("finished_at") or 0) < float(aws.get("submitted_at") or 0))
    )


def submit_job(
    workspace: Workspace | str | Path,
    job: str | JobSpec,
    *,
    workers: int | None = None,
    timeout_s: int | None = None,
    client: Any = None,
) -> Submitted:
    """Create the job (or take a QUEUED/stopped one by id) and start its workers on AWS.

    ``workers`` defaults to ``JobSpec.workers`` (else 1). The workspace must be an
    ``s3://`` one whose config names the stack's queue and job definition
    (``plotpalette deploy`` writes them). Returns as soon as Batch has the job.
    """
    from ..aws.batch import BatchTarget, submit_workers
    from .api import _workspace, create_job

    ws = _workspace(workspace)
    if not ws.location.startswith("s3://"):
        raise ConfigError(
            f"jobs run on AWS only from an s3:// workspace, not {ws.location}",
            fix="Open the stack's workspace (`plotpalette outputs` shows aws.workspace), or "
            "copy this one up with `plotpalette workspace copy`.",
        )
    target = BatchTarget.for_workspace(ws)
    if isinstance(job, JobSpec):
        if job.backend == "local":
            raise ConfigError(
                "a job on AWS cannot use the local model: the workers call Bedrock",
                fix="Leave JobSpec.backend unset (or 'bedrock') for runtime='aws'.",
            )
        # models and prices resolve for Bedrock, whatever this machine's backend is
        job_id = create_job(ws, job.replace(runtime="aws", backend="bedrock"))
    else:
        job_id = job
    info = ws.registry.get(job_id)
    if info.state is JobState.COMPLETED or (info.state is JobState.RUNNING and info.workers):
        raise JobStateError(
            f"job {job_id} is {info.state.value}"
            + (f" with {len(info.workers)} live worker(s)" if info.workers else ""),
            fix="Wait for it, or cancel it first; a COMPLETED job is final.",
        )
    if info.spec.get("backend") == "local":
        raise ConfigError(
            f"job {job_id} was created for the local model; workers on AWS call Bedrock",
            fix="Submit a JobSpec instead (plotpalette submit --spec FILE), which is "
            "created for Bedrock.",
        )
    count = workers or int(info.spec.get("workers") or 1)
    sub = submit_workers(
        target,
        job_id=job_id,
        workers=count,
        workspace_url=ws.location,
        timeout_s=timeout_s,
        client=client,
    )
    record = sub.to_dict()

    def fn(data: dict[str, Any]) -> dict[str, Any]:
        data["aws"] = {**record, "history": [*(data.get("aws") or {}).get("history", [])]}
        data["aws"]["history"].append(sub.batch_job_id)
        return data

    update(ws.registry.tables, JOB, job_id, fn)
    ws.registry.add_event(job_id, "submitted", {"aws": record})
    return Submitted(job_id, sub.batch_job_id, count, target.job_queue, ws.location)


def terminate_remote(ws: Workspace, job_id: str, *, reason: str) -> list[str]:
    """TerminateJob on every Batch job recorded on ``job_id``; returns their ids.

    The registry's cancel flag already stops live workers; terminating also removes
    children still waiting in the queue and stops Batch from retrying any of them.
    """
    aws = ws.registry.job_data(job_id).get("aws") or {}
    ids = list(dict.fromkeys(aws.get("history") or [aws.get("batch_job_id")]))
    ids = [i for i in ids if i]
    if not ids:
        return []
    from ..aws.batch import terminate

    failed: list[PlotPaletteError] = []
    for batch_id in ids:
        try:
            terminate(batch_id, reason=reason, region=aws.get("region"))
        except PlotPaletteError as exc:
            failed.append(exc)
    if failed:
        raise failed[0]
    ws.registry.add_event(job_id, "terminated", {"batch_job_ids": ids, "reason": reason})
    return ids
