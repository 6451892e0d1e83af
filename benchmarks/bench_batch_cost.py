"""Bedrock batch vs on-demand: cost per record of a two-step template at list prices.

For every model the price table lists a batch rate for, the built-in two-step
``question_answer`` template runs with that model on both steps; token counts are real:
``estimate_job`` renders the template over ``--sample`` seeds of ``sample:poetry`` and
counts their tokens (outputs at 50 % of ``max_tokens``, the estimate's typical
assumption). The template as shipped (a cheap model asks, a premium one answers) is
the last row. The planner (:mod:`plotpalette.jobs.batch_plan`) prices both ways:

- batch $/record includes the records assumed to error in batch and re-run on demand
  (``--stragglers``, default 2 %) and the S3 requests of staging (per batch job);
- ``@10%``: the ratio if 10 % of the records had to be re-run on demand;
- ``crossover``: the smallest job for which batch is possible and cheaper, i.e. the
  batch minimum (``batch_min_records``, 100 by default) unless the fixed cost per
  batch job outweighs the saving.

Target: batch <= 0.55x on-demand. No model is called and no AWS account is needed.

Usage: python benchmarks/bench_batch_cost.py [--records 1000] [--sample 20]
       [--stragglers 0.02] [--min-records 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _machine import print_machine

from plotpalette.config import Settings
from plotpalette.jobs import JobSpec, estimate_job
from plotpalette.jobs.batch_plan import plan_from_estimate
from plotpalette.jobs.preflight import backend_region
from plotpalette.llm import PriceTable, make_backend
from plotpalette.workspace import Workspace

TARGET = 0.55


def batch_models(prices: PriceTable) -> list[str]:
    """Models with a listed batch rate (the local model's zero rate aside)."""
    return [
        p.model
        for p in prices.models()
        if p.batch_input is not None and p.batch_output is not None and p.model != "local/*"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=20, help="seeds rendered and counted")
    parser.add_argument("--stragglers", type=float, default=0.02)
    parser.add_argument("--min-records", type=int, default=100)
    args = parser.parse_args()

    print_machine()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            workspace=tmp,
            backend="bedrock",
            region="us-east-1",
            batch_s3_uri="s3://bench/workspace/batch/",
            batch_role_arn="arn:aws:iam::123456789012:role/bench",
            batch_min_records=args.min_records,
        )
        ws = Workspace.open(tmp, settings=settings)
        backend = make_backend(settings)  # counts tokens; never called
        prices = PriceTable.load(region=backend_region(backend))
        rows = [(m, {"ask": m, "answer": m}) for m in batch_models(prices)]
        rows.append(("as shipped (cheap asks, premium answers)", {}))
        print(
            f"question_answer x sample:poetry, {args.records} records, {args.sample} rendered; "
            f"prices {prices.version}; {args.stragglers:.0%} re-run on demand"
        )
        header = (
            f"{'model (both steps)':<50} {'in/rec':>7} {'out/rec':>7} {'on-demand $/rec':>16} "
            f"{'batch $/rec':>12} {'ratio':>6} {'@10%':>6} {'crossover':>9}"
        )
        print(header)
        print("-" * len(header))
        worst = 0.0
        for label, models in rows:
            spec = JobSpec(
                template="question_answer",
                seeds="sample:poetry",
                records=args.records,
                models=models,
                inference_mode="auto",
            )
            est = estimate_job(ws, spec, backend=backend, sample=args.sample)
            plan, more = (
                plan_from_estimate(
                    est,
                    prices=prices,
                    settings=settings,
                    backend="bedrock",
                    region=backend_region(backend),
                    straggler_rate=rate,
                )
                for rate in (args.stragglers, 0.10)
            )
            tokens_in = sum(s["input_tokens"] for s in est.steps)
            tokens_out = sum(s["max_tokens"] * est.output_fill for s in est.steps)
            on_demand = plan.on_demand_usd / args.records
            batch = (plan.batch_usd or 0.0) / args.records
            ratio = plan.batch_fraction or 0.0
            worst = max(worst, ratio)
            print(
                f"{label:<50} {tokens_in:>7.0f} {tokens_out:>7.0f} {on_demand:>16.7f} "
                f"{batch:>12.7f} {ratio:>6.3f} {more.batch_fraction or 0.0:>6.3f} "
                f"{plan.crossover_records()!s:>9}"
            )
        verdict = "met" if worst <= TARGET else "NOT met"
        print(f"worst ratio {worst:.3f} (target <= {TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
