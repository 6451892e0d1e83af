"""``plotpalette submit JOB_OR_SPEC --workers N``: run a job's workers on AWS Batch.

``JOB_OR_SPEC`` is a job id (a QUEUED or stopped job of this workspace) or a JSON job
spec file; without it the spec comes from the same flags as ``run``. The job is
created in the ``s3://`` workspace and one Batch array job of N ``plotpalette worker``
children is submitted; the command returns at once. Follow the job with ``status``
(from any machine), steer it with ``pause``/``unpause``/``cancel``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..jobs.remote import submit_job
from ..workspace import Workspace
from .common import common_options, emit, settings_from_args
from .job_spec import build_spec, spec_options
from .mode import add_max_wait_option, resolve_mode

__all__ = ["register"]


def cmd_submit(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    target = args.job_or_spec
    if target and Path(target).is_file():
        args.spec, target = target, None
    # submit_job runs every job on Bedrock: resolve --mode for that backend
    job: Any = target
    if not target:
        job = resolve_mode(args, ws, build_spec(args).replace(backend="bedrock"))
    done = submit_job(ws, job, workers=args.workers, timeout_s=args.timeout)
    emit(args, done.to_dict(), done.summary())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "submit",
        parents=[common_options()],
        help="run a job's workers on AWS Batch (Fargate Spot); returns at once",
    )
    p.add_argument("job_or_spec", nargs="?", help="a job id, or a JSON job spec file")
    spec_options(p)
    add_max_wait_option(p)
    for action in p._actions:
        if action.dest == "workers":
            action.help = "Batch array size: worker tasks sharing the job (default 1)"
    p.add_argument(
        "--timeout",
        type=int,
        help="seconds after which Batch stops a worker attempt (default: the stack's)",
    )
    p.set_defaults(handler=cmd_submit)
