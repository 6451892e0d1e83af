"""What the job verbs print: the progress bar, the fleet's progress line, ``status``'s
text and the exit code of a finished run."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..jobs import JobEvent, JobResult, JobState
from ..jobs.events import job_history
from ..jobs.states import EXIT_BY_STATE
from ..workspace import Workspace
from .common import emit

__all__ = ["Progress", "finish", "fleet_line", "status_text"]


class Progress:
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


def finish(args: argparse.Namespace, result: JobResult) -> int:
    """Print ``result``; the exit code (130 after Ctrl-C, else by the job's state)."""
    emit(args, result.to_dict(), result.summary())
    if result.state is JobState.INTERRUPTED and "Ctrl-C" in str(
        (result.error or {}).get("message", "")
    ):
        return 130
    return EXIT_BY_STATE[result.state]


def fleet_line(info: Any) -> str:
    """One progress line for ``run --workers N``, from the registry's view of the job."""
    u = info.units
    return (
        f"{info.job_id}: {info.records_done}/{info.records_total} records, "
        f"{len(info.workers)} live worker(s), units {u.get('done', 0)} done / "
        f"{u.get('leased', 0)} leased / {u.get('left', 0)} left, "
        f"${info.settled_usd:.4f} spent + ${info.leased_usd:.4f} leased"
    )


def status_text(ws: Workspace, info: Any) -> str:
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
        lines.append(aws_line(info.aws))
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


def aws_line(aws: dict[str, Any]) -> str:
    """Where the job's workers run on AWS, and their Batch states (best effort)."""
    line = f"  aws:      Batch job {aws['batch_job_id']}, {aws['workers']} worker(s)"
    try:
        from ..aws.batch import child_states

        states = child_states(aws["batch_job_id"], region=aws.get("region"))
        line += ": " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    except Exception as exc:  # boto errors too: status still prints the registry's view
        line += f" (Batch states unavailable: {type(exc).__name__}: {exc})"
    return line
