"""``plotpalette status`` and ``plotpalette teardown`` for a deployed stack.

Teardown keeps what holds data: the stack template marks the bucket, the table, the
backup vault and the KMS key ``Retain``, so deleting the stack never deletes data.
Afterwards teardown removes, of those, only what is safe to remove: the bucket when it
holds no object (no version, no delete marker), the table when its deletion
protection is off, the vault when it holds no recovery point. The KMS key is always
kept (its deletion is a decision with a 7-30 day waiting period; the report says how).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import StackError, TeardownRefusedError
from .deploy import check_stack_name, describe_stack, event_ids, read_outputs, wait_for_stack

__all__ = ["ACTIVE_JOB_STATES", "TeardownReport", "active_jobs", "stack_status", "teardown"]

ACTIVE_JOB_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
Clients = Callable[[str], Any]


def active_jobs(batch: Any, queue: str) -> list[dict[str, str]]:
    """Batch jobs of ``queue`` that are not finished (array parents included)."""
    jobs = []
    for state in ACTIVE_JOB_STATES:
        token = None
        while True:
            kwargs: dict[str, Any] = {"jobQueue": queue, "jobStatus": state}
            if token:
                kwargs["nextToken"] = token
            page = batch.list_jobs(**kwargs)
            jobs += [
                {"id": j["jobId"], "name": j.get("jobName", ""), "status": state}
                for j in page.get("jobSummaryList", [])
            ]
            token = page.get("nextToken")
            if not token:
                break
    return jobs


def stack_status(stack: str, *, clients: Clients) -> dict[str, Any]:
    """The stack's state, its outputs, jobs in flight and alarms firing."""
    check_stack_name(stack)
    cfn = clients("cloudformation")
    info = describe_stack(cfn, stack)
    if info is None:
        return {"stack": stack, "status": "NOT_DEPLOYED", "outputs": {}, "jobs": [], "alarms": []}
    outputs = read_outputs(cfn, stack)
    jobs = active_jobs(clients("batch"), outputs["job_queue"]) if "job_queue" in outputs else []
    alarms = []
    pages = clients("cloudwatch").get_paginator("describe_alarms")
    for page in pages.paginate(AlarmNamePrefix=f"{stack}-"):
        alarms += [
            {"name": a["AlarmName"], "state": a["StateValue"], "reason": a.get("StateReason", "")}
            for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
        ]
    return {
        "stack": stack,
        "status": info["StackStatus"],
        "reason": info.get("StackStatusReason", ""),
        "updated": str(info.get("LastUpdatedTime") or info.get("CreationTime") or ""),
        "outputs": outputs,
        "jobs": jobs,
        "alarms": alarms,
    }


@dataclass
class TeardownReport:
    stack: str
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _bucket_is_empty(s3: Any, bucket: str) -> bool:
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    return not (page.get("Versions") or page.get("DeleteMarkers"))


def teardown(
    stack: str,
    *,
    clients: Clients,
    confirm: Callable[[str], bool] | None = None,
    echo: Callable[[str], None] = print,
    poll_s: float = 5.0,
) -> TeardownReport:
    """Delete the stack; refuse while its queue has jobs; report what was kept."""
    check_stack_name(stack)
    cfn = clients("cloudformation")
    info = describe_stack(cfn, stack)
    if info is None:
        raise StackError(f"stack {stack!r} does not exist", fix="Check --stack and --region.")
    outputs = read_outputs(cfn, stack)
    if outputs.get("job_queue"):
        running = active_jobs(clients("batch"), outputs["job_queue"])
        if running:
            listed = ", ".join(f"{j['name'] or j['id']} ({j['status']})" for j in running[:10])
            raise TeardownRefusedError(
                f"{len(running)} job(s) still on the queue of {stack}: {listed}"
            )
    summary = (
        f"delete stack {stack}; keep the bucket if it holds objects, the table if deletion "
        "protection is on, the backup vault if it holds recovery points, and the KMS key"
    )
    echo(summary)
    if confirm is not None and not confirm(summary):
        echo("nothing deleted")
        return TeardownReport(stack)
    before = event_ids(cfn, stack)
    cfn.delete_stack(StackName=stack)
    wait_for_stack(cfn, stack, echo=echo, seen=before, poll_s=poll_s)
    report = TeardownReport(stack, deleted=[f"stack {stack}"])
    _after(report, outputs, clients)
    for line in report.kept:
        echo(f"kept: {line}")
    return report


def _after(report: TeardownReport, outputs: dict[str, str], clients: Clients) -> None:
    """Remove the retained resources that are safe to remove; list the others."""
    bucket = outputs.get("bucket")
    if bucket:
        s3 = clients("s3")
        if _bucket_is_empty(s3, bucket):
            s3.delete_bucket(Bucket=bucket)
            report.deleted.append(f"bucket {bucket} (empty)")
        else:
            report.kept.append(
                f"bucket {bucket}: it holds your workspace (records, exports, every object "
                f"version). Copy what you need, then empty and delete it: "
                f"aws s3 rm --recursive s3://{bucket} and delete the versions in the console"
            )
    table = outputs.get("table")
    if table:
        ddb = clients("dynamodb")
        desc = ddb.describe_table(TableName=table)["Table"]
        if desc.get("DeletionProtectionEnabled"):
            report.kept.append(
                f"table {table}: deletion protection is on (prod). Turn it off and delete: "
                f"aws dynamodb update-table --table-name {table} --no-deletion-protection-enabled"
                f" && aws dynamodb delete-table --table-name {table}"
            )
        else:
            ddb.delete_table(TableName=table)
            report.deleted.append(f"table {table} (deletion protection off)")
    vault = outputs.get("backup_vault")
    if vault:
        backup = clients("backup")
        points = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault, MaxResults=1)
        if points.get("RecoveryPoints"):
            report.kept.append(
                f"backup vault {vault}: it holds recovery points (they expire with the plan's "
                "retention; restore from them or delete them, then the vault)"
            )
        else:
            backup.delete_backup_vault(BackupVaultName=vault)
            report.deleted.append(f"backup vault {vault} (empty)")
    key = outputs.get("kms_key_arn")
    if key:
        report.kept.append(
            f"KMS key {key}: it encrypted the logs, table and backups. When nothing encrypted "
            f"with it is left: aws kms schedule-key-deletion --key-id {key} "
            "--pending-window-in-days 30"
        )
