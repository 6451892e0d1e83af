"""Running one record: its steps in order, with budget reservations, fallbacks and checks.

Outcomes of :meth:`RecordExecutor.run`:

- a :class:`~plotpalette.records.Record` (``ok``, ``filtered`` or ``failed``): settled
  and written to a shard. ``failed`` here means a failure that would repeat if retried
  at once (the seed row does not render, the request is invalid, a ``fail`` check); a
  later *resume* runs failed records again, since their cause may have been fixed.
- :class:`RecordUnsettled`: an outage-type error (throttled or 5xx after the model
  layer's retries) on every model of a step. Nothing is persisted; resume retries it.
  Its steps already paid for are counted as waste.
- :class:`FatalJobError`: no model of a step is usable at all (no access, unknown
  model, no credentials, no price): the whole job stops FAILED with this cause.
- :class:`~plotpalette.errors.BudgetExceededError`: the next call does not fit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import (
    BudgetExceededError,
    CredentialsError,
    LocalModelError,
    ModelAccessError,
    ModelError,
    ModelNotFoundError,
    ModelRequestError,
    PlotPaletteError,
    PricingError,
    TemplateError,
    ThrottledError,
    TransientModelError,
)
from ..llm.attempts import CallState, on_unknown_outcome, outcome_unknown, watch_call
from ..llm.base import Backend, ModelRequest, ModelResponse
from ..records import Record, StepResult
from .budget import BudgetGovernor
from .checks import run_checks
from .coordination.workers import Fenced
from .preflight import preflight
from .sampling import Sampler, record_rng_seed

__all__ = ["FatalJobError", "RecordExecutor", "RecordUnsettled", "StepPlan"]

# Errors that say "this model cannot be used here": try a fallback, else stop the job.
_MODEL_UNUSABLE = (ModelAccessError, ModelNotFoundError)
# Errors that say "not now": try a fallback, else leave the record for a resume.
_OUTAGE = (ThrottledError, TransientModelError)
# Errors no fallback can fix: stop the job.
_FATAL = (CredentialsError, LocalModelError, PricingError)
# Extra tries for a reply that fails its JSON schema (models without native output).
SCHEMA_RETRIES = 2


_stamp: list[Any] = [0, ""]


def _utc_now() -> str:
    """The ISO time to the second, formatted once per second (not once per record)."""
    now = int(time.time())
    if now != _stamp[0]:
        _stamp[0], _stamp[1] = now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return _stamp[1]


class RecordUnsettled(Exception):
    """The record hit an outage-type error; it stays pending for a resume."""

    def __init__(self, index: int, cause: ModelError) -> None:
        super().__init__(f"record {index}: {cause}")
        self.index, self.cause = index, cause


class FatalJobError(Exception):
    """Nothing can succeed (no access, no credentials, no price): stop the job."""

    def __init__(self, cause: PlotPaletteError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class StepPlan:
    """A template step with its models resolved once per job."""

    id: str
    models: list[str]  # concrete ids: primary first, then fallbacks
    max_tokens: int
    temperature: float | None
    top_p: float | None
    stop: tuple[str, ...]
    json_expected: bool
    json_schema: dict[str, Any] | None

    def request(self, rendered: Any, seed: int, model: str) -> ModelRequest:
        """The request of this step for a rendered prompt (on demand and in batch)."""
        return ModelRequest.from_prompt(
            model,
            rendered.prompt,
            system=rendered.system,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=self.stop,
            json_schema=self.json_schema,
            seed=seed,
        )


@dataclass
class _LiveRecord:
    paid: float = 0.0
    call: CallState | None = None


class RecordExecutor:
    """Turns a record index into a finished record. Shared by all worker coroutines."""

    def __init__(
        self,
        *,
        job_id: str,
        renderer: Any,
        plans: Sequence[StepPlan],
        rows: Sequence[dict[str, Any]],
        sampler: Sampler,
        sampling_seed: int,
        backend: Backend,
        prices: Any,
        governor: BudgetGovernor,
        policies: dict[str, str],
    ) -> None:
        self.job_id = job_id
        self.renderer = renderer
        self.plans = list(plans)
        self.rows = rows
        self.sampler = sampler
        self.sampling_seed = sampling_seed
        self.backend = backend
        self.prices = prices
        self.governor = governor
        self.policies = policies
        self.unusable: dict[str, ModelError] = {}  # models that refused access this run
        # per record task: its record's spend so far and its current call (see unsent)
        self._live: dict[asyncio.Task[Any] | None, _LiveRecord] = {}

    def unsent(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task``'s record has cost nothing and its call still waits to be
        sent (for the rate limiter, or before a retry): a stopping job cancels it at
        once, nothing lost, instead of letting it wait its turn to be sent."""
        live = self._live.get(task)
        return live is not None and live.paid == 0 and live.call is not None and live.call.queued

    async def preflight(self) -> list[str]:
        """Check every step's models before the first record (see :mod:`.preflight`)."""
        return await preflight(self.plans, self.backend, self.prices, self.governor, self.unusable)

    def start_record(self, index: int) -> tuple[Record, int]:
        """A new record for ``index`` and its sampling seed (the batch path shares it)."""
        seed_index = self.sampler.seed_index(index)
        record = Record(job_id=self.job_id, index=index, seed_index=seed_index, status="ok")
        return record, record_rng_seed(self.sampling_seed, index)

    def record_context(self, record: Record, rng_seed: int) -> Any:
        """The template context of a record (raises :class:`TemplateError`)."""
        return self.renderer.context(
            self.rows[record.seed_index], record_index=record.index, rng_seed=rng_seed
        )

    def apply_step(
        self, record: Record, ctx: Any, plan: StepPlan, resp: ModelResponse, cost: float
    ) -> bool:
        """Put one step's reply on ``record`` after its checks; False when the record
        stops here (filtered or failed). Shared with the batch path (:mod:`.batch`)."""
        checked = run_checks(
            resp.text,
            stop_reason=resp.stop_reason,
            policies=self.policies,
            json_expected=plan.json_expected,
            parsed_json=resp.parsed_json,
        )
        record.steps[plan.id] = StepResult(
            model=resp.model,
            output=resp.text,
            input_tokens=resp.usage.input_tokens,
            output_tokens=resp.usage.output_tokens,
            cache_read_tokens=resp.usage.cache_read_tokens,
            cache_write_tokens=resp.usage.cache_write_tokens,
            latency_ms=round(resp.latency_ms, 3),
            stop_reason=resp.stop_reason,
            cost_usd=cost,
            attempts=resp.attempts,
        )
        record.flags.extend(f"{plan.id}:{flag}" for flag in checked.flags)
        if checked.verdict != "ok":
            record.status = checked.verdict  # type: ignore[assignment]
            record.error = f"step {plan.id!r}: {checked.reason}"
            return False
        # the model that answered (a fallback, say), not the tier the step names
        self.renderer.record_step_output(
            ctx, plan.id, resp.text, parsed_json=checked.parsed_json, model=resp.model
        )
        return True

    @staticmethod
    def stamp(record: Record, paid: float) -> Record:
        record.cost_usd = paid
        record.finished_at = _utc_now()
        return record

    async def run(self, index: int) -> Record:
        record, rng_seed = self.start_record(index)
        paid = 0.0
        ticket = self.governor.ticket()  # room kept for this record's later steps
        task = asyncio.current_task()
        live = self._live[task] = _LiveRecord()
        try:
            ctx = self.record_context(record, rng_seed)
            for n, plan in enumerate(self.plans):
                if not self.renderer.should_run(plan.id, ctx):
                    self.renderer.record_step_skipped(ctx, plan.id)
                    record.steps[plan.id] = StepResult(model=plan.models[0], skipped=True)
                    continue
                rendered = self.renderer.render_step(plan.id, ctx)
                record.prompts[plan.id] = {"system": rendered.system, "prompt": rendered.prompt}
                later = len(self.plans) - n - 1  # steps after this one
                resp, cost = await self._call(
                    index,
                    plan,
                    rendered,
                    (rng_seed + n) % 2**31,
                    priority=paid > 0 or n > 0,
                    ticket=ticket,
                    later=later,
                )
                paid += cost
                live.paid = paid
                if not self.apply_step(record, ctx, plan, resp, cost):
                    break
            if record.status == "ok":
                record.outputs = self.renderer.map_output(ctx)
        except (TemplateError, ModelRequestError) as exc:
            # the same on every retry: settle the record as failed, with the reason
            record.status, record.error = "failed", str(exc)
        except (
            RecordUnsettled,
            BudgetExceededError,
            FatalJobError,
            Fenced,
            asyncio.CancelledError,
        ):
            if paid:
                self.governor.add_waste(paid)
            raise
        finally:
            self.governor.uncommit(ticket)
            self._live.pop(task, None)
        return self.stamp(record, paid)

    def _watch(self, call: CallState) -> None:
        live = self._live.get(asyncio.current_task())
        if live is not None:
            live.call = call

    async def _call(
        self,
        index: int,
        plan: StepPlan,
        rendered: Any,
        seed: int,
        *,
        priority: bool,
        ticket: Any = None,
        later: int = 0,
    ) -> tuple[ModelResponse, float]:
        """One step's call; a reply that fails its JSON schema (forced-tool and
        prompt-and-validate modes) is asked again, at most ``SCHEMA_RETRIES`` times,
        each try reserved and billed like any call."""
        spent = 0.0
        for tries in range(SCHEMA_RETRIES + 1):
            try:
                resp, cost = await self._call_once(
                    index,
                    plan,
                    rendered,
                    seed + tries,
                    priority=priority or tries > 0,
                    ticket=ticket,
                    later=later,
                )
            except BaseException:
                if spent:
                    self.governor.add_waste(spent)  # earlier tries were paid for
                raise
            spent += cost
            if resp.schema_error is None or resp.stop_reason != "end_turn":
                break
        return resp, spent

    async def _call_once(
        self,
        index: int,
        plan: StepPlan,
        rendered: Any,
        seed: int,
        *,
        priority: bool,
        ticket: Any = None,
        later: int = 0,
    ) -> tuple[ModelResponse, float]:
        last: ModelError | None = None
        outage: ModelError | None = None
        for model in plan.models:
            if model in self.unusable:
                last = self.unusable[model]
                continue
            request = plan.request(rendered, seed, model)
            max_in = self.backend.max_input_tokens(request)
            try:
                worst = self.prices.worst_case(model, max_in, plan.max_tokens)
            except PricingError as exc:
                raise FatalJobError(exc) from None
            reservation = await self.governor.reserve(
                worst, max_in + plan.max_tokens, priority=priority, ticket=ticket, later=later
            )
            call = CallState()
            try:
                # an attempt whose bill is unknown is booked (worst case) before a retry
                with (
                    on_unknown_outcome(lambda _err, r=reservation: self.governor.rebook(r)),
                    watch_call() as call,
                ):
                    self._watch(call)
                    resp = await self.backend.generate(request)
            except _MODEL_UNUSABLE + _OUTAGE as exc:
                if outcome_unknown(exc):  # sent, no usable reply: it may have been billed
                    self.governor.abandon(reservation)
                else:
                    self.governor.release(reservation)
                if isinstance(exc, _MODEL_UNUSABLE):
                    self.unusable[model] = exc
                else:
                    outage = exc
                last = exc
                continue
            except _FATAL as exc:
                self.governor.release(reservation)
                raise FatalJobError(exc) from None
            except ModelError as exc:
                if outcome_unknown(exc):
                    self.governor.abandon(reservation)
                else:
                    self.governor.release(reservation)
                raise
            except BudgetExceededError:
                # the budget could not cover a retry: the failed attempt is booked already
                self.governor.abandon(reservation)
                raise
            except BaseException:
                if call.queued:  # cancelled before anything was sent: nothing billed
                    self.governor.release(reservation)
                else:  # cancelled mid-call or a backend bug: the bill is unknown, assume the worst
                    self.governor.abandon(reservation)
                raise
            try:
                cost = self.prices.cost(model, resp.usage)
            except PricingError as exc:  # e.g. cache tokens without a cache price
                self.governor.abandon(reservation)
                raise FatalJobError(exc) from None
            self.governor.settle(reservation, cost, resp.usage.total_tokens)
            return resp, cost
        if outage is not None:
            raise RecordUnsettled(index, outage)
        assert last is not None
        raise FatalJobError(last)
