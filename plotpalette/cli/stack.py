"""``plotpalette deploy | stack | outputs | teardown``: the AWS stack from the CLI.

``plotpalette status JOB_ID`` is the job command, so the stack's status is
``plotpalette stack``. Every command takes ``--stack`` (default: the workspace's
``aws.stack``, else ``plotpalette-<env>``), ``--region`` and ``--profile``; boto3's
own ``AWS_ENDPOINT_URL`` points them at an emulator.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import StackError
from .common import common_options, emit, settings_from_args


def aws_options(env: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--stack", help="stack name (default: aws.stack, else plotpalette-ENV)")
    parent.add_argument("--region", help="AWS Region (default: aws.region, region, AWS_REGION)")
    parent.add_argument("--profile", help="AWS profile (default: aws_profile setting)")
    if env:
        parent.add_argument("--env", choices=["dev", "prod"], default="dev")
    return parent


def register(sub: argparse._SubParsersAction) -> None:
    common = [common_options()]
    p = sub.add_parser(
        "deploy", parents=[*common, aws_options(env=True)], help="create or update the AWS stack"
    )
    p.add_argument("--yes", action="store_true", help="apply the change set without asking")
    p.add_argument("--model", action="append", default=[], help="Bedrock model id (repeatable)")
    p.add_argument("--vpc", help="VPC id (default: the Region's default VPC)")
    p.add_argument("--subnets", help="comma-separated subnet ids (default: the default subnets)")
    p.add_argument(
        "--no-public-ip", action="store_true", help="private subnets behind a NAT gateway"
    )
    p.add_argument("--alarm-email", help="e-mail address for the alarm topic")
    p.add_argument("--param", action="append", default=[], help="template parameter KEY=VALUE")
    p.add_argument("--template", type=Path, help="template file (default: infra/plotpalette.yaml)")
    wh = p.add_mutually_exclusive_group()
    wh.add_argument("--wheelhouse", type=Path, help="upload these prebuilt wheels")
    wh.add_argument("--no-wheelhouse", action="store_true", help="skip the wheelhouse upload")
    p.set_defaults(handler=run_deploy)

    p = sub.add_parser(
        "stack", parents=[*common, aws_options(env=True)], help="the AWS stack's status"
    )
    p.set_defaults(handler=run_status)

    p = sub.add_parser(
        "outputs", parents=[*common, aws_options(env=True)], help="the AWS stack's outputs"
    )
    p.add_argument(
        "--write", action="store_true", help="also write them to this workspace's config"
    )
    p.set_defaults(handler=run_outputs)

    p = sub.add_parser(
        "teardown",
        parents=[*common, aws_options(env=True)],
        help="delete the AWS stack (keeps data)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=run_teardown)


def resolve(args: argparse.Namespace) -> tuple[Settings, str, Any]:
    """Settings, the stack name and a boto3 client factory for the command."""
    from ..aws.deploy import aws_clients

    settings = settings_from_args(args)
    stack = args.stack or settings.aws.get("stack") or f"plotpalette-{args.env}"
    region = args.region or settings.aws.get("region") or settings.region
    return settings, stack, aws_clients(region, args.profile or settings.aws_profile)


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        raise StackError(
            "not applied: no terminal to confirm on",
            fix="Review the output above and run the command again with --yes.",
        )
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def run_deploy(args: argparse.Namespace) -> int:
    from ..aws.deploy import deploy
    from ..aws.wheelhouse import build_wheelhouse

    settings, stack, clients = resolve(args)
    overrides = {}
    for pair in args.param:
        key, sep, value = pair.partition("=")
        if not sep:
            raise StackError(f"--param {pair!r} is not KEY=VALUE", fix="Use --param MaxVcpus=32.")
        overrides[key] = value
    models = args.model or sorted(set(settings.tiers.values()))
    echo = (lambda _: None) if getattr(args, "json", False) else print
    with tempfile.TemporaryDirectory(prefix="plotpalette-wheels-") as tmp:
        wheelhouse = args.wheelhouse
        if wheelhouse is None and not args.no_wheelhouse:
            echo("building the worker wheelhouse (project wheel + linux x86_64 dependencies) ...")
            build_wheelhouse(Path(tmp))
            wheelhouse = Path(tmp)
        result = deploy(
            stack,
            env=args.env,
            clients=clients,
            model_ids=models,
            workspace=None if settings.workspace.startswith("s3://") else settings.workspace,
            template=args.template,
            vpc_id=args.vpc,
            subnet_ids=args.subnets.split(",") if args.subnets else None,
            public_ip=not args.no_public_ip,
            alarm_email=args.alarm_email,
            overrides=overrides,
            confirm=None if args.yes else (lambda plan: _ask(f"Apply to {plan.stack}?")),
            wheelhouse=wheelhouse,
            echo=echo,
        )
    data = {
        "stack": result.stack,
        "status": result.status,
        "applied": result.applied,
        "changes": result.plan.rows,
        "outputs": result.outputs,
        "wheels": result.wheels,
        "config_written": result.config_written,
    }
    text = f"{result.stack}: {result.status or 'not created'}" + (
        f"\nworkspace: {result.outputs['workspace']}" if result.outputs.get("workspace") else ""
    )
    emit(args, data, text)
    return 0 if result.applied or result.plan.empty else 1


def run_status(args: argparse.Namespace) -> int:
    from ..aws.stack_ops import stack_status

    _, stack, clients = resolve(args)
    data = stack_status(stack, clients=clients)
    lines = [f"stack:   {data['stack']}  {data['status']}"]
    if data.get("reason"):
        lines.append(f"reason:  {data['reason']}")
    out = data["outputs"]
    for key in ("workspace", "table", "job_queue", "topic_arn", "dashboard"):
        if key in out:
            lines.append(f"{key + ':':<9}{out[key]}")
    lines.append(f"jobs:    {len(data['jobs'])} on the queue")
    lines += [f"  {j['status']:<9} {j['name'] or j['id']}" for j in data["jobs"][:20]]
    firing = [a for a in data["alarms"] if a["state"] == "ALARM"]
    lines.append(f"alarms:  {len(firing)} firing of {len(data['alarms'])}")
    lines += [f"  ALARM {a['name']}: {a['reason']}" for a in firing]
    emit(args, data, "\n".join(lines))
    return 0


def run_outputs(args: argparse.Namespace) -> int:
    from ..aws.deploy import read_outputs, write_workspace_config
    from ..aws.stack_support import SETTING_OUTPUT_KEYS

    settings, stack, clients = resolve(args)
    outputs = read_outputs(clients("cloudformation"), stack)
    outputs["region"] = clients("cloudformation").meta.region_name
    top = read_outputs(clients("cloudformation"), stack, SETTING_OUTPUT_KEYS)
    written = []
    if args.write:
        ws = settings.workspace
        written.append(write_workspace_config(ws, outputs, s3=clients("s3"), settings=top))
    text = "\n".join(f"{k:<24}{v}" for k, v in sorted(outputs.items()))
    text += "".join(f"\nwritten to {w}" for w in written)
    emit(args, {"outputs": outputs, "written": written}, text)
    return 0


def run_teardown(args: argparse.Namespace) -> int:
    from ..aws.stack_ops import teardown

    _, stack, clients = resolve(args)
    echo = (lambda _: None) if getattr(args, "json", False) else print
    report = teardown(
        stack,
        clients=clients,
        confirm=None if args.yes else (lambda summary: _ask("Delete?")),
        echo=echo,
    )
    data = {"stack": stack, "deleted": report.deleted, "kept": report.kept}
    emit(args, data, "deleted: " + ("; ".join(report.deleted) or "nothing"))
    return 0
