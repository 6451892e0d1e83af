"""``plotpalette run | resume | status | list | cancel | estimate | sweep | quickstart``
(``pause | unpause | delete`` are in :mod:`plotpalette.cli.jobs_control`; the spec flags
in :mod:`.job_spec`, what the verbs print in :mod:`.job_output`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..jobs import (
    JobSpec,
    JobState,
    cancel_job,
    compare_sweep,
    estimate_job,
    job_status,
    list_jobs,
    resume_job,
    run_job,
    run_sweep,
)
from ..jobs.states import EXIT_BY_STATE
from ..workspace import Workspace
from . import jobs_control
from .common import common_options, emit, settings_from_args
from .job_output import Progress, finish, fleet_line, status_text
from .job_spec import build_spec, spec_options
from .mode import add_max_wait_option, max_wait_hours, resolve_mode

__all__ = ["register"]


def _run_with_progress(
    args: argparse.Namespace, ws: Workspace, job: Any, resume: bool = False, **kwargs: Any
) -> int:
    progress = Progress(not getattr(args, "json", False) and not args.no_progress)
    try:
        verb = resume_job if resume else run_job
        result = verb(ws, job, on_event=progress, **kwargs)
    finally:
        progress.close()
    return finish(args, result)


def cmd_run(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    spec = resolve_mode(args, ws, build_spec(args))
    if (spec.workers or 1) > 1:
        return _run_fleet(args, ws, spec)
    return _run_with_progress(args, ws, spec)


def _run_fleet(args: argparse.Namespace, ws: Workspace, spec: JobSpec) -> int:
    """``run --workers N``: N ``plotpalette worker`` processes; progress from the registry."""
    from ..jobs import create_job
    from ..jobs.fleet import run_fleet

    job_id = create_job(ws, spec)
    quiet = getattr(args, "json", False) or args.no_progress

    def show(info: Any) -> None:
        if not quiet:
            print(fleet_line(info), file=sys.stderr, flush=True)

    info, codes = run_fleet(ws, job_id, spec.workers or 1, on_progress=show, poll_s=2.0)
    data = {**info.to_dict(), "worker_exit_codes": codes}
    emit(args, data, status_text(ws, info))
    return EXIT_BY_STATE.get(info.state, 5)


def cmd_resume(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    kwargs: dict[str, Any] = {}
    if args.budget is not None:
        kwargs["budget_usd"] = args.budget
    if args.budget_tokens is not None:
        kwargs["budget_tokens"] = args.budget_tokens
    return _run_with_progress(args, ws, args.job_id, resume=True, **kwargs)


def cmd_status(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    info = job_status(ws, args.job_id)
    emit(args, info.to_dict(), status_text(ws, info))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    jobs = list_jobs(ws, state=args.state, sweep_id=args.sweep, limit=args.limit)
    lines = [f"{'JOB':<44} {'STATE':<16} {'RECORDS':>13} {'SPEND':>10}"]
    for info in jobs:
        lines.append(
            f"{info.job_id:<44} {info.state.value + (' (paused)' if info.paused else ''):<16} "
            f"{info.records_done:>6}/{info.records_total:<6} ${info.spend_usd:>9.4f}"
        )
    if not jobs:
        lines = ["no jobs yet — try `plotpalette quickstart`"]
    emit(args, [i.to_dict() for i in jobs], "\n".join(lines))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    info = cancel_job(ws, args.job_id)
    text = (
        f"job {info.job_id}: cancel requested; its worker stops at its next checkpoint"
        if info.state is JobState.RUNNING
        else f"job {info.job_id}: {info.state.value}"
    )
    emit(args, info.to_dict(), text)
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    est = estimate_job(ws, build_spec(args), max_wait_hours=max_wait_hours(args))
    emit(args, est.to_dict(), est.summary())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    base = build_spec(args)
    models = [m for group in args.models for m in group.split(",") if m] or None
    seeds = args.seed_sets or None
    records = [int(r) for group in args.sizes for r in group.split(",") if r] or None
    result = run_sweep(ws, base, models=models, seeds=seeds, records=records)
    table = compare_sweep(ws, result.sweep_id)
    emit(
        args,
        {"sweep_id": result.sweep_id, "jobs": table.to_dict(orient="records")},
        f"sweep {result.sweep_id}\n{table.to_string(index=False)}",
    )
    worst = max((EXIT_BY_STATE[r.state] for r in result.results), default=0)
    return worst


def cmd_quickstart(args: argparse.Namespace) -> int:
    settings = settings_from_args(args, backend="local")
    ws = Workspace.open(settings=settings)
    spec = JobSpec(
        template="question_answer",
        seeds="sample:poetry",
        records=args.records,
        backend="local",
        budget_usd=0.0,
        name="quickstart",
    )
    progress = Progress(not getattr(args, "json", False))
    try:
        result = run_job(ws, spec, on_event=progress)
    finally:
        progress.close()
    code = finish(args, result)
    if not getattr(args, "json", False) and result.records_ok:
        first = result.records(status="ok")[0]
        print("\nfirst record:", json.dumps(first.outputs, ensure_ascii=False)[:400])
        print(f"\nlocal model: free (spend ${result.spend_usd:.2f}). Export the records:")
        print(f"  plotpalette export {result.job_id} --format jsonl --dest quickstart-dataset")
        print('  (a Hugging Face dataset: --format hf, with pip install "plotpalette[hf]")')
    return code


def register(sub: argparse._SubParsersAction) -> None:
    common = [common_options()]
    p = sub.add_parser("run", parents=common, help="generate records from a template and seeds")
    spec_options(p)
    add_max_wait_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("resume", parents=common, help="continue a stopped job")
    p.add_argument("job_id")
    p.add_argument("--budget", type=float, help="new total budget in dollars")
    p.add_argument("--budget-tokens", type=int)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=cmd_resume)

    p = sub.add_parser("status", parents=common, help="state, counts and spend of a job")
    p.add_argument("job_id")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("list", parents=common, help="jobs in the workspace, newest first")
    p.add_argument("--state", help="only jobs in this state")
    p.add_argument("--sweep", help="only jobs of this sweep (a sweep id)")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("cancel", parents=common, help="cancel a job (records are kept)")
    p.add_argument("job_id")
    p.set_defaults(handler=cmd_cancel)

    p = sub.add_parser("estimate", parents=common, help="pre-flight cost of a job")
    spec_options(p)
    add_max_wait_option(p)
    p.set_defaults(handler=cmd_estimate)

    p = sub.add_parser(
        "sweep", parents=common, help="run one template across models, seed sets or sizes"
    )
    spec_options(p)
    p.add_argument(
        "--models",
        action="append",
        default=[],
        metavar="M1,M2",
        help="models or tiers to compare (each used for every step)",
    )
    p.add_argument(
        "--seed-sets",
        action="append",
        default=[],
        metavar="SEEDS",
        help="seed sets to compare (repeatable)",
    )
    p.add_argument(
        "--sizes", action="append", default=[], metavar="N1,N2", help="record counts to compare"
    )
    p.set_defaults(handler=cmd_sweep)

    p = sub.add_parser(
        "quickstart",
        parents=common,
        help="generate 20 question/answer records with the local model",
    )
    p.add_argument("--records", "-n", type=int, default=20)
    p.set_defaults(handler=cmd_quickstart)

    jobs_control.register(sub, common)
