"""``plotpalette schedule`` (EventBridge Scheduler runs on Batch) and
``plotpalette metrics JOB_ID`` (a job's CloudWatch metrics)."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import ConfigError
from .common import common_options, emit
from .stack import aws_options, resolve


def register(sub: argparse._SubParsersAction) -> None:
    common = [common_options(), aws_options(env=True)]
    p = sub.add_parser(
        "schedule",
        parents=common,
        help="run a notebook on a schedule on AWS (NOTEBOOK --cron ...; list; delete NAME)",
        description="plotpalette schedule NOTEBOOK --cron EXPR [-p key=value ...] | "
        "plotpalette schedule list | plotpalette schedule delete NAME",
    )
    p.add_argument("target", help="a notebook path, or 'list' / 'delete'")
    p.add_argument("name", nargs="?", help="the schedule to delete")
    p.add_argument("--cron", help='"0 2 * * *" (crontab) or "0 2 * * ? *" (EventBridge)')
    p.add_argument("--timezone", default="UTC", help="IANA time zone of the cron expression")
    p.add_argument("--as", dest="schedule_name", help="schedule name (default: notebook name)")
    p.add_argument(
        "-p", "--param", action="append", default=[], help="notebook parameter key=value"
    )
    p.set_defaults(handler=run_schedule)

    p = sub.add_parser("metrics", parents=common, help="a job's CloudWatch metrics (AWS workers)")
    p.add_argument("job_id")
    p.add_argument("--days", type=float, default=14.0, help="how far back to look (default 14)")
    p.set_defaults(handler=run_metrics)


def run_schedule(args: argparse.Namespace) -> int:
    from ..aws.schedule import create_schedule, delete_schedule, list_schedules, parse_params

    settings, _, clients = resolve(args)
    if args.target == "list":
        rows = list_schedules(clients=clients)
        text = "\n".join(
            f"{r['name']:<32} {r['state']:<9} {r['expression']} {r['timezone']}  {r['notebook']}"
            for r in rows
        )
        emit(args, rows, text or "no schedules")
        return 0
    if args.target == "delete":
        if not args.name:
            raise ConfigError("schedule delete needs a NAME", fix="plotpalette schedule list")
        gone = delete_schedule(args.name, clients=clients)
        emit(args, {"deleted": gone}, f"deleted {gone} (its notebook and reports stay in S3)")
        return 0
    if not args.cron:
        raise ConfigError("schedule NOTEBOOK needs --cron", fix='Add --cron "0 2 * * *".')
    info = create_schedule(
        Path(args.target),
        cron=args.cron,
        aws=settings.aws,
        clients=clients,
        params=parse_params(args.param),
        name=args.schedule_name,
        timezone=args.timezone,
    )
    text = (
        f"schedule {info['name']}: {info['expression']} {info['timezone']}\n"
        f"notebook: {info['notebook']}\nreports:  {info['reports']}<UTC time>.ipynb"
    )
    emit(args, info, text)
    return 0


def run_metrics(args: argparse.Namespace) -> int:
    from ..aws.metrics import job_metrics

    _, stack, clients = resolve(args)
    end = datetime.now(timezone.utc)
    data = job_metrics(
        args.job_id,
        stack=stack,
        cloudwatch=clients("cloudwatch"),
        start=end - timedelta(days=args.days),
        end=end,
    )
    t = data["totals"]
    lat = data["latency_ms"]
    text = "\n".join(
        [
            f"job {args.job_id} on {stack} (last {args.days:g} days)",
            f"records   ok {t['RecordsOk']:.0f}  failed {t['RecordsFailed']:.0f}  "
            f"filtered {t['RecordsFiltered']:.0f}",
            f"calls     {t['Calls']:.0f}  throttles {t['Throttles']:.0f}  "
            f"client errors {t['ClientErrors']:.0f}",
            f"tokens    in {t['InputTokens']:.0f}  out {t['OutputTokens']:.0f}",
            f"cost      ${t['CostUSD']:.6f}",
            "latency   "
            + (
                f"average {lat['average']:.0f} ms  max {lat['maximum']:.0f} ms"
                if lat["average"] is not None and lat["maximum"] is not None
                else "no data"
            ),
        ]
    )
    emit(args, data, text)
    return 0
