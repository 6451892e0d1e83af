"""The smoke test after deploy: one small job through the whole deployed stack.

>>> report = run_smoke("s3://BUCKET/workspace?table=TABLE")   # doctest: +SKIP
>>> print(report.summary())                                    # doctest: +SKIP

:func:`run_smoke` submits a ``records``-record job on ``workers`` AWS Batch workers,
waits for it to end, exports it and reads its costs back, checking each step. The
first step that fails raises :class:`SmokeTestError`, which names the step and how to
fix it. ``notebooks/smoke.ipynb`` calls it; ``plotpalette smoke`` runs that notebook.

On AWS the workers are real Batch jobs and this only follows the registry. With
``simulate_batch=True`` (for moto's server, which records Batch jobs but runs
nothing) the submitted children are run here as local worker processes by
:class:`plotpalette.testing.batch_sim.BatchSimulator`; everything else — the stack,
S3, DynamoDB and the Bedrock calls (to the emulator when
``PLOTPALETTE_BEDROCK_ENDPOINT_URL`` points at it) — goes through the real clients.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import PlotPaletteError, SmokeTestError

__all__ = ["SmokeReport", "from_kernel", "run_smoke"]

TERMINAL = {"COMPLETED", "FAILED", "BUDGET_EXCEEDED", "CANCELLED", "INTERRUPTED"}


def _failed(step: str, message: str, *, fix: str | None = None) -> SmokeTestError:
    return SmokeTestError(f"smoke test failed at step '{step}': {message}", fix=fix, step=step)


def from_kernel(ename: str, evalue: str, *, report: str) -> SmokeTestError:
    """Rebuild the error the notebook's kernel raised (its text: ``message — fix``)."""
    message, _, fix = evalue.rpartition(" — ")
    prefix = "smoke test failed at step '"
    if ename == SmokeTestError.__name__ and message.startswith(prefix):
        step = message[len(prefix) :].partition("'")[0]
        return SmokeTestError(message, fix=f"{fix} The report notebook is {report}.", step=step)
    return _failed(
        "notebook",
        f"{ename}: {evalue}",
        fix=f"Read the traceback in the report notebook {report}.",
    )


@dataclass
class SmokeReport:
    """What the smoke test did, step by step (seconds each), and what it checked."""

    workspace: str
    job_id: str = ""
    batch_job_id: str = ""
    state: str = ""
    records_ok: int = 0
    spend_usd: float = 0.0
    budget_usd: float = 0.0
    export_path: str = ""
    export_rows: int = 0
    simulated_batch: bool = False
    steps: dict[str, float] = field(default_factory=dict)
    costs: Any = None  # the job's row of analytics.job_costs (a DataFrame)

    def summary(self) -> str:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in self.steps.items())
        where = "local worker processes (Batch simulated)" if self.simulated_batch else "AWS Batch"
        return (
            f"smoke test passed on {self.workspace}\n"
            f"  job:     {self.job_id} {self.state}, {self.records_ok} records ok, "
            f"workers on {where} ({self.batch_job_id})\n"
            f"  spend:   ${self.spend_usd:.6f} of ${self.budget_usd:.4f}\n"
            f"  export:  {self.export_rows} rows at {self.export_path}\n"
            f"  steps:   {steps}"
        )


@contextmanager
def _step(report: SmokeReport, name: str, fix: str) -> Iterator[None]:
    """Time a step; any error in it becomes a SmokeTestError naming the step."""
    started = time.monotonic()
    try:
        yield
    except SmokeTestError:
        raise
    except PlotPaletteError as exc:
        raise _failed(name, exc.message, fix=exc.fix) from exc
    except Exception as exc:  # boto3/network/pandas errors: still name the step
        raise _failed(name, f"{type(exc).__name__}: {exc}", fix=fix) from exc
    report.steps[name] = time.monotonic() - started


def _wait(ws: Any, job_id: str, batch_job_id: str | None, timeout_s: float, poll_s: float) -> Any:
    """Poll the registry until the job ends. With ``batch_job_id`` also stop early when
    every Batch child has ended but the job has not (workers that never started)."""
    from ..jobs.api import job_status
    from .batch import BatchTarget, child_states

    deadline = time.monotonic() + timeout_s
    batch_ended = False
    while True:
        info = job_status(ws, job_id)
        if info.state.value in TERMINAL:
            return info
        if batch_ended:  # checked once more after Batch said every child ended
            raise _failed(
                "workers",
                f"every Batch child of {batch_job_id} ended but job {job_id} is {info.state.value}",
                fix="The workers failed before reaching the registry: read their logs in "
                "the stack's CloudWatch log group (image pull, wheelhouse, IAM).",
            )
        if time.monotonic() > deadline:
            raise _failed(
                "workers",
                f"job {job_id} still {info.state.value} after {timeout_s:.0f} s",
                fix="Check the Batch queue in the console (RUNNABLE jobs wait for capacity) "
                "and the workers' logs in CloudWatch; raise --timeout for a busy queue.",
            )
        if batch_job_id:
            states = child_states(batch_job_id, region=BatchTarget.for_workspace(ws).region)
            batch_ended = bool(states) and set(states) <= {"SUCCEEDED", "FAILED"}
        time.sleep(poll_s)


def _simulate(ws: Any, batch_job_id: str, timeout_s: float) -> None:
    from ..testing.batch_sim import BatchSimulator
    from .batch import BatchTarget
    from .session import aws_client

    env = {}
    if os.environ.get("PLOTPALETTE_BEDROCK_ENDPOINT_URL"):
        env["PLOTPALETTE_BEDROCK_ENDPOINT_URL"] = os.environ["PLOTPALETTE_BEDROCK_ENDPOINT_URL"]
    batch = aws_client("batch", region=BatchTarget.for_workspace(ws).region)
    BatchSimulator(batch, batch_job_id, env=env).run(timeout_s=timeout_s)


def run_smoke(
    workspace: str,
    *,
    template: str = "question_answer",
    seeds: str = "sample:poetry",
    records: int = 20,
    workers: int = 2,
    budget_usd: float = 0.5,
    export_dest: str | None = None,
    simulate_batch: bool = False,
    bedrock_endpoint_url: str | None = None,
    timeout_s: float = 1800.0,
    poll_s: float = 5.0,
    echo: Callable[[str], None] = print,
) -> SmokeReport:
    """Run the smoke test; returns its report or raises :class:`SmokeTestError`.

    ``bedrock_endpoint_url`` (e.g. the Bedrock emulator's) is set as
    ``PLOTPALETTE_BEDROCK_ENDPOINT_URL`` for this process and the simulated workers;
    real Batch workers take the job definition's environment instead.
    """
    from ..analytics import job_costs
    from ..export.api import export_job
    from ..jobs.remote import submit_job
    from ..jobs.spec import JobSpec
    from ..workspace import Workspace

    if bedrock_endpoint_url:
        os.environ["PLOTPALETTE_BEDROCK_ENDPOINT_URL"] = bedrock_endpoint_url
    report = SmokeReport(workspace, budget_usd=budget_usd, simulated_batch=simulate_batch)
    with _step(report, "workspace", "Pass the stack's workspace (`plotpalette outputs`)."):
        if not workspace.startswith("s3://"):
            raise _failed(
                "workspace",
                f"the smoke test needs the stack's s3:// workspace, not {workspace!r}",
                fix="Pass --workspace with aws.workspace from `plotpalette outputs`.",
            )
        if simulate_batch and not os.environ.get("AWS_ENDPOINT_URL"):
            raise _failed(
                "workspace",
                "simulate_batch runs the workers locally and is for moto's server only",
                fix="Drop --simulate-batch on AWS, or set AWS_ENDPOINT_URL to moto's server.",
            )
        ws = Workspace.open(workspace)
        ws.registry.list()  # reaches the DynamoDB registry
    echo(f"workspace: {ws.location}")

    queue_fix = "Check the stack's queue and job definition (`plotpalette outputs`)."
    with _step(report, "submit", queue_fix):
        spec = JobSpec(
            template=template,
            seeds=seeds,
            records=records,
            budget_usd=budget_usd,
            runtime="aws",
            workers=workers,
            name="smoke-test",
        )
        sub = submit_job(ws, spec, workers=workers)
        report.job_id, report.batch_job_id = sub.job_id, sub.batch_job_id
    echo(f"submitted: job {sub.job_id} as Batch job {sub.batch_job_id} ({workers} workers)")

    with _step(report, "workers", "Read the workers' logs (CloudWatch group of the stack)."):
        if simulate_batch:
            _simulate(ws, sub.batch_job_id, timeout_s)
            info = _wait(ws, sub.job_id, None, timeout_s, 0.2)
        else:  # real Batch: follow the registry, and Batch in case no worker starts
            info = _wait(ws, sub.job_id, sub.batch_job_id, timeout_s, poll_s)
        report.state, report.records_ok = info.state.value, info.records_ok
        report.spend_usd = info.spend_usd
        if info.state.value != "COMPLETED" or info.records_ok < records:
            error = info.error or {}
            raise _failed(
                "workers",
                f"job {sub.job_id} ended {info.state.value} with {info.records_ok} of "
                f"{records} records ok" + (f": {error['message']}" if error.get("message") else ""),
                fix=error.get("fix")
                or "Run `plotpalette status JOB_ID` and read the workers' logs in CloudWatch.",
            )
    echo(f"job: {info.state.value}, {info.records_ok} records ok, ${info.spend_usd:.6f}")

    with _step(report, "export", "Check write access to the workspace bucket."):
        result = export_job(ws, sub.job_id, export_dest, format="jsonl", overwrite=True)
        report.export_path, report.export_rows = result.dest, int(result.rows)
        if report.export_rows != info.records_ok:
            raise _failed(
                "export",
                f"exported {report.export_rows} rows for {info.records_ok} ok records",
                fix="Export again with `plotpalette export JOB_ID`; report a bug if it recurs.",
            )
    echo(f"export: {report.export_rows} rows at {report.export_path}")

    with _step(report, "costs", "Check read access to the workspace's records."):
        costs = job_costs(ws, [sub.job_id])
        row = costs.iloc[0]
        if not 0 < float(row["spend_usd"]) <= budget_usd:
            raise _failed(
                "costs",
                f"spend ${float(row['spend_usd']):.6f} is outside (0, {budget_usd}]",
                fix="Check the price table (`plotpalette models`) for the job's model.",
            )
        report.costs = costs
    spent, on_records = float(row["spend_usd"]), float(row["records_cost_usd"])
    echo(f"costs: ${spent:.6f} spent, ${on_records:.6f} on the stored records")
    return report
