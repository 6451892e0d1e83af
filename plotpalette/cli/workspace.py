"""``plotpalette workspace copy|create-table``: move a workspace to S3 (and back)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import Settings
from ..workspace import Workspace
from .common import common_options, emit, settings_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "workspace", parents=[common_options()], help="copy workspaces; create a registry table"
    )
    cmds = p.add_subparsers(dest="workspace_command", metavar="SUBCOMMAND")

    cp = cmds.add_parser(
        "copy",
        parents=[common_options()],
        help="copy a workspace (templates, seeds, jobs, records, registry, ledger) and verify",
    )
    cp.add_argument("source", help="folder or s3://bucket/prefix[?table=NAME]")
    cp.add_argument("dest", help="folder or s3://bucket/prefix[?table=NAME] (created if new)")
    cp.add_argument("--allow-running", action="store_true", help="copy even while jobs are RUNNING")
    cp.set_defaults(handler=run_copy)

    ct = cmds.add_parser(
        "create-table",
        parents=[common_options()],
        help="create a DynamoDB registry table (on-demand capacity, TTL on expires_at)",
    )
    ct.add_argument("name", help="table name, e.g. plotpalette-registry")
    ct.add_argument("--region", help="AWS Region (default: the region setting / AWS_REGION)")
    ct.set_defaults(handler=run_create_table)


def _open(location: str, base: Settings, *, create: bool) -> Workspace:
    table = None if "?table=" in location else base.table
    settings = base.replace(workspace=location, table=table)
    return Workspace.open(location, settings=settings, create=create)


def _tables(ws: Workspace) -> Any:
    return ws.registry.tables


def run_copy(args: argparse.Namespace) -> int:
    from ..workspace_copy import copy_workspace

    base = settings_from_args(args)
    src = _open(args.source, base, create=False)
    dst = _open(args.dest, base, create=True)
    report = copy_workspace(
        src.store,
        _tables(src),
        dst.store,
        _tables(dst),
        allow_running=args.allow_running,
        progress=lambda msg: print(msg, file=sys.stderr),
    )
    items = ", ".join(f"{n} {k}" for k, n in report.items.items() if n)
    logs = ", ".join(f"{n} {k}" for k, n in report.log_entries.items() if n)
    text = "\n".join(
        [
            f"copied {report.source} -> {report.dest}",
            f"  objects:  {report.objects} copied ({report.bytes:,} bytes), "
            f"{report.objects_present} already there",
            f"  registry: {items or 'no items'}",
            f"  logs:     {logs or 'no entries'}",
            "  verified: every object's SHA-256 and every item read back",
        ]
    )
    emit(args, report.to_dict(), text)
    return 0


def run_create_table(args: argparse.Namespace) -> int:
    from ..aws.dynamo import create_table
    from ..aws.session import aws_client

    settings = settings_from_args(args)
    client = aws_client(
        "dynamodb", region=args.region or settings.region, profile=settings.aws_profile
    )
    create_table(client, args.name)
    region = client.meta.region_name
    emit(
        args,
        {"table": args.name, "region": region},
        f"created DynamoDB table {args.name} in {region} (on-demand, TTL on expires_at)\n"
        f"use it: PLOTPALETTE_TABLE={args.name} or s3://BUCKET/PREFIX?table={args.name}",
    )
    return 0
