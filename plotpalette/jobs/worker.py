"""``plotpalette worker JOB_ID`` (also ``python -m plotpalette.jobs.worker``): join a job
as one more worker — the entrypoint an ECS task, a scheduler or ``run --workers N`` runs.

The worker claims work units until none is left (waiting while other live workers hold
the last ones, so a unit whose worker dies is still taken over), then runs the
finalizer. SIGTERM/SIGINT stop it cleanly: no new claims, calls in flight get
``--grace`` seconds (then they are abandoned and booked at worst case), the last shard
is written, its budget lease settled and its unit handed back.

Exit codes: 0 when the job is finished or nothing is left for this worker; 5
(:data:`EXIT_INTERRUPTED`) when this worker was interrupted or fenced (an orchestrator
should start another); 3 BUDGET_EXCEEDED, 4 FAILED when this worker ended the job so;
1 for an error before it could start.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import PlotPaletteError
from ..workspace import Workspace
from .api import JobResult, run_job
from .runner import RunOptions
from .states import EXIT_BY_STATE, JobState

__all__ = ["EXIT_BY_STATE", "EXIT_INTERRUPTED", "add_arguments", "main", "run_worker"]

EXIT_INTERRUPTED = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id")
    parser.add_argument("--budget", type=float, default=None, help="new total budget (USD)")
    parser.add_argument(
        "--grace", type=float, default=30.0, help="seconds calls in flight get after a stop"
    )
    parser.add_argument("--concurrency", type=int, default=None, help="records in flight")
    parser.add_argument("--flush-records", type=int, default=500)
    parser.add_argument("--flush-seconds", type=float, default=1.0)
    parser.add_argument(
        "--lease-seconds", type=float, default=30.0, help="silence after which a worker is dead"
    )
    parser.add_argument("--endpoint-url", help="Bedrock endpoint (e.g. the emulator)")


def exit_code(result: JobResult) -> int:
    """The worker's exit code (see the module docstring)."""
    if result.extra.get("stop") in ("interrupt", "lost_lease", "stalled", "quota_day"):
        return EXIT_INTERRUPTED
    if result.state is JobState.RUNNING:
        return 0  # other workers are finishing the job
    return EXIT_BY_STATE[result.state]


def run_worker(ws: Workspace, args: argparse.Namespace, *, backend: Any = None) -> JobResult:
    if args.endpoint_url:
        ws.settings = ws.settings.replace(backend="bedrock", bedrock_endpoint_url=args.endpoint_url)
    options = RunOptions(
        grace_s=args.grace,
        flush_records=args.flush_records,
        flush_seconds=args.flush_seconds,
        lease_s=args.lease_seconds,
    )
    if args.concurrency:
        options.concurrency = args.concurrency
    else:
        spec = ws.registry.job_data(args.job_id)["spec"]
        options.concurrency = spec.get("concurrency") or ws.settings.concurrency
    kwargs = {} if args.budget is None else {"budget_usd": args.budget}
    return run_job(
        ws,
        args.job_id,
        backend=backend,
        options=options,
        handle_signals=True,
        workers=1,
        **kwargs,
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    backend: Any = None,
    prog: str = "python -m plotpalette.jobs.worker",
) -> int:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--workspace")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        ws = Workspace.open(args.workspace) if args.workspace else Workspace.open()
        result = run_worker(ws, args, backend=backend)
    except PlotPaletteError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), default=str))
    return exit_code(result)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
