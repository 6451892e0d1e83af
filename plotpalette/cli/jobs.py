"""``plotpalette run | resume | status | list | cancel | estimate | sweep | quickstart``
(``pause | unpause | delete`` are in :mod:`plotpalette.cli.jobs_control`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .._files import read_regular
from ..config import parse_rate_limits
from ..errors import ConfigError
from ..jobs import (
    JobEvent,
    JobResult,
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
from ..jobs.events import job_history
from ..jobs.states import EXIT_BY_STATE
from ..workspace import Workspace
from . import jobs_control
from .common import common_options, emit, settings_from_args
from .mode import add_max_wait_option, add_mode_option, max_wait_hours, resolve_mode

__all__ = ["register"]


def _spec_options(p: argparse.ArgumentParser, *, template_required: bool = False) -> None:
    p.add_argument(
        "--template",
        "-t",
        required=template_required,
        help="template name (latest version) or name@version",
    )
    p.add_argument("--spec", help="a JSON job spec file (fields of JobSpec); flags override it")
    p.add_argument(
        "--seeds", "-s", help="seed file, seed-set hash, or sample:NAME (default sample:poetry)"
    )
    p.add_argument("--records", "-n", type=int, help="records to generate (default 20)")
    p.add_argument("--budget", type=float, help="hard budget in US dollars")
    p.add_argument("--budget-tokens", type=int, help="optional hard budget in tokens")
    p.add_argument("--backend", choices=["local", "bedrock"])
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="STEP=MODEL",
        help="model or tier for one step (repeatable)",
    )
    p.add_argument("--tier", help="model or tier for every step without --model")
    p.add_argument("--sampling", choices=["sequential", "with_replacement", "without_replacement"])
    p.add_argument("--seed", type=int, help="sampling/random seed (default 0)")
    p.add_argument("--concurrency", type=int, help="records in flight at once (per worker)")
    p.add_argument(
        "--workers", type=int, help="worker processes sharing the job on this machine (default 1)"
    )
    p.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="MODEL=rpm:N,tpm:N",
        help="the model's quota (repeatable; overrides the rate_limits setting)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        help="cap every step's max_tokens at N (shorter, cheaper outputs; changes records)",
    )
    p.add_argument("--name", help="a label for the job")
    add_mode_option(p)


def _build_spec(args: argparse.Namespace) -> JobSpec:
    data: dict[str, Any] = {}
    if args.spec:
        try:
            raw = read_regular(
                Path(args.spec),
                ConfigError,
                max_bytes=16 * 1024 * 1024,
                what="a job spec",
                fix="Give a JSON file with JobSpec fields.",
            )
            data = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ConfigError(
                f"cannot read job spec {args.spec}: {exc}",
                fix="Give a JSON file with JobSpec fields.",
            ) from None
        for key in ("template_hash", "seeds_format"):
            data.pop(key, None)
    models = dict(data.get("models") or {})
    for item in args.model:
        step, sep, model = item.partition("=")
        if not sep or not step or not model:
            raise ConfigError(
                f"--model {item!r} is not STEP=MODEL", fix="Write e.g. --model answer=premium."
            )
        models[step] = model
    flags = {
        "template": args.template,
        "seeds": args.seeds,
        "records": args.records,
        "budget_usd": args.budget,
        "budget_tokens": args.budget_tokens,
        "backend": args.backend,
        "tier": args.tier,
        "sampling": args.sampling,
        "sampling_seed": args.seed,
        "concurrency": args.concurrency,
        "workers": getattr(args, "workers", None),
        "max_tokens": args.max_tokens,
        "name": args.name,
        "inference_mode": getattr(args, "mode", None),
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    data["models"] = models
    if args.rate_limit:
        data["rate_limits"] = {
            **dict(data.get("rate_limits") or {}),
            **parse_rate_limits("; ".join(args.rate_limit), "--rate-limit"),
        }
    data.setdefault("seeds", "sample:poetry")
    if not data.get("template"):
        raise ConfigError("no template given", fix="Pass --template NAME[@VERSION] or --spec.")
    return JobSpec.from_dict(data)


class _Progress:
    """A tqdm bar on stderr fed by the runner's events."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, event: JobEvent) -> None:
        if not self.enabled or event.kind != "progress":
            return
        d = event.data
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=d["total"],
                initial=d["settled"],
                file=sys.stderr,
                unit="rec",
                dynamic_ncols=True,
                desc=event.job_id[:32],
            )
        self.bar.update(d["settled"] - self.bar.n)
        self.bar.set_postfix_str(
            f"${d['spend_usd']:.4f} ok={d['ok']} filt={d['filtered']} "
            f"fail={d['failed']}"
            + (" stopping" if d["stopping"] else "")
            + (" paused" if d.get("paused") else "")
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _finish(args: argparse.Namespace, result: JobResult) -> int:
    emit(args, result.to_dict(), result.summary())
    if result.state is JobState.INTERRUPTED and "Ctrl-C" in str(
        (result.error or {}).get("message", "")
    ):
        return 130
    return EXIT_BY_STATE[result.state]


def _run_with_progress(
    args: argparse.Namespace, ws: Workspace, job: Any, resume: bool = False, **kwargs: Any
) -> int:
    progress = _Progress(not getattr(args, "json", False) and not args.no_progress)
    try:
        verb = resume_job if resume else run_job
        result = verb(ws, job, on_event=progress, **kwargs)
    finally:
        progress.close()
    return _finish(args, result)


def cmd_run(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    spec = resolve_mode(args, ws, _build_spec(args))
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
            print(_fleet_line(info), file=sys.stderr, flush=True)

    info, codes = run_fleet(ws, job_id, spec.workers or 1, on_progress=show, poll_s=2.0)
    data = {**info.to_dict(), "worker_exit_codes": codes}
    emit(args, data, _status_text(ws, info))
    return EXIT_BY_STATE.get(info.state, 5)


def _fleet_line(info: Any) -> str:
    u = info.units
    return (
        f"{info.job_id}: {info.records_done}/{info.records_total} records, "
        f"{len(info.workers)} live worker(s), units {u.get('done', 0)} done / "
        f"{u.get('leased', 0)} leased / {u.get('left', 0)} left, "
        f"${info.settled_usd:.4f} spent + ${info.leased_usd:.4f} leased"
    )


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
    emit(args, info.to_dict(), _status_text(ws, info))
    return 0


def _status_text(ws: Workspace, info: Any) -> str:
    budget = "none" if info.budget_usd is None else f"${info.budget_usd:.4f}"
    lines = [
        f"job {info.job_id}: {info.state.value}",
        f"  template: {info.template}   records: {info.records_done}/{info.records_total} "
        f"({info.records_ok} ok, {info.records_filtered} filtered, "
        f"{info.records_failed} failed)",
        f"  spend:    ${info.spend_usd:.4f} of {budget} (spent ${info.settled_usd:.4f}, "
        f"leased to workers ${info.leased_usd:.4f}, waste ${info.waste_usd:.4f})",
    ]
    batch = info.bedrock_batch
    if batch:  # waiting on (or just back from) a Bedrock batch job
        counts = batch.get("counts") or {}
        done = (
            f", {counts.get('processed', 0)}/{counts['total']} records processed"
            if counts.get("total")
            else ""
        )
        lines.append(
            f"  bedrock:  {info.activity} — batch job of step {batch.get('step')!r} is "
            f"{batch.get('status')}{done} ({batch.get('arn') or 'not submitted yet'})"
        )
    if info.units:
        u = info.units
        lines.append(
            f"  units:    {u.get('done', 0)} done, {u.get('leased', 0)} leased, "
            f"{u.get('left', 0)} left"
        )
    for w in info.workers:
        c = w.get("counts") or {}
        lines.append(
            f"  worker:   {w['worker']} pid {w['pid']} on {w['host']}: "
            f"{sum(v for k, v in c.items() if k != 'retried')} records, "
            f"{w.get('in_flight', 0)} in flight, {w.get('rate', 0.0):.1f} rec/s"
        )
    if info.aws:
        lines.append(_aws_line(info.aws))
    for entry in job_history(ws.registry, info.job_id, limit=5):  # how the job got here
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["ts"]))
        lines.append(f"  history:  {when} UTC {entry['text']}")
    if info.paused and info.state is JobState.RUNNING:
        lines[0] += f" (paused; `plotpalette unpause {info.job_id}` lets it go on)"
    if info.error:
        lines.append(f"  reason:   {info.error.get('message')}")
        lines.append(f"  fix:      {info.error.get('fix')}")
    if info.state not in (JobState.COMPLETED, JobState.RUNNING, JobState.QUEUED):
        lines.append(f"  resume:   plotpalette --workspace {ws.location} resume {info.job_id}")
    return "\n".join(lines)


def _aws_line(aws: dict[str, Any]) -> str:
    """Where the job's workers run on AWS, and their Batch states (best effort)."""
    line = f"  aws:      Batch job {aws['batch_job_id']}, {aws['workers']} worker(s)"
    try:
        from ..aws.batch import child_states

        states = child_states(aws["batch_job_id"], region=aws.get("region"))
        line += ": " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    except Exception as exc:  # boto errors too: status still prints the registry's view
        line += f" (Batch states unavailable: {type(exc).__name__}: {exc})"
    return line


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
    est = estimate_job(ws, _build_spec(args), max_wait_hours=max_wait_hours(args))
    emit(args, est.to_dict(), est.summary())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    ws = Workspace.open(settings=settings_from_args(args))
    base = _build_spec(args)
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
    progress = _Progress(not getattr(args, "json", False))
    try:
        result = run_job(ws, spec, on_event=progress)
    finally:
        progress.close()
    code = _finish(args, result)
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
    _spec_options(p)
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
    _spec_options(p)
    add_max_wait_option(p)
    p.set_defaults(handler=cmd_estimate)

    p = sub.add_parser(
        "sweep", parents=common, help="run one template across models, seed sets or sizes"
    )
    _spec_options(p)
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
