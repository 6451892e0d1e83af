"""On-demand or Bedrock batch inference? Cost and latency of both, per step (pure).

Bedrock batch inference bills listed models at their batch rates (about half the
on-demand rates; read per model from the price table, never assumed) but answers in
hours, not seconds. This module weighs the two for a job from the token counts of its
estimate; it calls nothing and imports no AWS SDK.

Assumptions, all shown to the user with the figures:

- **Batch latency**: AWS's stated target is that a batch job completes within
  24 hours; it is often faster, but nothing is promised. Each step waits for its own
  batch job (step 2's prompts need step 1's outputs), so a job's bound is
  ``BATCH_HOURS_PER_STEP`` × batched steps. Bedrock stops a job at its
  ``timeoutDurationInHours`` (24 to 168).
- **Stragglers**: records that come back with an error are not billed by Bedrock and
  are re-run on demand; ``DEFAULT_STRAGGLER_RATE`` of the records is assumed to.
- **Fixed cost per batch job**: staging input and reading output in S3 (a few
  requests, ``S3_USD_PER_BATCH_JOB``), tiny next to the saving; the minimum record
  count (``settings.batch_min_records``, Bedrock's per-model quota) dominates.
- **On-demand latency**: records in flight (concurrency) × a slow-day generation
  speed from the capability table, capped by the configured RPM/TPM quotas.

``auto`` chooses batch for a job when every step can batch, batch is cheaper, and its
latency bound fits in ``max_wait_hours`` (default ``DEFAULT_MAX_WAIT_HOURS``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BatchUnavailableError, ConfigError
from ..llm.capabilities import PROMPT_TOKENS_PER_S, capabilities, quota_usage

__all__ = [
    "BATCH_HOURS_PER_STEP",
    "DEFAULT_MAX_WAIT_HOURS",
    "DEFAULT_STRAGGLER_RATE",
    "INFERENCE_MODES",
    "S3_USD_PER_BATCH_JOB",
    "InferencePlan",
    "StepInput",
    "StepPlan",
    "check_inference_mode",
    "format_hours",
    "inference_lines",
    "plan_from_estimate",
    "plan_inference",
]

INFERENCE_MODES = ("on-demand", "batch", "auto")
BATCH_HOURS_PER_STEP = 24.0  # AWS: "typically within 24 hours"; an assumption, not a promise
DEFAULT_MAX_WAIT_HOURS = 48.0  # auto accepts a two-step job's batch bound by default
DEFAULT_STRAGGLER_RATE = 0.02  # records erroring in batch, re-run on demand
# 1 PUT (input) + ~4 GET/LIST (output, manifest) at S3 Standard us-east-1 request prices
S3_USD_PER_BATCH_JOB = 1 * 0.005 / 1000 + 4 * 0.0004 / 1000
CALL_OVERHEAD_S = 1.0  # connection and queueing per on-demand call (typical, not worst)
SLOW_TOKENS_PER_S = 10.0  # output speed assumed for models missing from the table


@dataclass(frozen=True)
class StepInput:
    """What one step of a job asks for, per record (from the job's estimate)."""

    step: str
    model: str
    input_tokens: float  # counted from rendered prompts
    output_tokens: float  # expected output (typical fill of max_tokens)


@dataclass(frozen=True)
class StepPlan:
    """One step, both ways: dollars for all its records and hours to finish them."""

    step: str
    model: str
    records: int
    on_demand_usd: float
    on_demand_hours: float
    batch_usd: float | None  # None: this step cannot batch (see ``reason``)
    batch_hours: float
    reason: str | None = None  # why batch is impossible, else None

    @property
    def can_batch(self) -> bool:
        return self.reason is None

    def choose(self, mode: str, max_wait_hours: float = DEFAULT_MAX_WAIT_HOURS) -> str:
        """``"on-demand"`` or ``"batch"`` for this step alone under ``mode``."""
        check_inference_mode(mode)
        if mode == "on-demand" or not self.can_batch:
            return "on-demand"
        if mode == "batch":
            return "batch"
        cheaper = self.batch_usd is not None and self.batch_usd < self.on_demand_usd
        return "batch" if cheaper and self.batch_hours <= max_wait_hours else "on-demand"


@dataclass(frozen=True)
class InferencePlan:
    """The per-step plans of a job plus the job-wide reasons batch is impossible."""

    records: int
    min_records: int
    steps: list[StepPlan]
    blockers: list[str] = field(default_factory=list)  # job-wide: backend, staging, size
    straggler_rate: float = DEFAULT_STRAGGLER_RATE
    backend: str = "bedrock"

    @property
    def reasons(self) -> list[str]:
        """Everything that stops this job from running as batch (empty: it can)."""
        return [*self.blockers, *(f"step {s.step!r}: {s.reason}" for s in self.steps if s.reason)]

    @property
    def can_batch(self) -> bool:
        return not self.reasons

    @property
    def on_demand_usd(self) -> float:
        return sum(s.on_demand_usd for s in self.steps)

    @property
    def batch_usd(self) -> float | None:
        """The whole job in batch, stragglers included; None when it cannot batch."""
        if not self.can_batch:
            return None
        return sum(s.batch_usd or 0.0 for s in self.steps)

    @property
    def on_demand_hours(self) -> float:
        return sum(s.on_demand_hours for s in self.steps)

    @property
    def batch_hours(self) -> float:
        """Upper bound: each step waits for its own batch job."""
        return sum(s.batch_hours for s in self.steps)

    @property
    def batch_fraction(self) -> float | None:
        """Batch cost as a fraction of on-demand (0.5 = half); None if it cannot batch."""
        batch = self.batch_usd
        if batch is None or self.on_demand_usd <= 0:
            return None
        return batch / self.on_demand_usd

    def crossover_records(self) -> int | None:
        """The smallest job size for which batch is possible and cheaper: the batch
        minimum, or more when the fixed S3 cost per batch job outweighs the saving."""
        if not all(s.can_batch for s in self.steps) or self.records < 1:
            return None
        fixed = S3_USD_PER_BATCH_JOB * len(self.steps)
        variable_batch = sum(s.batch_usd or 0.0 for s in self.steps) - fixed
        saving_per_record = (self.on_demand_usd - variable_batch) / self.records
        if saving_per_record <= 0:
            return None
        return max(self.min_records, math.floor(fixed / saving_per_record) + 1)

    def choose(self, mode: str, max_wait_hours: float = DEFAULT_MAX_WAIT_HOURS) -> str:
        """The job's mode: ``"batch"`` or ``"on-demand"`` (``auto`` resolved here)."""
        check_inference_mode(mode)
        if mode == "batch":
            self.require_batch()
            return "batch"
        if mode == "on-demand" or not self.can_batch:
            return "on-demand"
        batch = self.batch_usd
        cheaper = batch is not None and batch < self.on_demand_usd
        return "batch" if cheaper and self.batch_hours <= max_wait_hours else "on-demand"

    def why(self, mode: str, max_wait_hours: float = DEFAULT_MAX_WAIT_HOURS) -> str:
        """One sentence: what :meth:`choose` picks for ``mode`` and why."""
        chosen = self.choose(mode, max_wait_hours) if mode != "batch" else "batch"
        if mode != "auto":
            return f"{chosen} (asked for)"
        if not self.can_batch:
            return f"on-demand: batch is not possible ({'; '.join(self.reasons)})"
        batch = self.batch_usd or 0.0
        if batch >= self.on_demand_usd:
            return "on-demand: batch would not be cheaper"
        if self.batch_hours > max_wait_hours:
            return (
                f"on-demand: batch may take up to {self.batch_hours:g} h, more than the "
                f"{max_wait_hours:g} h accepted (--max-wait)"
            )
        return (
            f"batch: ${batch:.4f} instead of ${self.on_demand_usd:.4f} (typical), within "
            f"{self.batch_hours:g} h (accepted: {max_wait_hours:g} h)"
        )

    def require_batch(self) -> None:
        """Raise :class:`BatchUnavailableError` naming every reason batch is impossible."""
        reasons = self.reasons
        if reasons:
            raise BatchUnavailableError(
                "this job cannot run as Bedrock batch inference: " + "; ".join(reasons),
                fix=_fix_for(self.blockers, any(not s.can_batch for s in self.steps)),
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "min_records": self.min_records,
            "steps": [{**asdict(s), "can_batch": s.can_batch} for s in self.steps],
            "reasons": self.reasons,
            "on_demand_usd": self.on_demand_usd,
            "batch_usd": self.batch_usd,
            "on_demand_hours": self.on_demand_hours,
            "batch_hours": self.batch_hours,
            "batch_fraction": self.batch_fraction,
            "crossover_records": self.crossover_records(),
            "straggler_rate": self.straggler_rate,
        }


def check_inference_mode(mode: str) -> None:
    """Raise :class:`ConfigError` unless ``mode`` is one of ``INFERENCE_MODES``."""
    if mode not in INFERENCE_MODES:
        raise ConfigError(
            f"unknown inference mode {mode!r}", fix=f"Use one of: {', '.join(INFERENCE_MODES)}."
        )


def _fix_for(blockers: Sequence[str], model_reasons: bool) -> str:
    fixes = ["Run with --mode on-demand, or --mode auto to batch only when possible"]
    text = " ".join(blockers)
    if "batch_min_records" in text:
        fixes.append("raise --records to the batch minimum")
    if "batch_role_arn" in text or "batch_s3_uri" in text:
        fixes.append(
            "run `plotpalette deploy` (it writes batch_role_arn and batch_s3_uri) or set "
            "them in config.yaml"
        )
    if "backend" in text:
        fixes.append("use --backend bedrock")
    if model_reasons:
        fixes.append("give each step a model with a batch price (--model STEP=MODEL)")
    return "; ".join(fixes) + "."


def _quota(rate_limits: Mapping[str, Mapping[str, int]], model: str, region: str | None) -> Any:
    for key in (f"{model}@{region}", model, "*"):
        if key in rate_limits:
            return rate_limits[key]
    return {}


def _on_demand_hours(
    s: StepInput, records: int, concurrency: int, rate_limits: Mapping[str, Any], region: Any
) -> float:
    caps = capabilities(s.model)
    speed = caps.min_tokens_per_s if caps else SLOW_TOKENS_PER_S
    call_s = CALL_OVERHEAD_S + s.input_tokens / PROMPT_TOKENS_PER_S + s.output_tokens / speed
    seconds = records * call_s / max(1, concurrency)
    quota = _quota(rate_limits, s.model, region)
    if quota.get("rpm"):
        seconds = max(seconds, records * 60.0 / quota["rpm"])
    if quota.get("tpm"):
        per_call = quota_usage(s.model, round(s.input_tokens), round(s.output_tokens))
        seconds = max(seconds, records * per_call * 60.0 / quota["tpm"])
    return seconds / 3600.0


def plan_inference(
    steps: Sequence[StepInput],
    *,
    records: int,
    prices: Any,
    settings: Any,
    backend: str,
    concurrency: int | None = None,
    rate_limits: Mapping[str, Mapping[str, int]] | None = None,
    region: str | None = None,
    s3_workspace: bool = False,
    straggler_rate: float = DEFAULT_STRAGGLER_RATE,
) -> InferencePlan:
    """Both ways of running ``steps`` for ``records`` records.

    ``prices`` is a :class:`~plotpalette.llm.PriceTable`; ``settings`` gives
    ``batch_min_records``, ``batch_s3_uri``, ``batch_role_arn``, ``concurrency`` and
    ``rate_limits`` (the job's own ``rate_limits`` win). ``s3_workspace``: the job's
    workspace is an ``s3://`` one, whose bucket can stage batch files.
    """
    min_records = int(getattr(settings, "batch_min_records", 100) or 100)
    limits = {**(getattr(settings, "rate_limits", None) or {}), **(rate_limits or {})}
    inflight = concurrency or getattr(settings, "concurrency", 8) or 8
    blockers: list[str] = []
    if backend != "bedrock":
        blockers.append(f"the {backend!r} backend runs on this machine (batch is Bedrock's)")
    if records < min_records:
        blockers.append(
            f"{records} records is below batch_min_records ({min_records}, Bedrock's minimum "
            "records per batch job)"
        )
    if not getattr(settings, "batch_role_arn", None):
        blockers.append("no batch_role_arn (the service role Bedrock batch jobs assume)")
    if not getattr(settings, "batch_s3_uri", None) and not s3_workspace:
        blockers.append("no batch_s3_uri (the S3 prefix batch input and output are staged in)")
    plans = []
    for s in steps:
        price = prices.price(s.model, region)
        per_in, per_out = s.input_tokens * records, s.output_tokens * records
        on_demand = (per_in * price.input + per_out * price.output) / 1e6
        reason = None
        caps = capabilities(s.model)
        if caps is not None and not caps.batch:
            reason = f"{s.model} is not offered in Bedrock batch inference"
        elif price.batch_input is None or price.batch_output is None:
            reason = f"{s.model} has no batch price in table {prices.version}"
        batch = None
        if price.batch_input is not None and price.batch_output is not None:
            ok = 1.0 - straggler_rate
            batch_rate = (per_in * price.batch_input + per_out * price.batch_output) / 1e6
            batch = ok * batch_rate + straggler_rate * on_demand + S3_USD_PER_BATCH_JOB
        plans.append(
            StepPlan(
                step=s.step,
                model=s.model,
                records=records,
                on_demand_usd=on_demand,
                on_demand_hours=_on_demand_hours(s, records, inflight, limits, region),
                batch_usd=batch,
                batch_hours=BATCH_HOURS_PER_STEP,
                reason=reason,
            )
        )
    return InferencePlan(records, min_records, plans, blockers, straggler_rate, backend)


def plan_from_estimate(estimate: Any, **kwargs: Any) -> InferencePlan:
    """:func:`plan_inference` over the steps of an :class:`~plotpalette.jobs.Estimate`
    (typical figures: counted input, ``output_fill`` of ``max_tokens`` output)."""
    steps = [
        StepInput(
            step=s["step"],
            model=s["model"],
            input_tokens=float(s["input_tokens"]),
            output_tokens=float(s["max_tokens"]) * estimate.output_fill,
        )
        for s in estimate.steps
    ]
    return plan_inference(steps, records=estimate.records, **kwargs)


def format_hours(hours: float) -> str:
    """``~N s`` / ``~N min`` / ``~N.N h`` for an on-demand latency estimate."""
    seconds = hours * 3600.0
    if seconds < 90:
        return f"~{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"~{round(seconds / 60)} min"
    return f"~{hours:.1f} h"


def inference_lines(plan: InferencePlan, mode: str, max_wait_hours: float) -> list[str]:
    """On-demand and batch side by side, for an estimate's summary."""
    batch = plan.batch_usd
    fraction = f" ({plan.batch_fraction:.2f}x)" if plan.batch_fraction is not None else ""
    lines = [
        f"  {'inference':<10} {'on-demand':<22} batch (Bedrock batch inference)",
        f"  {'cost':<10} {f'${plan.on_demand_usd:.4f}':<22} "
        + (f"${batch:.4f}{fraction}" if batch is not None else "not possible"),
        f"  {'latency':<10} {format_hours(plan.on_demand_hours):<22} "
        f"up to {plan.batch_hours:g} h ({BATCH_HOURS_PER_STEP:g} h per step, AWS's target)",
    ]
    for s in plan.steps:
        side = f"${s.batch_usd:.4f}" if s.batch_usd is not None else "-"
        lines.append(
            f"    step {s.step:<12} ${s.on_demand_usd:.4f} {format_hours(s.on_demand_hours)}"
            f"  |  {side}{'' if s.can_batch else ' (cannot batch)'}"
        )
    if batch is not None:
        lines.append(
            f"  batch figures assume {plan.straggler_rate:.0%} of records error and re-run "
            f"on demand; batch pays from {plan.crossover_records()} records"
        )
    for reason in plan.reasons:
        lines.append(f"  batch not possible: {reason}")
    if mode == "batch" and not plan.can_batch:
        lines.append("  mode batch: unavailable (the job would be refused; see above)")
    elif mode == "auto" and not plan.can_batch:
        lines.append("  mode auto: on-demand (batch is not possible; see above)")
    else:
        lines.append(f"  mode {mode}: {plan.why(mode, max_wait_hours)}")
    return lines
