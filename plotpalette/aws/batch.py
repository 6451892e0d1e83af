"""Workers on AWS Batch: submit one array job of N ``plotpalette worker`` children,
terminate it, and read its children's states.

The queue and job definition are the stack's (``plotpalette deploy`` writes them to the
workspace config's ``aws:`` section as ``job_queue`` and ``job_definition``). Each child
runs the job definition's command — install from the wheelhouse, then ``exec`` the
worker with ``Ref::job_id`` — so a child is exactly ``plotpalette worker JOB_ID``.
Everything a worker needs comes from its environment: the workspace URL, the job id
and the Region are container overrides; credentials come from the job role, never
from the job definition or the submission.

Retries are Batch's: the job definition's ``retryStrategy`` retries an attempt that
exited with the worker's "interrupted" code (5) or was stopped by a Spot reclaim, and
ends every other failure at once (see the "Interruptions on AWS" page).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, InfraError

__all__ = [
    "BatchTarget",
    "Submission",
    "child_states",
    "submit_workers",
    "terminate",
]

MAX_ARRAY_SIZE = 10_000  # AWS Batch's limit for arrayProperties.size


@dataclass(frozen=True)
class BatchTarget:
    """Where workers run: the stack's job queue and job definition, in a Region."""

    job_queue: str
    job_definition: str
    region: str | None = None

    @classmethod
    def for_workspace(cls, ws: Any) -> BatchTarget:
        """The workspace settings' ``aws:`` keys, else those ``plotpalette deploy`` wrote
        to the workspace's own ``config.yaml`` (an ``s3://`` workspace's settings do not
        read that file, so it is read here)."""
        import yaml

        aws: dict[str, Any] = {}
        try:
            stored = yaml.safe_load(ws.store.read_bytes("config.yaml")) or {}
            if isinstance(stored, dict) and isinstance(stored.get("aws"), dict):
                aws = dict(stored["aws"])
        except (KeyError, yaml.YAMLError):
            pass
        aws.update(getattr(ws.settings, "aws", {}) or {})
        return cls.from_settings(ws.settings, aws=aws)

    @classmethod
    def from_settings(cls, settings: Any, *, aws: dict[str, Any] | None = None) -> BatchTarget:
        if aws is None:
            aws = dict(getattr(settings, "aws", {}) or {})
        missing = [k for k in ("job_queue", "job_definition") if not aws.get(k)]
        if missing:
            raise ConfigError(
                f"this workspace has no AWS Batch {' or '.join(missing)} in its config",
                fix="Deploy the stack with `plotpalette deploy` (it writes aws.job_queue and "
                "aws.job_definition), or `plotpalette outputs --write` for a deployed one.",
            )
        return cls(aws["job_queue"], aws["job_definition"], aws.get("region") or settings.region)


@dataclass
class Submission:
    """One submitted array job (or single job when ``workers == 1``)."""

    job_id: str
    batch_job_id: str
    batch_job_name: str
    workers: int
    job_queue: str
    job_definition: str
    region: str | None
    submitted_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _client(target: BatchTarget, client: Any) -> Any:
    if client is not None:
        return client
    from .session import aws_client

    return aws_client("batch", region=target.region)


def _fail(exc: Exception, what: str, fix: str) -> InfraError:
    from .session import error_code

    code = error_code(exc)
    return InfraError(f"AWS Batch refused to {what}: {code or type(exc).__name__}: {exc}", fix=fix)


def submit_workers(
    target: BatchTarget,
    *,
    job_id: str,
    workers: int,
    workspace_url: str,
    timeout_s: int | None = None,
    client: Any = None,
) -> Submission:
    """Submit ``workers`` children running ``plotpalette worker job_id``; returns at once."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
    if workers > MAX_ARRAY_SIZE:
        raise ConfigError(
            f"{workers} workers is more than an AWS Batch array job holds ({MAX_ARRAY_SIZE})",
            fix="Use fewer workers; each one runs `concurrency` records at once.",
        )
    if not workspace_url.startswith("s3://"):
        raise ConfigError(
            f"workers on AWS cannot reach the workspace {workspace_url!r}",
            fix="Submit from an s3:// workspace (the stack's aws.workspace, see "
            "`plotpalette outputs`), or copy this one up with `plotpalette workspace copy`.",
        )
    environment = [
        {"name": "PLOTPALETTE_WORKSPACE", "value": workspace_url},
        {"name": "PLOTPALETTE_JOB_ID", "value": job_id},
    ]
    if target.region:
        environment += [
            {"name": "AWS_REGION", "value": target.region},
            {"name": "PLOTPALETTE_REGION", "value": target.region},
        ]
    name = f"plotpalette-{job_id}"[:128]
    args: dict[str, Any] = {
        "jobName": name,
        "jobQueue": target.job_queue,
        "jobDefinition": target.job_definition,
        "parameters": {"job_id": job_id},
        "containerOverrides": {"environment": environment},
        "tags": {"plotpalette:job": job_id},
        "propagateTags": True,
    }
    if workers > 1:
        args["arrayProperties"] = {"size": workers}
    if timeout_s is not None:
        args["timeout"] = {"attemptDurationSeconds": max(60, int(timeout_s))}
    batch = _client(target, client)
    try:
        reply = batch.submit_job(**args)
    except Exception as exc:
        raise _fail(
            exc,
            f"submit {name}",
            "Check that the stack is deployed (`plotpalette stack`), that aws.job_queue "
            "and aws.job_definition in the workspace config are its outputs, and that you "
            "may call batch:SubmitJob (the PlotPaletteUse policy).",
        ) from exc
    return Submission(
        job_id=job_id,
        batch_job_id=reply["jobId"],
        batch_job_name=reply.get("jobName", name),
        workers=workers,
        job_queue=target.job_queue,
        job_definition=target.job_definition,
        region=target.region,
    )


def terminate(
    batch_job_id: str, *, reason: str, region: str | None = None, client: Any = None
) -> None:
    """TerminateJob on an array parent terminates every child (queued ones never start)."""
    batch = _client(BatchTarget("", "", region), client)
    try:
        batch.terminate_job(jobId=batch_job_id, reason=reason[:250])
    except Exception as exc:
        raise _fail(
            exc,
            f"terminate {batch_job_id}",
            "The job's registry flag is set, so its workers stop at their next checkpoint; "
            "terminate the Batch job in the console if you lack batch:TerminateJob.",
        ) from exc


def child_states(batch_job_id: str, *, region: str | None = None, client: Any = None) -> Counter:
    """How many children are in each Batch state (RUNNABLE, RUNNING, FAILED, ...)."""
    batch = _client(BatchTarget("", "", region), client)
    job = batch.describe_jobs(jobs=[batch_job_id])["jobs"]
    if not job:
        return Counter()
    summary = (job[0].get("arrayProperties") or {}).get("statusSummary")
    if summary:
        return Counter({k: int(v) for k, v in summary.items() if int(v)})
    return Counter({job[0]["status"]: 1})
