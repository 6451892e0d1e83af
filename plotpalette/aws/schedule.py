"""Scheduled notebook runs on AWS: EventBridge Scheduler → AWS Batch → papermill.

``plotpalette schedule NOTEBOOK --cron EXPR -p key=value`` uploads the notebook to
``s3://<bucket>/workspace/schedules/<name>/input.ipynb`` and creates a schedule whose
target is the Scheduler's universal target for Batch ``SubmitJob``. Each run is a
Batch job on the stack's queue that installs Plot Palette from the wheelhouse (the
job definition's own bootstrap, read from the deployed definition so there is one
copy of it) and runs ``python -m plotpalette.aws.schedule run``: papermill executes
the notebook with the parameters and writes the executed copy, the **run report**, to
``…/schedules/<name>/runs/<UTC time>.ipynb``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, InfraError

__all__ = [
    "SCHEDULE_PREFIX",
    "create_schedule",
    "delete_schedule",
    "list_schedules",
    "main",
    "parse_params",
    "scheduler_cron",
]

SCHEDULE_PREFIX = "plotpalette-"
BATCH_SUBMIT_TARGET = "arn:aws:scheduler:::aws-sdk:batch:submitJob"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,52}$")


def scheduler_cron(expr: str) -> str:
    """An EventBridge Scheduler ``cron(...)`` expression from 5-field crontab syntax
    (``m h dom mon dow``) or 6-field EventBridge syntax (``m h dom mon dow year``).

    Crontab numbers days of the week 0-7 from Sunday; EventBridge 1-7 from Sunday,
    and wants ``?`` in one of the two day fields; both are converted.
    """
    text = expr.strip()
    if text.startswith("cron(") and text.endswith(")"):
        text = text[5:-1].strip()
    fields = text.split()
    if len(fields) == 5:
        minute, hour, dom, month, dow = fields
        dow = re.sub(r"\d", lambda m: str(int(m.group()) % 7 + 1), dow)
        if dow == "*":
            dow = "?"
        elif dom == "*":
            dom = "?"
        else:
            raise ConfigError(
                f"cron {expr!r} sets both day of month and day of week",
                fix="EventBridge runs on one of them: replace one with *.",
            )
        fields = [minute, hour, dom, month, dow, "*"]
    elif len(fields) != 6:
        raise ConfigError(
            f"cron {expr!r} has {len(fields)} fields",
            fix='Use 5 crontab fields ("0 2 * * *") or 6 EventBridge fields ("0 2 * * ? *").',
        )
    if "?" not in (fields[2], fields[4]):
        raise ConfigError(
            f"cron {expr!r}: EventBridge needs ? in day-of-month or day-of-week",
            fix='For example "0 2 * * ? *" (every day at 02:00 UTC).',
        )
    return f"cron({' '.join(fields)})"


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``["records=50", "tier=cheap"]`` → ``{"records": 50, "tier": "cheap"}`` (values
    read as YAML scalars, like papermill's ``-y``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"parameter {pair!r} is not key=value", fix="Use -p records=50.")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        out[key.strip()] = parsed if isinstance(parsed, (str, int, float, bool)) else value
    return out


def _bootstrap(batch: Any, job_definition: str) -> list[str]:
    """The job definition's ``sh -c <bootstrap> <$0>`` prefix (without the worker)."""
    found = batch.describe_job_definitions(jobDefinitions=[job_definition])["jobDefinitions"]
    if not found:
        raise InfraError(
            f"job definition {job_definition} not found", fix="Deploy the stack again."
        )
    command = found[0]["containerProperties"]["command"]
    return list(command[:4])


def create_schedule(
    notebook: Path,
    *,
    cron: str,
    aws: Mapping[str, str],
    clients: Callable[[str], Any],
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    timezone: str = "UTC",
) -> dict[str, str]:
    """Upload ``notebook`` and create (or replace) its schedule; returns its details.

    ``aws`` is the workspace config's ``aws:`` section written by ``plotpalette deploy``.
    """
    needed = ("bucket", "job_queue", "job_definition", "scheduler_role_arn")
    missing = [k for k in needed if k not in aws]
    if missing:
        raise InfraError(
            f"the workspace config lacks aws.{', aws.'.join(missing)}",
            fix="Run `plotpalette deploy` (it writes them) or `plotpalette outputs --write`.",
        )
    if not notebook.is_file() or notebook.suffix != ".ipynb":
        raise ConfigError(f"{notebook} is not a notebook file", fix="Pass a .ipynb path.")
    base = name or notebook.stem
    if not _NAME.match(base):
        raise ConfigError(
            f"schedule name {base!r} is not allowed",
            fix="Use --name with letters, digits, '.', '_' or '-' (up to 52).",
        )
    full = base if base.startswith(SCHEDULE_PREFIX) else SCHEDULE_PREFIX + base
    expression = scheduler_cron(cron)
    bucket = aws["bucket"]
    folder = f"workspace/schedules/{full}"
    s3 = clients("s3")
    s3.put_object(Bucket=bucket, Key=f"{folder}/input.ipynb", Body=notebook.read_bytes())
    command = [
        *_bootstrap(clients("batch"), aws["job_definition"]),
        "python",
        "-m",
        "plotpalette.aws.schedule",
        "run",
        f"s3://{bucket}/{folder}/input.ipynb",
        f"s3://{bucket}/{folder}/runs/",
        "--params-json",
        json.dumps(dict(params or {}), sort_keys=True),
    ]
    submit = {
        "JobName": full[:128],
        "JobQueue": aws["job_queue"],
        "JobDefinition": aws["job_definition"],
        "ContainerOverrides": {"Command": command},
        "Tags": {"plotpalette:schedule": full},
    }
    scheduler = clients("scheduler")
    request = {
        "Name": full,
        "GroupName": "default",
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Description": f"Plot Palette: papermill {notebook.name} on Batch",
        "Target": {
            "Arn": BATCH_SUBMIT_TARGET,
            "RoleArn": aws["scheduler_role_arn"],
            "Input": json.dumps(submit),
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
        },
    }
    existing = {s["name"] for s in list_schedules(clients=clients)}
    (scheduler.update_schedule if full in existing else scheduler.create_schedule)(**request)
    return {
        "name": full,
        "expression": expression,
        "timezone": timezone,
        "notebook": f"s3://{bucket}/{folder}/input.ipynb",
        "reports": f"s3://{bucket}/{folder}/runs/",
        "params": json.dumps(dict(params or {}), sort_keys=True),
    }


def list_schedules(*, clients: Callable[[str], Any]) -> list[dict[str, str]]:
    """Plot Palette's schedules (names starting ``plotpalette-``), with their targets."""
    scheduler = clients("scheduler")
    out = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"NamePrefix": SCHEDULE_PREFIX, "GroupName": "default"}
        if token:
            kwargs["NextToken"] = token
        page = scheduler.list_schedules(**kwargs)
        for item in page.get("Schedules", []):
            detail = scheduler.get_schedule(Name=item["Name"], GroupName="default")
            try:
                command = json.loads(detail["Target"].get("Input") or "{}")
                command = command.get("ContainerOverrides", {}).get("Command", [])
            except ValueError:
                command = []
            run = command[command.index("run") + 1 :] if "run" in command else []
            out.append(
                {
                    "name": item["Name"],
                    "state": detail.get("State", item.get("State", "")),
                    "expression": detail.get("ScheduleExpression", ""),
                    "timezone": detail.get("ScheduleExpressionTimezone", "UTC"),
                    "notebook": run[0] if run else "",
                    "reports": run[1] if len(run) > 1 else "",
                    "params": run[3] if len(run) > 3 else "{}",
                }
            )
        token = page.get("NextToken")
        if not token:
            return sorted(out, key=lambda s: s["name"])


def delete_schedule(name: str, *, clients: Callable[[str], Any]) -> str:
    """Delete a schedule (the notebook and its run reports stay in the bucket)."""
    full = name if name.startswith(SCHEDULE_PREFIX) else SCHEDULE_PREFIX + name
    known = {s["name"] for s in list_schedules(clients=clients)}
    if full not in known:
        raise InfraError(
            f"no schedule named {full}", fix="List them with `plotpalette schedule list`."
        )
    clients("scheduler").delete_schedule(Name=full, GroupName="default")
    return full


def run_scheduled(input_url: str, reports_url: str, params: Mapping[str, Any]) -> str:
    """Execute one scheduled run with papermill (on the worker); returns the report URL."""
    import papermill

    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    output = reports_url.rstrip("/") + f"/{stamp}.ipynb"
    if "://" not in reports_url:  # a local folder (S3 has no folders to create)
        Path(reports_url).mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(input_url, output, parameters=dict(params), log_output=True)
    return output


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m plotpalette.aws.schedule run INPUT REPORTS --params-json JSON``."""
    parser = argparse.ArgumentParser(prog="python -m plotpalette.aws.schedule")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a scheduled notebook with papermill")
    run.add_argument("input")
    run.add_argument("reports")
    run.add_argument("--params-json", default="{}")
    args = parser.parse_args(argv)
    report = run_scheduled(args.input, args.reports, json.loads(args.params_json))
    print(f"run report: {report}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
