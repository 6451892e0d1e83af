"""The public verbs: create, run, resume, cancel, inspect and estimate jobs.

>>> from plotpalette.jobs import JobSpec, run_job
>>> result = run_job("~/pp", JobSpec(template="question_answer", seeds="sample:poetry",
...                                  records=20, budget_usd=0.0))   # doctest: +SKIP
>>> result.state, result.records_path                               # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from .. import layout
from .._sync import run_sync
from ..errors import ConfigError, JobStateError
from ..workspace import Workspace
from .coordination.finalize import finalize
from .events import EventCallback, JobControls
from .execute import RecordExecutor
from .loader import load_job, step_plans, store_job
from .ops_hooks import OpsHooks
from .preflight import apply_job_limits, backend_region
from .registry import JobInfo
from .result import JobResult, combine_outcomes, job_result
from .runner import Runner, RunOptions, RunOutcome
from .sampling import Sampler
from .signals import stop_on_signals
from .spec import JobSpec, fingerprint
from .states import JobState

__all__ = [
    "JobResult",
    "cancel_job",
    "create_job",
    "job_status",
    "list_jobs",
    "resume_job",
    "run_job",
]

_UNSET: Any = ...


def _workspace(workspace: Workspace | str | Path) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(str(workspace))


def create_job(
    workspace: Workspace | str | Path,
    spec: JobSpec,
    *,
    job_id: str | None = None,
    sweep_id: str | None = None,
    backend: Any = None,
) -> str:
    """Resolve and store a job (state QUEUED); returns its id (``sweep_id`` links the
    jobs of one :func:`~plotpalette.jobs.sweep.run_sweep`).

    A bare template name is pinned to its latest version now and recorded as
    ``name@version``; the resolved template is snapshotted into the job's folder and
    the seeds are stored by content hash. ``inference_mode="auto"`` is resolved to
    ``"batch"`` or ``"on-demand"`` now (see
    :func:`~plotpalette.jobs.inference.resolve_inference_mode`; ``backend`` counts the
    estimate's tokens), and a ``"batch"`` job that cannot batch is refused.
    """
    ws = _workspace(workspace)
    if spec.inference_mode != "on-demand":
        from .inference import resolve_inference_mode

        spec = resolve_inference_mode(ws, spec, backend=backend)
    job_id, resolved, fp = store_job(ws, spec, job_id=job_id, batch_id=sweep_id)
    try:
        ws.registry.create_job(
            job_id,
            spec=resolved.to_dict(),
            fingerprint=fp,
            template=resolved.template,
            records_total=resolved.records,
            name=resolved.name,
            batch_id=sweep_id,  # the registry's column for the sweep id
        )
    except JobStateError:
        # the id belongs to a deleted job: the files store_job just wrote are ours
        for key in ws.store.list(layout.job_prefix(job_id)):
            ws.store.delete(key)
        raise
    return job_id


def _build_backend(ws: Workspace, spec: JobSpec, backend: Any) -> Any:
    if backend is not None:
        return backend
    from ..llm import make_backend

    settings = ws.settings
    if spec.backend and spec.backend != settings.backend:
        settings = settings.replace(backend=spec.backend)
    return make_backend(settings)


def _execute(
    ws: Workspace,
    job_id: str,
    *,
    backend: Any,
    on_event: EventCallback | None,
    controls: JobControls,
    options: RunOptions | None,
    budget_usd: Any,
    budget_tokens: Any,
    handle_signals: bool,
    workers: int | None = None,
) -> JobResult:
    from ..llm import PriceTable

    loaded = load_job(ws, job_id)
    spec = loaded.spec
    _check_fingerprint(ws, job_id, loaded)
    backend = _build_backend(ws, spec, backend)
    opts = options or RunOptions()
    if options is None:
        opts.concurrency = spec.concurrency or ws.settings.concurrency
    count = max(1, workers or spec.workers or 1)
    # the workers in this loop share the backend: it may have all their calls in flight
    apply_job_limits(backend, opts.concurrency * count, spec.rate_limits)
    prices = PriceTable.load(ws.settings.price_overrides, region=backend_region(backend))
    plans = step_plans(loaded, backend)
    sampler = Sampler(spec.sampling, len(loaded.rows), spec.sampling_seed)
    from .batch import options_for_job

    batch = options_for_job(ws, spec, backend)  # None unless inference_mode == "batch"
    if batch is not None:
        count = 1  # one process follows the batch jobs; others would only wait
    ops = OpsHooks.from_settings(ws.settings)  # EMF metrics, end-of-job notification

    def make_executor(governor: Any) -> RecordExecutor:
        return RecordExecutor(
            job_id=job_id,
            renderer=loaded.renderer,
            plans=plans,
            rows=loaded.rows,
            sampler=sampler,
            sampling_seed=spec.sampling_seed,
            backend=backend,
            prices=prices,
            governor=governor,
            policies=spec.check_policies,
        )

    def runner() -> Runner:
        return Runner(
            job_id=job_id,
            store=ws.store,
            registry=ws.registry,
            make_executor=make_executor,
            backend=backend,
            options=opts,
            controls=controls,
            on_event=on_event,
            error_window=spec.error_window,
            error_threshold=spec.error_threshold,
            budget_usd=budget_usd,
            budget_tokens=budget_tokens,
            price_table=prices.version,
            batch=batch,
            ops=ops,
        )

    async def main() -> list[RunOutcome]:
        # N workers in this loop share the backend; each has its own units and lease
        runners = [runner() for _ in range(count)]
        if handle_signals:
            with stop_on_signals(asyncio.get_running_loop(), controls):
                return list(await asyncio.gather(*(r.run() for r in runners)))
        return list(await asyncio.gather(*(r.run() for r in runners)))

    outcomes = run_sync(
        main(),
        name=f"plotpalette-{job_id}",
        on_interrupt=lambda: controls.interrupt("interrupted by KeyboardInterrupt"),
    )
    final = finalize(ws.registry, ws.store, job_id, on_final=ops.final)
    info = ws.registry.get(job_id, include_deleted=True)  # deleted while it ran: still ours
    return job_result(ws, info, combine_outcomes(outcomes, final))


def _check_fingerprint(ws: Workspace, job_id: str, loaded: Any) -> None:
    """Refuse to resume a job whose stored template or seeds no longer match what the
    job was created with (its records would silently mix two datasets)."""
    stored = ws.registry.job_data(job_id).get("fingerprint")
    now = fingerprint(loaded.spec)
    if stored and now != stored:
        raise JobStateError(
            f"job {job_id}: its template snapshot or seeds changed since it was created "
            f"(fingerprint {now[:12]} != {stored[:12]})",
            fix="Restore the job's files, or start a new job with the new template/seeds.",
        )


def run_job(
    workspace: Workspace | str | Path,
    job: str | JobSpec,
    *,
    backend: Any = None,
    on_event: EventCallback | None = None,
    controls: JobControls | None = None,
    options: RunOptions | None = None,
    budget_usd: float | None = _UNSET,
    budget_tokens: int | None = _UNSET,
    handle_signals: bool | None = None,
    workers: int | None = None,
) -> JobResult:
    """Run a job to its end and return how it ended (never raises for job outcomes).

    ``job`` is a job id (a QUEUED job, or any resumable one) or a :class:`JobSpec`,
    which is created first. ``backend`` defaults to the one the spec/settings name.
    ``budget_usd``/``budget_tokens`` replace the stored budgets (a resume with more
    money). In the main thread SIGTERM and Ctrl-C interrupt the job cleanly unless
    ``handle_signals=False``. ``workers`` (default ``JobSpec.workers``, else 1) runs that
    many workers on this event loop, each claiming its own work units and budget lease
    (``plotpalette run --workers N`` runs N processes instead).
    """
    ws = _workspace(workspace)
    if isinstance(job, JobSpec) and job.runtime == "aws":
        raise ConfigError(
            "this JobSpec has runtime='aws': its workers run on AWS Batch, not in run_job",
            fix="Call plotpalette.submit_job(workspace, spec) (returns at once; follow it "
            "with job_status or a JobConsole), or use runtime='local'.",
        )
    job_id = create_job(ws, job, backend=backend) if isinstance(job, JobSpec) else job
    if handle_signals is None:
        handle_signals = threading.current_thread() is threading.main_thread()
    return _execute(
        ws,
        job_id,
        backend=backend,
        on_event=on_event,
        controls=controls or JobControls(),
        options=options,
        budget_usd=budget_usd,
        budget_tokens=budget_tokens,
        handle_signals=handle_signals,
        workers=workers,
    )


def resume_job(workspace: Workspace | str | Path, job_id: str, **kwargs: Any) -> JobResult:
    """Continue a stopped job: settled records are skipped, the rest are generated.

    Takes the same keyword arguments as :func:`run_job`. A COMPLETED job cannot be
    resumed; a RUNNING one only when its worker is gone (crashed or killed).
    """
    info = job_status(workspace, job_id)
    if info.state is JobState.COMPLETED:
        raise JobStateError(
            f"job {job_id} is already COMPLETED", fix="Start a new job to generate more records."
        )
    return run_job(workspace, job_id, **kwargs)


def job_status(workspace: Workspace | str | Path, job_id: str) -> JobInfo:
    """The registry's view of a job (state, counts, spend, error)."""
    return _workspace(workspace).registry.get(job_id)


def list_jobs(
    workspace: Workspace | str | Path,
    *,
    state: str | None = None,
    sweep_id: str | None = None,
    limit: int | None = None,
    include_deleted: bool = False,
) -> list[JobInfo]:
    """Jobs of the workspace, newest first (deleted ones only with ``include_deleted``:
    their rows and ledgers stay for the cost history, see :func:`delete_job`);
    ``sweep_id`` keeps the jobs of one sweep."""
    return _workspace(workspace).registry.list(
        state=state, batch_id=sweep_id, limit=limit, include_deleted=include_deleted
    )


def cancel_job(workspace: Workspace | str | Path, job_id: str) -> JobInfo:
    """Cancel a job. Running workers are asked to stop (they checkpoint, then the job
    ends CANCELLED); a stopped or queued job becomes CANCELLED at once, and so does a
    RUNNING one whose workers are all gone. Paid-for records are kept and a cancelled
    job can still be resumed. A job submitted to AWS also has its Batch job terminated
    (queued workers never start, none is retried)."""
    ws = _workspace(workspace)
    info = _cancel(ws, job_id)
    from .batch_state import stop_job_batches

    stop_job_batches(ws, job_id)  # Bedrock batch jobs stop even if no worker is left
    if info.aws:
        from .remote import terminate_remote

        terminate_remote(ws, job_id, reason=f"plotpalette cancel {job_id}")
    return info


def _cancel(ws: Workspace, job_id: str) -> JobInfo:
    registry = ws.registry
    ops = OpsHooks.from_settings(ws.settings)
    info = registry.get(job_id)
    if info.state is JobState.CANCELLED:
        return info
    if info.state is JobState.COMPLETED:
        raise JobStateError(f"job {job_id} is already COMPLETED; nothing to cancel")
    if info.state is JobState.RUNNING:
        registry.request_cancel(job_id)
        if not info.workers:  # nobody left to hear it: finalize now
            finalize(registry, ws.store, job_id, on_final=ops.final)
        return registry.get(job_id)
    info = registry.transition(
        job_id,
        JobState.CANCELLED,
        expected=[info.state],
        error={"message": "cancelled by the user", "reason": "cancel"},
    )
    ops.final(registry, job_id, JobState.CANCELLED)
    return info
