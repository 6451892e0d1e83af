"""The public verbs: create, run, resume, cancel, inspect and estimate jobs.

>>> from plotpalette.jobs import JobSpec, run_job
>>> result = run_job("~/pp", JobSpec(template="question_answer", seeds="sample:poetry",
...                                  records=20, budget_usd=0.0))   # doctest: +SKIP
>>> result.state, result.records_path                               # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import JobStateError
from ..records import Record
from ..workspace import Workspace
from .events import EventCallback, JobControls
from .execute import RecordExecutor
from .loader import load_job, step_plans, store_job
from .preflight import apply_job_limits, backend_region
from .registry import JobInfo, SQLiteRegistry, open_registry
from .runner import Runner, RunOptions, RunOutcome
from .sampling import Sampler
from .shards import iter_records
from .signals import stop_on_signals
from .spec import JobSpec
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


@dataclass
class JobResult:
    """How a run (or resume) ended."""

    job_id: str
    state: JobState
    records_total: int
    records_ok: int
    records_failed: int
    records_filtered: int
    records_missing: int
    spend_usd: float  # the job's total so far, all runs (settled + open reservations)
    run_spend_usd: float  # real cost of this run's calls
    waste_usd: float  # cost of work that produced no record (this run)
    tokens: int
    elapsed_s: float
    error: dict[str, Any] | None
    records_path: str
    resume_command: str | None
    workspace: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state is JobState.COMPLETED

    def records(self, *, status: str | None = None) -> list[Record]:
        """The job's records in index order (see :func:`iter_records` to stream)."""
        return list(
            iter_records(Workspace.open(self.workspace), self.job_id, status=status, ordered=True)
        )

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["state"] = self.state.value
        return data

    def summary(self) -> str:
        """One human paragraph: state, counts, spend, where the records are."""
        lines = [
            f"job {self.job_id}: {self.state.value}",
            f"  records: {self.records_ok} ok, {self.records_filtered} filtered, "
            f"{self.records_failed} failed, {self.records_missing} missing "
            f"(of {self.records_total})",
            f"  spend:   ${self.spend_usd:.4f} (this run ${self.run_spend_usd:.4f}, "
            f"waste ${self.waste_usd:.4f}, {self.tokens} tokens)",
            f"  records: {self.records_path}",
        ]
        if self.error:
            lines.append(f"  reason:  {self.error.get('message')}")
            lines.append(f"  fix:     {self.error.get('fix')}")
        if self.resume_command:
            lines.append(f"  resume:  {self.resume_command}")
        return "\n".join(lines)


def create_job(
    workspace: Workspace | str | Path,
    spec: JobSpec,
    *,
    job_id: str | None = None,
    batch_id: str | None = None,
) -> str:
    """Resolve and store a job (state QUEUED); returns its id.

    A bare template name is pinned to its latest version now and recorded as
    ``name@version``; the resolved template is snapshotted into the job's folder and
    the seeds are stored by content hash.
    """
    ws = _workspace(workspace)
    job_id, resolved, fp = store_job(ws, spec, job_id=job_id, batch_id=batch_id)
    registry = open_registry(ws)
    try:
        registry.create_job(
            job_id,
            spec=resolved.to_dict(),
            fingerprint=fp,
            template=resolved.template,
            records_total=resolved.records,
            name=resolved.name,
            batch_id=batch_id,
        )
    except JobStateError:
        # the id belongs to a deleted job: the files store_job just wrote are ours
        for key in ws.store.list(layout.job_prefix(job_id)):
            ws.store.delete(key)
        raise
    finally:
        registry.close()
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
) -> JobResult:
    from ..llm import PriceTable

    loaded = load_job(ws, job_id)
    spec = loaded.spec
    backend = _build_backend(ws, spec, backend)
    opts = options or RunOptions()
    if options is None:
        opts.concurrency = spec.concurrency or ws.settings.concurrency
    apply_job_limits(backend, opts.concurrency, spec.rate_limits)
    prices = PriceTable.load(ws.settings.price_overrides, region=backend_region(backend))
    plans = step_plans(loaded, backend)
    sampler = Sampler(spec.sampling, len(loaded.rows), spec.sampling_seed)

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

    registry = open_registry(ws)
    try:
        runner = Runner(
            job_id=job_id,
            store=ws.store,
            registry=registry,
            total=spec.records,
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
        )
        outcome = _run_coroutine(runner, controls, handle_signals)
        info = registry.get(job_id)
    finally:
        registry.close()
    return _result(ws, info, outcome)


def _run_coroutine(runner: Runner, controls: JobControls, handle_signals: bool) -> RunOutcome:
    """Run the engine on a fresh event loop; in a thread if this one already has a loop
    (a notebook), turning a KeyboardInterrupt there into a clean interrupt."""

    async def main() -> RunOutcome:
        if handle_signals:
            with stop_on_signals(asyncio.get_running_loop(), controls):
                return await runner.run()
        return await runner.run()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["out"] = asyncio.run(runner.run())
        except BaseException as exc:  # re-raised in the caller's thread
            box["exc"] = exc

    thread = threading.Thread(target=target, name=f"plotpalette-{runner.job_id}", daemon=True)
    thread.start()
    while thread.is_alive():
        try:
            thread.join(0.2)
        except KeyboardInterrupt:
            controls.interrupt("interrupted by KeyboardInterrupt")
    if "exc" in box:
        raise box["exc"]
    return box["out"]


def _result(ws: Workspace, info: JobInfo, outcome: RunOutcome) -> JobResult:
    root = ws.root
    where = (
        str(Path(root) / layout.records_prefix(info.job_id))
        if root is not None
        else f"{ws.location.rstrip('/')}/{layout.records_prefix(info.job_id)}"
    )
    state = outcome.state
    resume = None
    if state not in (JobState.COMPLETED,):
        resume = f"plotpalette --workspace {ws.location} resume {info.job_id}"
        if state is JobState.BUDGET_EXCEEDED:
            resume += " --budget <more dollars>"
    return JobResult(
        job_id=info.job_id,
        state=state,
        records_total=outcome.total,
        records_ok=outcome.counts.get("ok", 0),
        records_failed=outcome.counts.get("failed", 0),
        records_filtered=outcome.counts.get("filtered", 0),
        records_missing=outcome.unsettled,
        spend_usd=info.spend_usd,
        run_spend_usd=outcome.spent_usd,
        waste_usd=outcome.waste_usd,
        tokens=outcome.tokens,
        elapsed_s=outcome.elapsed_s,
        error=outcome.error,
        records_path=where,
        resume_command=resume,
        workspace=ws.location,
        extra=outcome.extra,
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
) -> JobResult:
    """Run a job to its end and return how it ended (never raises for job outcomes).

    ``job`` is a job id (a QUEUED job, or any resumable one) or a :class:`JobSpec`,
    which is created first. ``backend`` defaults to the one the spec/settings name.
    ``budget_usd``/``budget_tokens`` replace the stored budgets (a resume with more
    money). In the main thread SIGTERM and Ctrl-C interrupt the job cleanly unless
    ``handle_signals=False``.
    """
    ws = _workspace(workspace)
    job_id = create_job(ws, job) if isinstance(job, JobSpec) else job
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
    registry = open_registry(_workspace(workspace))
    try:
        return registry.get(job_id)
    finally:
        registry.close()


def list_jobs(
    workspace: Workspace | str | Path,
    *,
    state: str | None = None,
    batch_id: str | None = None,
    limit: int | None = None,
    include_deleted: bool = False,
) -> list[JobInfo]:
    """Jobs of the workspace, newest first (deleted ones only with ``include_deleted``:
    their rows and ledgers stay for the cost history, see :func:`delete_job`)."""
    registry = open_registry(_workspace(workspace))
    try:
        return registry.list(
            state=state, batch_id=batch_id, limit=limit, include_deleted=include_deleted
        )
    finally:
        registry.close()


def cancel_job(workspace: Workspace | str | Path, job_id: str) -> JobInfo:
    """Cancel a job. A running worker is asked to stop (it checkpoints, then ends
    CANCELLED); a stopped or queued job becomes CANCELLED at once. Paid-for records are
    kept and a cancelled job can still be resumed."""
    ws = _workspace(workspace)
    registry = open_registry(ws)
    try:
        info = registry.get(job_id)
        if info.state is JobState.CANCELLED:
            return info
        if info.state is JobState.COMPLETED:
            raise JobStateError(f"job {job_id} is already COMPLETED; nothing to cancel")
        if info.state is JobState.RUNNING:
            return _cancel_running(registry, job_id)
        return registry.transition(
            job_id,
            JobState.CANCELLED,
            expected=[info.state],
            error={"message": "cancelled by the user", "reason": "cancel"},
        )
    finally:
        registry.close()


def _cancel_running(registry: SQLiteRegistry, job_id: str) -> JobInfo:
    try:  # a dead worker cannot hear the request: take the job over and cancel it
        registry.acquire(job_id, "canceller")
    except JobStateError:
        registry.request_cancel(job_id)
        return registry.get(job_id)
    return registry.transition(
        job_id,
        JobState.CANCELLED,
        expected=[JobState.RUNNING],
        error={"message": "cancelled by the user (its worker had stopped)", "reason": "cancel"},
    )
