"""Preview with a model: real calls, charged to a budget and written to the cost ledger.

A preview that calls a model spends money like a job does, so it *is* a job: the sample
rows become a small job (named ``preview of <template>@<version>``, sequential rows, every
quality check set to ``keep``, and it stops early on failed rows only when every row
fails, so every output and each row's failure is shown) run by the ordinary engine. Every
call therefore goes through the budget governor (worst case reserved before the call,
settled to the reported usage after it) and lands in the registry's append-only ledger,
in ``plotpalette costs`` and in the cost analytics. Nothing here calls a backend itself.

The job needs a template version to pin: a template that is not yet stored (an edited
draft) is saved to the library first, as a new version with the message "saved for a
preview with a model" (content identical to the latest version saves nothing).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, PricingError
from .model import Template

__all__ = ["paid_preview"]


def paid_preview(
    tpl: Template,
    rows: list[Any],
    *,
    budget_usd: float | None,
    backend: Any,
    workspace: Any,
    library: Any,
    settings: Any,
    prices: Any,
    records: int,
    rng_seed: int,
) -> Any:
    """Run ``rows`` through ``tpl`` as a budgeted job; returns a :class:`PreviewResult`."""
    from ..jobs import JobSpec, iter_records, run_job
    from ..jobs.spec import DEFAULT_CHECKS
    from ..workspace import Workspace
    from .library import TemplateLibrary
    from .preview import PreviewResult

    if budget_usd is None or not budget_usd > 0:
        raise ConfigError(
            "a preview that calls a model is charged to a budget, and none was given",
            fix="Pass budget_usd= (e.g. budget_usd=0.05), the most the preview may spend.",
        )
    if not rows or not all(isinstance(r, dict) for r in rows):
        raise ConfigError(
            "a preview with a model needs at least one seed row (a dict)",
            fix="Pass rows such as seeds.rows[:2].",
        )
    if workspace is None:
        workspace = getattr(library, "workspace", None) or Workspace.open(settings=settings)
    if library is None or getattr(library, "workspace", None) is not workspace:
        library = TemplateLibrary(workspace)
    stored = _stored(library, tpl)
    if stored is None:
        stored = library.save(tpl, message="saved for a preview with a model")
    spec = JobSpec(
        template=stored.ref,
        seeds=[dict(r) for r in rows],
        records=len(rows),
        budget_usd=float(budget_usd),
        sampling="sequential",  # record i is row i
        sampling_seed=rng_seed,
        checks=dict.fromkeys(DEFAULT_CHECKS, "keep"),
        error_threshold=1.0,  # show each row's failure; stop early only if every row fails
        name=f"preview of {stored.ref}",
    )
    result = run_job(workspace, spec, backend=backend, handle_signals=False)
    found = {r.index: r for r in iter_records(workspace, result.job_id)}
    name = str(getattr(backend, "name", "") or getattr(settings, "backend", ""))
    preview_rows = [
        _row(stored, i, row, found.get(i), prices, result.state.value, name)
        for i, row in enumerate(rows)
    ]
    notes = [
        f"charged to job {result.job_id} (budget ${budget_usd:.4f}, spent "
        f"${result.spend_usd:.6f}); see `plotpalette status {result.job_id}`"
    ]
    out = PreviewResult(
        stored.ref,
        preview_rows,
        records,
        f"backend {getattr(backend, 'name', 'configured')} (reported usage)",
        getattr(prices, "version", None),
        notes,
        name,
    )
    out.job_id, out.spent_usd = result.job_id, result.spend_usd
    return out


def _stored(library: Any, tpl: Template) -> Template | None:
    """The library's version with ``tpl``'s content, if ``tpl`` names one."""
    if tpl.version is None:
        return None
    try:
        found: Template = library.get(tpl.ref)
    except Exception:  # unknown here (another workspace's version): save it
        return None
    return found if found.content_hash == tpl.content_hash else None


def _row(
    tpl: Template, index: int, seed: Any, record: Any, prices: Any, state: str, backend: str
) -> Any:
    from ..llm.capabilities import json_output_mode
    from .preview import PreviewRow, PreviewStep

    if record is None:
        return PreviewRow(
            index,
            seed,
            [],
            {},
            error=f"not previewed: the preview job ended {state} before this row "
            "(raise budget_usd to preview every row)",
        )
    steps = []
    for step in tpl.steps:
        result = record.steps.get(step.id)
        if result is None:
            continue  # an earlier step failed: the record's error says which
        prompts = record.prompts.get(step.id, {})
        worst = None
        note = ""
        if not result.skipped:
            try:
                worst = prices.worst_case(result.model, result.input_tokens, step.max_tokens)
            except PricingError as exc:
                note = exc.message
        steps.append(
            PreviewStep(
                step.id,
                tpl.models.get(step.model, step.model),
                result.model,
                not result.skipped,
                "none" if not step.when else ("false" if result.skipped else "true"),
                prompts.get("system"),
                prompts.get("prompt") or "",
                result.input_tokens,
                step.max_tokens,
                result.input_tokens,
                result.output,
                not result.skipped,
                worst if not result.skipped else 0.0,
                actual_usd=result.cost_usd,
                note=note,
                output_tokens=None if result.skipped else result.output_tokens,
                structured_output=json_output_mode(backend, result.model)
                if step.format == "json" and not result.skipped
                else None,
            )
        )
    return PreviewRow(index, seed, steps, dict(record.outputs), error=record.error)
