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

Started by AWS Batch (``AWS_BATCH_JOB_ID`` is set), the worker never restarts a job
that ended FAILED, BUDGET_EXCEEDED, CANCELLED or COMPLETED — a Batch retry must not
undo a decision — and exits 4/3/0/0 for them; 5 stays reserved for "retry me". Its
default grace is 20 s: Batch sends SIGKILL 30 s after SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import JobStateError, PlotPaletteError
from ..workspace import Workspace
from .api import JobResult, run_job
from .remote import orchestrated, resubmitted
from .runner import RunOptions
from .states import EXIT_BY_STATE, JobState

__all__ = [
    "EXIT_BY_STATE",
    "EXIT_INTERRUPTED",
    "add_arguments",
    "main",
    "orchestrated_exit",
    "run_worker",
    "serve",
]

EXIT_INTERRUPTED = 5
REMOTE_SHARD_S = 5.0  # on S3, a shard per worker per second costs PUTs and later reads
BATCH_GRACE_S = 20.0  # AWS Batch: SIGKILL 30 s after SIGTERM; 10 s to flush and settle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id")
    parser.add_argument("--budget", type=float, default=None, help="new total budget (USD)")
    parser.add_argument(
        "--grace",
        type=float,
        default=None,
        help="seconds calls in flight get after a stop (default 30; 20 under AWS Batch)",
    )
    parser.add_argument("--concurrency", type=int, default=None, help="records in flight")
    parser.add_argument("--flush-records", type=int, default=500)
    parser.add_argument("--flush-seconds", type=float, default=1.0)
    parser.add_argument(
        "--shard-seconds",
        type=float,
        default=None,
        help=f"seconds between the shards written at checkpoints (default: every "
        f"checkpoint; {REMOTE_SHARD_S:g} on an s3:// workspace)",
    )
    parser.add_argument(
        "--lease-seconds", type=float, default=30.0, help="silence after which a worker is dead"
    )
    parser.add_argument("--endpoint-url", help="Bedrock endpoint (e.g. the emulator)")


def exit_code(result: JobResult) -> int:
    """The worker's exit code (see the module docstring)."""
    stopped = result.extra.get("stop") in ("interrupt", "lost_lease", "stalled", "quota_day")
    if stopped and not (orchestrated() and result.state in _NOT_RESTARTED):
        return EXIT_INTERRUPTED
    if result.state is JobState.RUNNING:
        return 0  # other workers are finishing the job
    if result.state is JobState.CANCELLED and orchestrated():
        return 0  # cancelled: nothing left for this worker, and nothing to retry
    return EXIT_BY_STATE[result.state]


# Under an orchestrator these end a worker instead of restarting the job.
_NOT_RESTARTED = (
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.BUDGET_EXCEEDED,
    JobState.CANCELLED,
)


def orchestrated_exit(ws: Workspace, job_id: str) -> int | None:
    """Under AWS Batch: the exit code for a job this worker must not restart, else None."""
    if not orchestrated():
        return None
    state = ws.registry.get(job_id).state
    if state not in _NOT_RESTARTED:
        return None
    if state is not JobState.COMPLETED and resubmitted(ws.registry.job_data(job_id)):
        return None  # `submit JOB_ID` after the stop: this Batch job is meant to restart it
    print(
        f"job {job_id} is {state.value}: this worker does not restart it (a Batch retry "
        "must not undo that); `plotpalette resume` or `submit` does",
        file=sys.stderr,
    )
    return 0 if state is JobState.CANCELLED else EXIT_BY_STATE[state]


def _shard_seconds(ws: Workspace, asked: float | None) -> float | None:
    if asked is not None:
        return asked
    return REMOTE_SHARD_S if str(ws.location).startswith("s3://") else None


def _may_restart(data: dict[str, Any]) -> bool:
    """Under Batch: start a stopped job only for a submission made after it stopped
    (the rule of :func:`orchestrated_exit`, applied again when joining)."""
    state = JobState(data["state"])
    if state not in _NOT_RESTARTED:
        return True  # INTERRUPTED (every worker was stopped): Batch's retries go on
    return state is not JobState.COMPLETED and resubmitted(data)


def serve(ws: Workspace, args: argparse.Namespace, *, backend: Any = None) -> JobResult | int:
    """What ``plotpalette worker`` does: an exit code when this worker must not run
    the job (see :func:`orchestrated_exit`), else the result of running it."""
    refused = orchestrated_exit(ws, args.job_id)
    if refused is not None:
        return refused
    try:
        return run_worker(ws, args, backend=backend)
    except JobStateError:
        # the job ended between that check and joining it (another worker failed it)
        refused = orchestrated_exit(ws, args.job_id)
        if refused is None:
            raise
        return refused


def run_worker(ws: Workspace, args: argparse.Namespace, *, backend: Any = None) -> JobResult:
    if args.endpoint_url:
        ws.settings = ws.settings.replace(backend="bedrock", bedrock_endpoint_url=args.endpoint_url)
    grace = args.grace
    if grace is None:
        grace = BATCH_GRACE_S if orchestrated() else 30.0
    options = RunOptions(
        grace_s=grace,
        flush_records=args.flush_records,
        flush_seconds=args.flush_seconds,
        shard_seconds=_shard_seconds(ws, args.shard_seconds),
        lease_s=args.lease_seconds,
        may_restart=_may_restart if orchestrated() else None,
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


def _finished_meanwhile(workspace: str | None, job_id: str) -> bool:
    """Whether the job is COMPLETED (a worker started late finds nothing to do: exit 0,
    as documented, not the "cannot go from COMPLETED to RUNNING" error)."""
    try:
        ws = Workspace.open(workspace) if workspace else Workspace.open()
        done = ws.registry.get(job_id).state is JobState.COMPLETED
    except PlotPaletteError:
        return False
    if done:
        print(f"job {job_id} is COMPLETED: nothing left for this worker", file=sys.stderr)
    return done


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
        result = serve(ws, args, backend=backend)
        if isinstance(result, int):
            return result
    except PlotPaletteError as exc:
        if _finished_meanwhile(args.workspace, args.job_id):
            return 0  # other workers completed it before this one joined: nothing left
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), default=str))
    return exit_code(result)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
