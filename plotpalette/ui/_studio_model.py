"""TemplateStudio's "preview with the model": a small billed job, never a side door.

Every call that can cost money goes through the budget governor and the ledger, so a
preview that runs the steps with the real model is a job: ``sample_rows`` records of
the *saved* template version over the first seed rows, under the budget the user
typed, with one backend client per studio (built on first use, reused by every click).
The job shows up in the jobs table and the cost dashboard like any other, named
``preview of <name@version>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..jobs import JobResult
    from ..seeds import SeedSet
    from ..workspace import Workspace

__all__ = ["ModelPreview", "model_preview_frame"]


class ModelPreview:
    """Runs model previews as jobs in ``workspace`` with one cached backend."""

    def __init__(self, workspace: Workspace, backend: Any = None) -> None:
        self.workspace = workspace
        self._backend = backend
        self.backends_built = 0  # how many clients this studio made (tests: at most one)

    def backend(self) -> Any:
        """The backend every preview of this studio uses (made once, on first use)."""
        if self._backend is None:
            from ..llm import make_backend

            self._backend = make_backend(self.workspace.settings)
            self.backends_built += 1
        return self._backend

    def run(self, ref: str, seeds: SeedSet, rows: int, budget_usd: float | None) -> JobResult:
        """Run ``rows`` records of template ``ref`` over the first seed rows."""
        from ..jobs import JobSpec, run_job

        if budget_usd is None or budget_usd <= 0:
            raise ConfigError(
                "a preview with the model needs a budget",
                fix="Type the most this preview may spend in 'Budget $' (e.g. 0.05).",
            )
        spec = JobSpec(
            template=ref,
            seeds=[dict(r) for r in seeds.rows[:rows]],
            records=rows,
            budget_usd=float(budget_usd),
            backend=self.workspace.settings.backend,
            name=f"preview of {ref}",
            error_threshold=1.0,  # a preview shows every row's failure, it never stops early
        )
        return run_job(self.workspace, spec, backend=self.backend(), handle_signals=False)


def model_preview_frame(result: JobResult, seeds: SeedSet) -> pd.DataFrame:
    """The preview job's records as one row per (seed row, step), what was really sent
    and received, with the billed cost of each call."""
    import pandas as pd

    from ._studio_views import PREVIEW_COLUMNS

    out = []
    for rec in result.records():
        where = seeds.where(rec.seed_index) if rec.seed_index < len(seeds.rows) else ""
        if not rec.steps:
            out.append({"seed": where, "error": rec.error or rec.status})
        for step_id, step in rec.steps.items():
            sent = rec.prompts.get(step_id, {})
            out.append(
                {
                    "seed": where,
                    "step": step_id,
                    "model_id": step.model,
                    "ran": not step.skipped,
                    "condition": "false" if step.skipped else "true",
                    "system": sent.get("system") or "",
                    "prompt": sent.get("prompt") or "",
                    "input_tokens": step.input_tokens,
                    "max_output_tokens": step.output_tokens,
                    "worst_case_usd": None,
                    "output": step.output,
                    "error": rec.error,
                    "cost_usd": step.cost_usd,
                }
            )
    return pd.DataFrame(out, columns=[*PREVIEW_COLUMNS, "cost_usd"])
