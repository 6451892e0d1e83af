"""``plotpalette export`` and ``plotpalette costs``."""

from __future__ import annotations

import argparse
import json

from .common import common_options, emit, settings_from_args

__all__ = ["register"]


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        parents=[common_options()],
        help="export a job's records (any state) to Parquet, JSONL, CSV or a HF dataset",
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--format", default="parquet", choices=["parquet", "jsonl", "csv", "hf"])
    p.add_argument(
        "--dest", help="output folder or s3://bucket/prefix (default: jobs/<id>/exports/<format>/)"
    )
    p.add_argument("--columns", help="exactly these columns, comma-separated, in order")
    p.add_argument(
        "--metadata",
        help="metadata columns/groups, comma-separated "
        "(default: record_id,index,seed_index,status,error,flags,models,tokens,cost)",
    )
    p.add_argument("--json-columns", help="columns to store as JSON text, comma-separated")
    p.add_argument(
        "--include-prompts", action="store_true", help="add <step>_system and <step>_prompt columns"
    )
    p.add_argument(
        "--all-statuses",
        action="store_true",
        help="export failed and filtered records too (default: ok only)",
    )
    p.add_argument("--partition-by", help="a column or 'date': Hive folders col=value/")
    p.add_argument("--shard-size", type=int, help="at most this many rows per file")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export")
    p.add_argument("--license", default="other", help="licence id for the dataset card")
    p.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="with --format hf: upload to this Hub dataset repo (needs HF_TOKEN)",
    )
    p.add_argument("--public", action="store_true", help="with --push-to-hub: a public repo")
    p.add_argument(
        "--where",
        metavar="FILTER",
        help="quality filter, e.g. 'min_score=4,unique,no_flags,not_rejected' "
        "(see plotpalette quality)",
    )
    p.set_defaults(handler=run_export)

    c = sub.add_parser(
        "costs",
        parents=[common_options()],
        help="spend across jobs by job, model, day, step or template version",
    )
    c.add_argument(
        "--by", default="job", choices=["job", "model", "day", "step", "template", "status"]
    )
    c.add_argument(
        "--job", action="append", dest="jobs", metavar="JOB_ID", help="only this job (repeatable)"
    )
    c.add_argument("--since", help="from this day (YYYY-MM-DD)")
    c.add_argument("--until", help="up to this day (YYYY-MM-DD, inclusive)")
    c.set_defaults(handler=run_costs)


def run_export(args: argparse.Namespace) -> int:
    from ..export import export_job
    from ..workspace import Workspace

    ws = Workspace.open(settings=settings_from_args(args))
    result = export_job(
        ws,
        args.job_id,
        args.dest,
        format=args.format,
        columns=_names(args.columns),
        metadata=_names(args.metadata),
        json_columns=_names(args.json_columns) or (),
        include_prompts=args.include_prompts,
        only_ok=not args.all_statuses,
        partition_by=args.partition_by,
        shard_size=args.shard_size,
        overwrite=args.overwrite,
        license=args.license,
        push_to_hub=args.push_to_hub,
        private=not args.public,
        where=args.where,
    )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())) or "no rows"
    lines = [
        f"exported {result.rows} rows of job {result.job_id} ({result.job_state}) as "
        f"{result.format}: {counts}",
        f"  to:      {result.dest}  ({len(result.files)} file(s))",
        f"  columns: {', '.join(result.columns)}",
        f"  card:    {result.card_path}",
    ]
    if result.hub_url:
        lines.append(f"  hub:     {result.hub_url}")
    emit(args, result.to_dict(), "\n".join(lines))
    return 0


def run_costs(args: argparse.Namespace) -> int:
    from ..analytics import cost_facts, costs_by, filter_facts, job_costs
    from ..workspace import Workspace

    ws = Workspace.open(settings=settings_from_args(args))
    facts = filter_facts(cost_facts(ws, args.jobs), since=args.since, until=args.until)
    if args.by == "job":
        table = job_costs(ws, args.jobs, facts=facts)
        if args.since or args.until:
            table = table[table["job_id"].isin(set(facts["job_id"]))]
        cols = [
            "job_id",
            "state",
            "template",
            "records_ok",
            "budget_usd",
            "spend_usd",
            "spend_per_accepted_usd",
            "accepted_per_dollar",
            "budget_used",
        ]
    else:
        table = costs_by(facts, args.by)
        cols = [
            *table.columns[: len(table.columns) - 6],
            "calls",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "share",
        ]
    if getattr(args, "json", False):
        print(json.dumps(json.loads(table.to_json(orient="records")), indent=2))
        return 0
    if table.empty:
        print("no jobs with costs in this workspace")
        return 0
    total = float(facts["cost_usd"].sum())
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    print(f"total: ${total:.6f}")
    return 0
