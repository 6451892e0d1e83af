"""Bedrock batch inference in the engine: a job's steps as batch jobs, one step at a time.

With ``JobSpec.inference_mode == "batch"`` the runner (:mod:`.runner`) hands every
record it has not settled yet to :class:`BatchPhase` before its usual on-demand loop.
For each template step, in order:

1. every open record's request is rendered exactly as on demand (a step that asks for
   JSON uses prompt-and-validate: batch jobs have no tool use or structured output);
2. answers saved by an earlier run are reused (``jobs/<id>/batch/<step>/``), so a
   resume never pays for a step twice;
3. if at least ``batch_min_records`` records still need the step, one batch job runs
   them (:mod:`.batch_submit`: reserve at batch rates, stage, submit, follow, join);
   fewer than that run on demand;
4. records whose batch answer is an error or fails its JSON schema (the *stragglers*)
   run on demand through the normal executor path and budget;
5. each answer goes through the same checks as on demand
   (:meth:`~plotpalette.jobs.execute.RecordExecutor.apply_step`).

Finished records are written through the normal shard path (record identity is the
index), so exports, resume and the finalizer see no difference. A record still missing
a step when the phase stops (cancel, budget, an outage) is left unsettled; its saved
answers make the resume cheap. Following is by polling (no EventBridge).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from .. import layout
from ..errors import (
    BudgetExceededError,
    ConfigError,
    ModelRequestError,
    TemplateError,
)
from ..llm.base import ModelRequest, ModelResponse, Usage
from ..records import Record, StepResult
from .execute import FatalJobError, RecordUnsettled, StepPlan

__all__ = ["BatchOptions", "BatchPhase", "batch_options", "options_for_job", "run_batch_phase"]


@dataclass
class BatchOptions:
    """Where and how batch jobs run (see :func:`batch_options`)."""

    client: Any  # plotpalette.llm.bedrock_batch.BatchClient
    s3_uri: str  # staging prefix: inputs and outputs go below it
    role_arn: str  # the service role Bedrock assumes to read and write s3_uri
    min_records: int = 100  # a step with fewer records to run goes on demand
    poll_s: float = 30.0  # first status poll; then x1.5 each time...
    poll_max_s: float = 300.0  # ...up to this
    timeout_hours: int = 24


def batch_options(settings: Any, workspace_location: str, client: Any = None) -> BatchOptions:
    """Batch options from the settings, with errors that name the missing setting."""
    from ..llm.bedrock_batch import BatchClient, split_s3_uri

    uri = settings.batch_s3_uri
    if not uri and str(workspace_location).startswith("s3://"):
        uri = str(workspace_location).rstrip("/") + "/batch"  # as the stack's BedrockBatchS3Uri
    if not uri:
        raise ConfigError(
            "batch inference needs a staging location (batch_s3_uri is not set)",
            fix="Set PLOTPALETTE_BATCH_S3_URI (or batch_s3_uri in config.yaml) to "
            "s3://bucket/prefix, or use an s3:// workspace.",
        )
    split_s3_uri(uri)
    role = settings.batch_role_arn or (settings.aws or {}).get("bedrock_batch_role_arn")
    if not role or not str(role).startswith("arn:aws:iam::"):
        raise ConfigError(
            f"batch inference needs the ARN of the batch service role, got {role!r}",
            fix="Set PLOTPALETTE_BATCH_ROLE_ARN (or batch_role_arn) to a role trusted by "
            "bedrock.amazonaws.com with access to batch_s3_uri (see the batch page).",
        )
    minimum = int(settings.batch_min_records)
    if minimum < 1:
        raise ConfigError(f"batch_min_records must be >= 1, got {minimum}")
    # how often to ask Bedrock (seconds, first poll; emulated runs use a fraction)
    poll = float(os.environ.get("PLOTPALETTE_BATCH_POLL_S") or 30.0)
    return BatchOptions(
        client=client or BatchClient(settings),
        s3_uri=uri.rstrip("/"),
        role_arn=str(role),
        min_records=minimum,
        poll_s=poll,
        poll_max_s=max(poll, 300.0 if poll >= 30 else poll * 10),
    )


def options_for_job(ws: Any, spec: Any, backend: Any) -> BatchOptions | None:
    """Batch options for a job in batch mode, else ``None``. ``auto`` is resolved to a
    mode when the job is created (the planner); one that reaches here runs on demand."""
    if spec.inference_mode != "batch":
        return None
    if getattr(backend, "name", None) != "bedrock":
        raise ConfigError(
            "inference_mode='batch' needs the bedrock backend",
            fix="Run the job with backend='bedrock', or with inference_mode='on-demand'.",
        )
    return batch_options(ws.settings, ws.location)


@dataclass
class Open:
    """One record going through the phase."""

    record: Record
    rng_seed: int
    ctx: Any = None
    paid: float = 0.0
    open: bool = True  # still has steps to run
    rendered: Any = None
    request: ModelRequest | None = None
    left: bool = False  # a step could not be settled: left for a resume
    done: bool = False  # settled (ok, filtered or failed): goes to a shard
    written: bool = False
    waste: float = 0.0  # batch answers paid for and not used (invalid JSON)


def answer_to_json(index: int, resp: ModelResponse, cost: float, source: str) -> dict[str, Any]:
    u = resp.usage
    return {
        "index": index,
        "source": source,
        "model": resp.model,
        "text": resp.text,
        "stop_reason": resp.stop_reason,
        "usage": [u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens],
        "latency_ms": resp.latency_ms,
        "parsed_json": resp.parsed_json,
        "schema_error": resp.schema_error,
        "structured_output": resp.structured_output,
        "attempts": resp.attempts,
        "cost_usd": cost,
    }


def answer_from_json(data: dict[str, Any]) -> tuple[ModelResponse, float]:
    resp = ModelResponse(
        text=data["text"],
        stop_reason=data["stop_reason"],
        usage=Usage(*data["usage"]),
        latency_ms=data["latency_ms"],
        model=data["model"],
        parsed_json=data.get("parsed_json"),
        attempts=data.get("attempts", 1),
        structured_output=data.get("structured_output"),
        schema_error=data.get("schema_error"),
    )
    return resp, float(data["cost_usd"])


class BatchPhase:
    """Runs the runner's unsettled records through the template, step by step."""

    def __init__(self, runner: Any, options: BatchOptions) -> None:
        self.runner = runner
        self.options = options
        self.ex = runner.executor
        self.store = runner.store
        self.job_id = runner.job_id
        self.deferred: set[int] = set()  # left out of a batch for want of budget

    def stopping(self) -> bool:
        """A stop was asked for: through the registry (cancel, seen by the ticker) or
        in this process (Ctrl-C, SIGTERM, JobControls), which the record loop would
        otherwise pick up only later."""
        request = self.runner.controls.stop_request
        if request is not None:
            self.runner._request_stop(*request)
        return self.runner.stop is not None

    # -- answers kept in the store -------------------------------------------------------
    def load_answers(self, step_id: str) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for key in sorted(self.store.list(layout.batch_answers_prefix(self.job_id, step_id))):
            for line in self.store.read_bytes(key).decode().splitlines():
                if line.strip():
                    data = json.loads(line)
                    found[int(data["index"])] = data
        return found

    def save_answers(self, step_id: str, name: str, answers: list[dict[str, Any]]) -> None:
        if answers:
            body = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers)
            key = layout.batch_answers_prefix(self.job_id, step_id) + name
            self.store.write_bytes(key, body.encode())

    # -- the phase -----------------------------------------------------------------------
    async def run(self, indices: list[int]) -> None:
        r = self.runner
        recs = [self._start(i) for i in indices]
        try:
            for n, plan in enumerate(self.ex.plans):
                if self.stopping():
                    break
                await self._step(n, plan, [x for x in recs if x.open])
                self._write(recs)
        finally:
            await r._io(r.registry.set_batch_status, self.job_id, None)
        if not self.stopping():
            for x in recs:
                if x.open:  # went through every step
                    self._finish(x)
            self._write(recs)

    def _start(self, index: int) -> Open:
        record, rng_seed = self.ex.start_record(index)
        x = Open(record=record, rng_seed=rng_seed)
        try:
            x.ctx = self.ex.record_context(record, rng_seed)
        except TemplateError as exc:
            self._fail(x, exc)
        return x

    def _settle(self, x: Open) -> None:
        x.open, x.done = False, True
        self.ex.stamp(x.record, x.paid)

    def _fail(self, x: Open, exc: Exception) -> None:
        x.record.status, x.record.error = "failed", str(exc)
        self._settle(x)

    def _finish(self, x: Open) -> None:
        try:
            x.record.outputs = self.ex.renderer.map_output(x.ctx)
        except TemplateError as exc:
            x.record.status, x.record.error = "failed", str(exc)
        self._settle(x)

    def _write(self, recs: list[Open]) -> None:
        r = self.runner
        for x in recs:
            if not x.done or x.written:
                continue
            x.written = True
            r.writer.add(x.record)
            r.counts[x.record.status] += 1
            r._recent.append(x.record)

    async def _step(self, n: int, plan: StepPlan, recs: list[Open]) -> None:
        renderer = self.ex.renderer
        runnable: list[Open] = []
        for x in recs:
            x.rendered = x.request = None
            if not renderer.should_run(plan.id, x.ctx):
                renderer.record_step_skipped(x.ctx, plan.id)
                x.record.steps[plan.id] = StepResult(model=plan.models[0], skipped=True)
                continue
            try:
                x.rendered = renderer.render_step(plan.id, x.ctx)
            except TemplateError as exc:
                self._fail(x, exc)
                continue
            x.record.prompts[plan.id] = {"system": x.rendered.system, "prompt": x.rendered.prompt}
            runnable.append(x)
        answers = await self.runner._io(self.load_answers, plan.id)
        todo = [x for x in runnable if x.record.index not in answers]
        if len(todo) >= self.options.min_records and not self.stopping():
            from .batch_submit import BatchStep

            got = await BatchStep(self, plan, n, todo).run()
            answers.update(got)
        # records the budget could not cover in the batch wait (never on demand instead)
        stragglers = [
            x for x in todo if x.record.index not in answers and x.record.index not in self.deferred
        ]
        if stragglers and not self.stopping():
            answers.update(await self._on_demand(n, plan, stragglers))
        for x in runnable:
            if not x.open:  # failed on demand (an invalid request)
                continue
            data = answers.get(x.record.index)
            if data is None:
                x.open, x.left = False, True  # not settled: a resume picks it up
                continue
            resp, cost = answer_from_json(data)
            x.paid += cost + float(data.get("waste_usd", 0.0))
            if not self.ex.apply_step(x.record, x.ctx, plan, resp, cost):
                self._settle(x)  # filtered or failed by a check

    # -- on demand: small steps and stragglers --------------------------------------------
    async def _on_demand(self, n: int, plan: StepPlan, todo: list[Open]) -> dict[int, Any]:
        r = self.runner
        slots = asyncio.Semaphore(max(1, r.options.concurrency))
        found: dict[int, Any] = {}

        async def one(x: Open) -> None:
            async with slots:
                if self.stopping():
                    return
                seed = (x.rng_seed + n) % 2**31
                try:
                    resp, cost = await self.ex._call(
                        x.record.index, plan, x.rendered, seed, priority=True
                    )
                except RecordUnsettled as exc:
                    r.unsettled += 1
                    r.last_error = exc.cause
                    return
                except ModelRequestError as exc:
                    self._fail(x, exc)
                    return
                except BudgetExceededError as exc:
                    r._request_stop("budget", exc)
                    return
                except FatalJobError as exc:
                    r._request_stop("fatal", exc.cause)
                    return
                data = answer_to_json(x.record.index, resp, cost, "on-demand")
                data["waste_usd"] = x.waste
                found[x.record.index] = data
                # saved at once: a crash after this call does not pay for it again
                await r._io(self.save_answers, plan.id, f"od-{x.record.index:09d}.jsonl", [data])

        await asyncio.gather(*(one(x) for x in todo))
        return found

    def status(self, plan: StepPlan, item: dict[str, Any], st: Any) -> dict[str, Any]:
        """What ``status`` and the JobConsole show while waiting (see :mod:`.batch_state`)."""
        return {
            "step": plan.id,
            "status": st.status if st is not None else item.get("status", "staged"),
            "counts": dict(st.counts) if st is not None else {},
            "records": item.get("records"),
            "arn": item.get("arn"),
            "message": st.message if st is not None else "",
            "submitted_at": item.get("created"),
            "checked_at": time.time(),
        }


async def run_batch_phase(runner: Any, options: BatchOptions) -> None:
    """The runner's hook: run every record it has not settled through the batch path,
    and keep the on-demand unit loop away from them (a record the phase leaves
    unsettled waits for a resume instead of being paid again on demand)."""
    from ..errors import PlotPaletteError

    indices = [i for i in range(runner.total) if i not in runner.index.good]
    runner.batch_claimed.update(indices)
    if not indices or await runner._io(_followed_elsewhere, runner):
        return  # another live process follows this job's batch jobs: nothing to do here
    try:
        await BatchPhase(runner, options).run(indices)
    except FatalJobError as exc:
        runner._request_stop("fatal", exc.cause)
    except PlotPaletteError as exc:  # e.g. the control plane refused a call
        runner._request_stop("fatal", exc)
    pending = getattr(runner, "_pending_budget_stop", None)
    if pending is not None:
        runner._request_stop("budget", pending)
    await runner._flush()


def _followed_elsewhere(runner: Any) -> bool:
    from .coordination.workers import list_workers

    return any(
        w.alive and w.worker != runner.worker for w in list_workers(runner.tables, runner.job_id)
    )
