"""Pure helpers of ``plotpalette deploy``: parameter sets, model ARNs, the change-set
table, and turning stack events into an explanation with a fix. No AWS calls here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import StackError

__all__ = [
    "ENV_PARAMETERS",
    "PROFILE_PREFIXES",
    "SETTING_OUTPUT_KEYS",
    "STACK_OUTPUT_KEYS",
    "change_rows",
    "explain_failure",
    "model_arns",
    "stack_parameters",
    "template_path",
]

# `--env` parameter sets. prod keeps more, protects the table and may fall back to
# on-demand Fargate when Spot capacity is short.
ENV_PARAMETERS: dict[str, dict[str, str]] = {
    "dev": {
        "Environment": "dev",
        "DeletionProtection": "false",
        "LogRetentionDays": "14",
        "BackupRetentionDays": "7",
        "NoncurrentVersionDays": "7",
        "SpendPerHourThresholdUsd": "5",
        "MonthlyBedrockBudgetUsd": "50",
        "OnDemandFallback": "false",
        "MaxVcpus": "8",
    },
    "prod": {
        "Environment": "prod",
        "DeletionProtection": "true",
        "LogRetentionDays": "90",
        "BackupRetentionDays": "35",
        "NoncurrentVersionDays": "30",
        "SpendPerHourThresholdUsd": "20",
        "MonthlyBedrockBudgetUsd": "500",
        "OnDemandFallback": "true",
        "MaxVcpus": "32",
    },
}

# Stack output -> key of the workspace config's `aws:` section.
STACK_OUTPUT_KEYS = {
    "BucketName": "bucket",
    "WorkspaceUrl": "workspace",
    "WheelhouseUrl": "wheelhouse",
    "TableName": "table",
    "JobQueueArn": "job_queue",
    "JobDefinitionArn": "job_definition",
    "TopicArn": "topic_arn",
    "LogGroupName": "log_group",
    "BatchEventsLogGroupName": "events_log_group",
    "DashboardName": "dashboard",
    "WorkerRoleArn": "worker_role_arn",
    "SchedulerRoleArn": "scheduler_role_arn",
    "BedrockBatchRoleArn": "bedrock_batch_role_arn",
    "BackupVaultName": "backup_vault",
    "KmsKeyArn": "kms_key_arn",
    "Environment": "env",
}

# Stack output -> top-level setting (Bedrock batch inference reads these directly).
SETTING_OUTPUT_KEYS = {
    "BedrockBatchRoleArn": "batch_role_arn",
    "BedrockBatchS3Uri": "batch_s3_uri",
}

PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov.")


def template_path() -> Path:
    """``infra/plotpalette.yaml`` of the source tree this package runs from."""
    path = Path(__file__).resolve().parents[2] / "infra" / "plotpalette.yaml"
    if not path.is_file():
        raise StackError(
            f"the stack template is not at {path}",
            fix="Run from a clone of the repository, or pass --template infra/plotpalette.yaml.",
        )
    return path


def model_arns(
    model_ids: Iterable[str], *, region: str, account: str, partition: str = "aws"
) -> tuple[list[str], list[str]]:
    """(foundation-model ARNs, inference-profile ARNs) the workers may invoke.

    A cross-Region profile (``us.``/``eu.``/``global.``…) needs permission on the
    profile and on its foundation model in every Region it routes to, hence ``*``
    as the model ARN's Region. Full ARNs pass through as given.
    """
    foundation: list[str] = []
    profiles: list[str] = []
    for model in model_ids:
        model = model.strip()
        if not model:
            continue
        if model.startswith("arn:"):
            (profiles if ":inference-profile/" in model else foundation).append(model)
            continue
        base = model
        if model.startswith(PROFILE_PREFIXES):
            profiles.append(f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model}")
            base = model.split(".", 1)[1]
        foundation.append(f"arn:{partition}:bedrock:*::foundation-model/{base}")
    return sorted(set(foundation)), sorted(set(profiles))


def stack_parameters(
    env: str,
    *,
    vpc_id: str,
    subnet_ids: Sequence[str],
    model_ids: Sequence[str],
    region: str,
    account: str,
    partition: str = "aws",
    alarm_email: str | None = None,
    public_ip: bool = True,
    overrides: Mapping[str, str] | None = None,
) -> list[dict[str, str]]:
    """The CloudFormation ``Parameters`` for an environment."""
    if env not in ENV_PARAMETERS:
        raise StackError(f"unknown environment {env!r}", fix="Use --env dev or --env prod.")
    if not subnet_ids:
        raise StackError("no subnets for the workers", fix="Pass --subnets subnet-a,subnet-b.")
    foundation, profiles = model_arns(
        model_ids, region=region, account=account, partition=partition
    )
    if not foundation:
        raise StackError("no Bedrock models to allow", fix="Pass --model MODEL_ID (repeatable).")
    values = dict(ENV_PARAMETERS[env])
    values.update(
        {
            "VpcId": vpc_id,
            "SubnetIds": ",".join(subnet_ids),
            "AssignPublicIp": "ENABLED" if public_ip else "DISABLED",
            "BedrockModelArns": ",".join(foundation),
            "InferenceProfileArns": ",".join(profiles),
            "AlarmEmail": alarm_email or "",
        }
    )
    watched = list(dict.fromkeys(m.strip() for m in model_ids if m.strip()))[:3]
    for i in range(3):
        values[f"AlarmModelId{i + 1}"] = watched[i] if i < len(watched) else ""
    values.update(overrides or {})
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in sorted(values.items())]


def change_rows(changes: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Flatten ``DescribeChangeSet`` changes into rows for a table."""
    rows = []
    for change in changes:
        rc = change.get("ResourceChange", {})
        rows.append(
            {
                "action": str(rc.get("Action", "")),
                "resource": str(rc.get("LogicalResourceId", "")),
                "type": str(rc.get("ResourceType", "")),
                "replacement": str(rc.get("Replacement", "") or ""),
            }
        )
    return rows


# (pattern in the status reason, what to do). First match wins.
_FIXES: list[tuple[str, str]] = [
    (
        r"not authorized|AccessDenied|is not authorized to perform",
        "The deploying identity lacks a permission: attach the PlotPaletteDeploy policy "
        "(infra/policies/deploy.json) and deploy again.",
    ),
    (
        r"already exists",
        "A resource with this name exists (often kept from an earlier stack): delete it, "
        "or deploy under another --stack name.",
    ),
    (
        r"[Ss]ubnet|VPC|vpc-|[Ss]ecurity ?[Gg]roup",
        "Check --vpc and --subnets: the subnets must belong to the VPC and reach the "
        "internet (public IP or NAT).",
    ),
    (
        r"LimitExceeded|[Qq]uota|limit of",
        "An account quota is reached: raise it in Service Quotas or remove unused resources.",
    ),
    (
        r"[Ee]mail|Endpoint",
        "Check --alarm-email; it must be one valid address.",
    ),
    (
        r"Budget",
        "AWS Budgets needs the budgets:* permissions of the deploy policy and a payer "
        "account that allows Budgets.",
    ),
    (
        r"KMS|[Kk]ey",
        "The key policy or a KMS permission is missing: deploy with the PlotPaletteDeploy "
        "policy; check no SCP blocks kms:CreateKey.",
    ),
    (
        r"[Ii]nvalid|[Vv]alidation|[Mm]alformed",
        "A parameter value is invalid: check the --param values and the model ids.",
    ),
]
_NOT_ROOT_CAUSE = re.compile(
    r"Resource creation cancelled|Resource update cancelled|"
    r"The following resource\(s\) failed|cancelled"
)


def explain_failure(events: Iterable[Mapping[str, Any]], stack_name: str) -> list[dict[str, str]]:
    """The failed resources of the latest operation, root causes first, each with a fix.

    ``events`` as ``DescribeStackEvents`` returns them (newest first). Events before
    the operation's ``*_IN_PROGRESS`` start on the stack itself are ignored.
    """
    latest: list[Mapping[str, Any]] = []
    for event in events:
        latest.append(event)
        if (
            event.get("LogicalResourceId") == stack_name
            and event.get("ResourceType") == "AWS::CloudFormation::Stack"
            and event.get("ResourceStatus")
            in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS")
        ):
            break
    failed = [e for e in reversed(latest) if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    out = []
    for event in failed:
        reason = str(event.get("ResourceStatusReason") or "no reason given")
        if event.get("ResourceType") == "AWS::CloudFormation::Stack" and _NOT_ROOT_CAUSE.search(
            reason
        ):
            continue
        fix = next(
            (f for pattern, f in _FIXES if re.search(pattern, reason)),
            "Read the reason; fix the named resource or parameter and deploy again.",
        )
        out.append(
            {
                "resource": str(event.get("LogicalResourceId", "")),
                "type": str(event.get("ResourceType", "")),
                "status": str(event.get("ResourceStatus", "")),
                "reason": reason,
                "fix": fix,
                "root_cause": "no" if _NOT_ROOT_CAUSE.search(reason) else "yes",
            }
        )
    out.sort(key=lambda row: row["root_cause"] != "yes")
    return out
