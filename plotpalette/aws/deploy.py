"""``plotpalette deploy``: create or update the stack in ``infra/plotpalette.yaml``.

The flow, every step through injected boto3 clients (``clients("cloudformation")``…)
so tests run it against moto's server:

1. find the network (the default VPC's subnets unless given) and the account;
2. build the ``--env`` parameter set and the Bedrock ARNs of the configured models;
3. create a change set and show it; apply only after ``confirm`` says yes
   (``--yes`` on the command line);
4. follow the stack's events while it works; on failure explain the root cause
   from the events (resource, status reason, fix) and raise :class:`StackError`;
5. write the outputs into the workspace config's ``aws:`` section (local config
   and the bucket's ``workspace/config.yaml``), so an ``s3://`` workspace finds its
   table, queue and topic;
6. upload the worker wheelhouse to ``s3://<bucket>/wheelhouse/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import StackError
from .stack_support import (
    SETTING_OUTPUT_KEYS,
    STACK_OUTPUT_KEYS,
    change_rows,
    explain_failure,
    stack_parameters,
    template_path,
)

__all__ = [
    "ChangePlan",
    "DeployResult",
    "aws_clients",
    "check_stack_name",
    "default_network",
    "deploy",
    "describe_stack",
    "event_ids",
    "read_outputs",
    "wait_for_stack",
    "write_workspace_config",
]

Clients = Callable[[str], Any]
Echo = Callable[[str], None]
DONE_OK = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]


def aws_clients(region: str | None = None, profile: str | None = None) -> Clients:
    """A client factory for a Region and profile (the CLI's default)."""
    import boto3

    session = boto3.Session(profile_name=profile, region_name=region)
    if not session.region_name:
        raise StackError(
            "no AWS Region chosen", fix="Pass --region (or set AWS_REGION / the profile's region)."
        )
    cache: dict[str, Any] = {}

    def client(name: str) -> Any:
        if name not in cache:
            cache[name] = session.client(name)
        return cache[name]

    return client


def check_stack_name(stack: str) -> str:
    """Stack names start with ``plotpalette``: the IAM policies are scoped on it."""
    if not stack.startswith("plotpalette") or len(stack) > 60:
        raise StackError(
            f"stack name {stack!r} does not start with 'plotpalette' (or is over 60 characters)",
            fix="Use a name like plotpalette-dev; the PlotPaletteDeploy and PlotPaletteUse "
            "policies only cover resources named plotpalette*.",
        )
    return stack


@dataclass
class ChangePlan:
    """A created change set, ready to show and execute."""

    stack: str
    change_set: str
    kind: str  # CREATE or UPDATE
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.rows

    def table(self) -> str:
        if self.empty:
            return f"{self.stack}: no changes"
        lines = [f"{self.kind} {self.stack}: {len(self.rows)} change(s)"]
        for r in self.rows:
            extra = f" (replacement: {r['replacement']})" if r["replacement"] else ""
            lines.append(f"  {r['action']:<8} {r['resource']:<34} {r['type']}{extra}")
        return "\n".join(lines)


@dataclass
class DeployResult:
    stack: str
    status: str
    outputs: dict[str, str]
    plan: ChangePlan
    applied: bool
    wheels: list[str] = field(default_factory=list)
    config_written: list[str] = field(default_factory=list)


def default_network(ec2: Any) -> tuple[str, list[str]]:
    """The default VPC and its default (public) subnets."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise StackError(
            "this Region has no default VPC",
            fix="Pass --vpc and --subnets (public subnets, or private ones with a NAT and "
            "--no-public-ip).",
        )
    vpc = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "default-for-az", "Values": ["true"]},
        ]
    )["Subnets"]
    if not subnets:
        raise StackError(f"the default VPC {vpc} has no default subnets", fix="Pass --subnets.")
    return vpc, sorted(s["SubnetId"] for s in subnets)


def describe_stack(cfn: Any, stack: str) -> dict[str, Any] | None:
    """``DescribeStacks`` of one stack, or ``None`` when it does not exist."""
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as exc:  # botocore ClientError "does not exist"
        if "does not exist" in str(exc):
            return None
        raise


def read_outputs(
    cfn: Any, stack: str, keys: Mapping[str, str] = STACK_OUTPUT_KEYS
) -> dict[str, str]:
    """The stack's outputs under the workspace config's ``aws:`` key names (or under
    ``keys``' names: :data:`SETTING_OUTPUT_KEYS` gives the top-level settings)."""
    info = describe_stack(cfn, stack)
    if info is None:
        raise StackError(f"stack {stack!r} does not exist", fix="Deploy it: plotpalette deploy.")
    out = {
        keys[o["OutputKey"]]: o["OutputValue"]
        for o in info.get("Outputs", [])
        if o["OutputKey"] in keys
    }
    if keys is STACK_OUTPUT_KEYS:
        out["stack"] = stack
    return out


def plan_changes(
    cfn: Any, stack: str, body: str, parameters: list[dict[str, str]], *, poll_s: float
) -> ChangePlan:
    existing = describe_stack(cfn, stack)
    if existing and existing["StackStatus"] == "ROLLBACK_COMPLETE":
        raise StackError(
            f"stack {stack} failed to create earlier and is ROLLBACK_COMPLETE",
            fix="Remove it with `plotpalette teardown` (nothing was created), then deploy again.",
        )
    kind = "UPDATE" if existing and existing["StackStatus"] != "REVIEW_IN_PROGRESS" else "CREATE"
    name = f"plotpalette-{int(time.time())}"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateBody=body,
        Parameters=parameters,
        Capabilities=CAPABILITIES,
        Tags=[{"Key": "plotpalette:stack", "Value": stack}],
    )
    while True:
        desc = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        status = desc.get("Status", "")
        if status in ("CREATE_COMPLETE", "FAILED"):
            break
        time.sleep(poll_s)
    if status == "FAILED":
        reason = desc.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            cfn.delete_change_set(StackName=stack, ChangeSetName=name)
            return ChangePlan(stack, name, kind, [])
        raise StackError(f"the change set failed: {reason}", fix="Fix the template or parameters.")
    changes = list(desc.get("Changes", []))
    token = desc.get("NextToken")
    while token:
        page = cfn.describe_change_set(StackName=stack, ChangeSetName=name, NextToken=token)
        changes += page.get("Changes", [])
        token = page.get("NextToken")
    return ChangePlan(stack, name, kind, change_rows(changes))


def event_ids(cfn: Any, stack: str) -> set[str]:
    """Ids of the events a stack has now (so a wait prints only newer ones)."""
    try:
        return {e["EventId"] for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]}
    except Exception:  # a stack being created may have no events yet
        return set()


def wait_for_stack(
    cfn: Any,
    stack: str,
    *,
    echo: Echo,
    seen: set[str] | None = None,
    poll_s: float = 5.0,
    timeout_s: float = 3600,
) -> str:
    """Follow a stack operation, printing each event not in ``seen``; returns the
    final status.

    Raises :class:`StackError` naming the failed resources and their fixes when the
    operation ends in a failed or rolled-back state.
    """
    seen = set() if seen is None else set(seen)
    deadline = time.monotonic() + timeout_s
    while True:
        info = describe_stack(cfn, stack)
        status = info["StackStatus"] if info else "DELETE_COMPLETE"
        try:
            events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        except Exception:
            events = []
        for e in reversed(events):
            if e["EventId"] not in seen:
                seen.add(e["EventId"])
                reason = f" — {e['ResourceStatusReason']}" if e.get("ResourceStatusReason") else ""
                echo(f"  {e['ResourceStatus']:<22} {e['LogicalResourceId']}{reason}")
        if not status.endswith("IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise StackError(
                f"{stack} still {status} after {timeout_s:.0f} s",
                fix="Watch it in the CloudFormation console; run status later.",
            )
        time.sleep(poll_s)
    if status in DONE_OK:
        return status
    causes = explain_failure(events, stack)
    lines = [f"stack {stack} ended {status}"]
    for c in causes:
        lines.append(f"{c['resource']} ({c['type']}) {c['status']}: {c['reason']}")
    fix = causes[0]["fix"] if causes else "Read the stack events in the CloudFormation console."
    raise StackError("; ".join(lines), fix=fix)


def write_workspace_config(
    location: str,
    aws: Mapping[str, str],
    *,
    s3: Any = None,
    settings: Mapping[str, str] | None = None,
) -> str:
    """Merge ``aws`` into the ``aws:`` section of ``<location>/config.yaml``, and
    ``settings`` (the stack's Bedrock batch role and staging prefix) at the top level.

    ``location`` is a local folder or ``s3://bucket/prefix``; other settings in the
    file are kept. Returns where it wrote.
    """
    if location.startswith("s3://"):
        bucket, _, prefix = location[5:].partition("/")
        key = f"{prefix.strip('/')}/config.yaml" if prefix.strip("/") else "config.yaml"
        try:
            text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except Exception as exc:
            if "NoSuchKey" not in str(exc) and "Not Found" not in str(exc):
                raise
            text = ""
        data = _merge(text, aws, f"s3://{bucket}/{key}", settings)
        s3.put_object(Bucket=bucket, Key=key, Body=data.encode("utf-8"))
        return f"s3://{bucket}/{key}"
    path = Path(location).expanduser() / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    data = _merge(old, aws, str(path), settings)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(data, encoding="utf-8")
    tmp.replace(path)
    return str(path)


def _merge(
    text: str, aws: Mapping[str, str], where: str, settings: Mapping[str, str] | None = None
) -> str:
    data = yaml.safe_load(text) if text.strip() else {}
    if not isinstance(data, dict):
        raise StackError(f"{where} does not hold a mapping", fix=f"Fix or delete {where}.")
    data["aws"] = {**(data.get("aws") or {}), **{k: str(v) for k, v in aws.items()}}
    data.update({k: str(v) for k, v in (settings or {}).items()})
    return yaml.safe_dump(data, sort_keys=True)


def deploy(
    stack: str,
    *,
    env: str,
    clients: Clients,
    model_ids: Sequence[str],
    workspace: str | None = None,
    template: Path | None = None,
    vpc_id: str | None = None,
    subnet_ids: Sequence[str] | None = None,
    public_ip: bool = True,
    alarm_email: str | None = None,
    overrides: Mapping[str, str] | None = None,
    confirm: Callable[[ChangePlan], bool] | None = None,
    wheelhouse: Path | None = None,
    echo: Echo = print,
    poll_s: float = 5.0,
) -> DeployResult:
    """Create or update ``stack``; see the module docstring for the steps.

    ``confirm`` sees the change set and returns True to apply it (``None`` applies
    without asking, which is what ``--yes`` does). ``wheelhouse`` is a folder of
    wheels to upload (:func:`plotpalette.aws.wheelhouse.build_wheelhouse` makes one);
    ``None`` skips the upload.
    """
    check_stack_name(stack)
    cfn = clients("cloudformation")
    ident = clients("sts").get_caller_identity()
    account, partition = ident["Account"], ident["Arn"].split(":")[1]
    region = cfn.meta.region_name
    if not subnet_ids:
        vpc_id, subnet_ids = default_network(clients("ec2"))
        echo(f"network: default VPC {vpc_id}, subnets {', '.join(subnet_ids)}")
    elif not vpc_id:
        raise StackError("--subnets given without --vpc", fix="Pass the subnets' VPC with --vpc.")
    params = stack_parameters(
        env,
        vpc_id=str(vpc_id),
        subnet_ids=list(subnet_ids),
        model_ids=model_ids,
        region=region,
        account=account,
        partition=partition,
        alarm_email=alarm_email,
        public_ip=public_ip,
        overrides=overrides,
    )
    body = (template or template_path()).read_text(encoding="utf-8")
    plan = plan_changes(cfn, stack, body, params, poll_s=poll_s)
    echo(plan.table())
    applied = False
    status = (describe_stack(cfn, stack) or {}).get("StackStatus", "")
    if not plan.empty:
        if confirm is not None and not confirm(plan):
            cfn.delete_change_set(StackName=stack, ChangeSetName=plan.change_set)
            echo("not applied; the change set was deleted")
            return DeployResult(stack, status, {}, plan, applied=False)
        echo(f"applying {plan.change_set} to {stack} in {region} ...")
        cfn.execute_change_set(StackName=stack, ChangeSetName=plan.change_set)
        status = wait_for_stack(cfn, stack, echo=echo, poll_s=poll_s)
        applied = True
    outputs = read_outputs(cfn, stack)
    outputs["region"] = region
    top = read_outputs(cfn, stack, SETTING_OUTPUT_KEYS)  # batch_role_arn, batch_s3_uri
    written = [
        write_workspace_config(where, outputs, s3=clients("s3"), settings=top)
        for where in (outputs["workspace"], *([workspace] if workspace else []))
    ]
    for where in written:
        echo(f"settings aws.*{''.join(f', {k}' for k in sorted(top))} written to {where}")
    wheels: list[str] = []
    if wheelhouse is not None:
        from .wheelhouse import upload_wheelhouse

        wheels = upload_wheelhouse(wheelhouse, outputs["wheelhouse"], s3=clients("s3"), echo=echo)
    return DeployResult(stack, status, outputs, plan, applied, wheels, written)
