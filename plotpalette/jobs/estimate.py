"""Pre-flight cost estimate of a job, from its rendered prompts and the price table.

For a sample of the records the job would make, every step is rendered (earlier step
outputs are stood in for by text of ``max_tokens`` length, and every ``when`` is taken
as true, so prompts are as long as they can get). Input tokens come from the backend's
token counter, output tokens from ``max_tokens``:

- ``worst``: every output fills ``max_tokens``; with the reservation upper bound on
  input. This is what the budget governor reserves, so a budget of
  ``records x worst per record`` always suffices.
- ``typical``: outputs fill ``output_fill`` of ``max_tokens`` (an assumption, shown as
  such), inputs as counted.

``inference`` weighs on-demand against Bedrock batch inference from the typical
figures (see :mod:`.batch_plan`): cost and expected latency both ways, and the mode
the job's ``inference_mode`` resolves to (``auto`` within ``max_wait_hours``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..llm.base import ModelRequest
from ..llm.capabilities import quota_usage
from ..workspace import Workspace
from . import loader
from .api import _build_backend, _workspace
from .batch_plan import (
    DEFAULT_MAX_WAIT_HOURS,
    InferencePlan,
    inference_lines,
    plan_from_estimate,
)
from .loader import LoadedJob, resolve_seeds, resolve_template, step_plans
from .preflight import backend_region, structured_mode
from .sampling import Sampler, record_rng_seed
from .spec import JobSpec

__all__ = ["Estimate", "estimate_job"]


@dataclass
class Estimate:
    """Estimated cost of a job (USD); see the module docstring for the two figures."""

    template: str
    records: int
    sampled: int
    per_record_worst_usd: float
    per_record_typical_usd: float
    total_worst_usd: float
    total_typical_usd: float
    output_fill: float
    price_table: str
    budget_usd: float | None
    steps: list[dict[str, Any]] = field(default_factory=list)
    max_tokens: int | None = None  # the spec's cap on every step's max_tokens, if any
    inference: InferencePlan | None = None  # on-demand vs batch (see batch_plan)
    mode: str = "on-demand"  # the spec's inference_mode, as asked
    max_wait_hours: float = DEFAULT_MAX_WAIT_HOURS  # latency accepted by auto

    @property
    def chosen_mode(self) -> str:
        """What the job would run as: ``"on-demand"`` or ``"batch"`` (``auto`` resolved;
        a ``batch`` job that cannot batch says ``"unavailable"``)."""
        if self.inference is None:
            return "on-demand"
        if self.mode == "batch" and not self.inference.can_batch:
            return "unavailable"
        return self.inference.choose(self.mode, self.max_wait_hours)

    @property
    def records_within_budget(self) -> int | None:
        """How many records the budget covers even in the worst case."""
        if self.budget_usd is None:
            return None
        if self.per_record_worst_usd <= 0:
            return self.records
        return min(self.records, int(self.budget_usd // self.per_record_worst_usd))

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["records_within_budget"] = self.records_within_budget
        data["inference"] = self.inference.to_dict() if self.inference else None
        data["chosen_mode"] = self.chosen_mode
        return data

    def summary(self) -> str:
        lines = [
            f"estimate for {self.records} records of {self.template} "
            f"(prices {self.price_table}, {self.sampled} records rendered):",
            f"  typical ${self.total_typical_usd:.4f}  (outputs at "
            f"{self.output_fill:.0%} of max_tokens, an assumption)",
            f"  worst   ${self.total_worst_usd:.4f}  (every output at max_tokens)",
        ]
        if self.max_tokens is not None:
            lines.append(f"  max_tokens capped at {self.max_tokens} per step (JobSpec.max_tokens)")
        for s in self.steps:
            lines.append(
                f"  step {s['step']:<12} {s['model']:<44} ~{s['input_tokens']:.0f} in, "
                f"<= {s['max_tokens']} out, worst ${s['worst_usd']:.6f}/record"
            )
        if self.budget_usd is not None:
            lines.append(
                f"  budget  ${self.budget_usd:.4f}: covers at least "
                f"{self.records_within_budget} of {self.records} records"
            )
        # a local job shows batch only when asked for: it is Bedrock's
        plan = self.inference
        if plan is not None and (plan.backend == "bedrock" or self.mode != "on-demand"):
            lines += inference_lines(plan, self.mode, self.max_wait_hours)
        return "\n".join(lines)


def estimate_job(
    workspace: Workspace | str | Path,
    spec: JobSpec,
    *,
    backend: Any = None,
    sample: int = 10,
    output_fill: float = 0.5,
    max_wait_hours: float = DEFAULT_MAX_WAIT_HOURS,
) -> Estimate:
    """Estimate what ``spec`` would cost, without creating the job or calling a model.

    ``max_wait_hours`` is the batch latency ``inference_mode="auto"`` accepts."""
    from ..llm import PriceTable
    from ..templates.render import Renderer

    ws = _workspace(workspace)
    tpl = resolve_template(ws, spec.template)
    seeds = resolve_seeds(ws, spec.seeds)
    resolved = spec.replace(
        template=f"{tpl.name}@{tpl.version}", backend=spec.backend or ws.settings.backend
    )
    backend = _build_backend(ws, resolved, backend)
    prices = PriceTable.load(ws.settings.price_overrides, region=backend_region(backend))
    renderer = Renderer(tpl, loader._library(ws))
    loaded = LoadedJob("estimate", resolved, tpl, renderer, list(seeds.rows))
    plans = step_plans(loaded, backend)
    sampler = Sampler(spec.sampling, len(loaded.rows), spec.sampling_seed)
    n = max(1, min(sample, spec.records))
    sums = {p.id: [0.0, 0.0, 0.0, 0.0] for p in plans}  # in tokens, max in, worst, typical
    for index in range(n):
        row = loaded.rows[sampler.seed_index(index)]
        ctx = renderer.context(
            row, record_index=index, rng_seed=record_rng_seed(spec.sampling_seed, index)
        )
        for plan in plans:
            rendered = renderer.render_step(plan.id, ctx)
            model = plan.models[0]
            request = ModelRequest.from_prompt(
                model,
                rendered.prompt,
                system=rendered.system,
                max_tokens=plan.max_tokens,
                json_schema=plan.json_schema,
            )
            counted = backend.count_tokens(request.prompt_text, model)
            bound = backend.max_input_tokens(request)
            worst = prices.worst_case(model, bound, plan.max_tokens)
            typical = prices.worst_case(model, counted, int(plan.max_tokens * output_fill))
            acc = sums[plan.id]
            acc[0] += counted
            acc[1] += bound
            acc[2] += worst
            acc[3] += typical
            filler = " ".join(["word"] * plan.max_tokens)  # longest plausible output
            renderer.record_step_output(ctx, plan.id, filler)
    steps: list[dict[str, Any]] = [
        {
            "step": p.id,
            "model": p.models[0],
            "input_tokens": sums[p.id][0] / n,
            "max_input_tokens": sums[p.id][1] / n,
            "max_tokens": p.max_tokens,
            "worst_usd": sums[p.id][2] / n,
            "typical_usd": sums[p.id][3] / n,
            "structured_output": structured_mode(backend, p.models[0]) if p.json_expected else None,
            # tokens per record against the model's token quotas, as AWS counts them
            "quota_tokens": quota_usage(
                p.models[0], round(sums[p.id][0] / n), round(p.max_tokens * output_fill)
            ),
        }
        for p in plans
    ]
    worst = sum(s["worst_usd"] for s in steps)
    typical = sum(s["typical_usd"] for s in steps)
    estimate = Estimate(
        template=resolved.template,
        records=spec.records,
        sampled=n,
        per_record_worst_usd=worst,
        per_record_typical_usd=typical,
        total_worst_usd=worst * spec.records,
        total_typical_usd=typical * spec.records,
        output_fill=output_fill,
        price_table=prices.version,
        budget_usd=spec.budget_usd,
        steps=steps,
        max_tokens=spec.max_tokens,
        mode=spec.inference_mode,
        max_wait_hours=max_wait_hours,
    )
    estimate.inference = plan_from_estimate(
        estimate,
        prices=prices,
        settings=ws.settings,
        backend=resolved.backend or "local",
        concurrency=(spec.concurrency or ws.settings.concurrency) * (spec.workers or 1),
        rate_limits=spec.rate_limits,
        region=backend_region(backend),
        s3_workspace=ws.location.startswith("s3://"),
    )
    return estimate
