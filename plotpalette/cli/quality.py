"""``plotpalette quality`` (report, agreement) and ``plotpalette judge`` (LLM judge)."""

from __future__ import annotations

import argparse
import json
import sys

from .common import common_options, emit, settings_from_args

__all__ = ["register"]


def _sample(text: str | None) -> int | float | None:
    if text is None:
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        msg = f"--sample {text!r}: a count (50) or a fraction (0.1)"
        raise argparse.ArgumentTypeError(msg) from None


def register(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser(
        "quality",
        parents=[common_options()],
        help="quality report: duplicates, diversity, lengths, flags, seed coverage, judge",
    )
    q.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="one job, or several to compare")
    q.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="near-duplicate Jaccard similarity (default 0.6)",
    )
    q.add_argument("--save", action="store_true", help="store the report; exports' cards show it")
    q.add_argument(
        "--costs",
        nargs="?",
        const="unique,no_flags",
        metavar="FILTER",
        help="also print $ per accepted record and waste (accepted = passes FILTER, "
        "default 'unique,no_flags')",
    )
    q.set_defaults(handler=run_quality)

    j = sub.add_parser(
        "judge",
        parents=[common_options()],
        help="score a job's records with an LLM judge (a budgeted, resumable job)",
    )
    j.add_argument("job_id", metavar="JOB_ID", help="the job whose records are judged")
    j.add_argument("--rubric", default="judge_overall", help="rubric template NAME[@VERSION]")
    j.add_argument("--sample", type=_sample, help="judge N records or a fraction (default: all)")
    j.add_argument("--seed", type=int, default=0, help="sampling seed")
    who = j.add_mutually_exclusive_group()
    who.add_argument("--tier", choices=["cheap", "balanced", "premium"], help="judge model tier")
    who.add_argument("--model", help="judge model id")
    j.add_argument("--budget", type=float, help="hard budget in USD for the judge")
    j.add_argument("--backend", choices=["local", "bedrock"], help="default: the job's backend")
    j.set_defaults(handler=run_judge)


def run_quality(args: argparse.Namespace) -> int:
    from ..quality import agreement, judge_jobs, load_labels, quality_costs, quality_report
    from ..quality.dedup import DEFAULT_THRESHOLD
    from ..workspace import Workspace

    ws = Workspace.open(settings=settings_from_args(args))
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    report = quality_report(ws, args.job_ids, threshold=threshold)
    data = report.to_dict()
    text = [report.summary()]
    if args.save:
        keys = report.save(ws)
        text.append(f"  saved:      {', '.join(keys)}")
    agreements = {}
    for job_id in args.job_ids:
        if judge_jobs(ws, job_id) and len(load_labels(ws, job_id)):
            found = agreement(ws, job_id)
            agreements[job_id] = found.to_dict()
            text.append(f"agreement of reviewer and judge on {job_id}:")
            text.append("\n".join("  " + line for line in found.summary().splitlines()))
    data["agreement"] = agreements
    if args.costs:
        table = quality_costs(ws, args.job_ids, where=args.costs)
        data["costs"] = json.loads(table.to_json(orient="records"))
        cols = ["by", "group", "ok", "accepted", "usd_per_accepted", "waste_usd"]
        text.append(f"cost x quality (accepted = {args.costs}):")
        text.append(table[cols].to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    emit(args, data, "\n".join(text))
    return 0


def run_judge(args: argparse.Namespace) -> int:
    from ..jobs.states import EXIT_BY_STATE
    from ..quality import judge, judge_scores
    from ..workspace import Workspace

    ws = Workspace.open(settings=settings_from_args(args))
    run = judge(
        ws,
        args.job_id,
        args.rubric,
        sample=args.sample,
        seed=args.seed,
        tier=args.tier,
        model=args.model,
        budget_usd=args.budget,
        backend=args.backend,
    )
    assert run.result is not None
    scores = judge_scores(ws, args.job_id, run.job_id)
    valid = scores[scores["valid"]]
    mean = float(valid["score"].mean()) if len(valid) else float("nan")
    data = {**run.to_dict(), "judged": len(scores), "valid": len(valid), "mean_score": mean}
    lines = [
        f"judge {run.job_id} ({run.rubric}) on job {args.job_id}: {run.result.state.value}",
        f"  records: {len(scores)} of {run.records} judged, {len(valid)} valid replies, "
        f"{len(scores) - len(valid)} invalid; mean score {mean:.3g}",
        f"  spend:   ${run.result.spend_usd:.6f}",
    ]
    if run.result.resume_command:
        lines.append(f"  resume:  {run.result.resume_command}")
    emit(args, data, "\n".join(lines))
    sys.stdout.flush()
    return EXIT_BY_STATE[run.result.state]
