"""Parameter sweeps: one template across models, tiers, seed sets or sizes.

Each variant is an ordinary job carrying the same ``sweep_id``, so it can be
inspected, resumed or exported on its own; :func:`compare_sweep` puts them side by side
(spend, records ok/failed/filtered, spend per accepted record). ("Batch" is kept for
Bedrock batch inference, which is a different thing.)
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..workspace import Workspace
from .api import JobResult, _workspace, create_job, list_jobs, run_job
from .events import EventCallback
from .spec import JobSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SweepResult", "compare_sweep", "run_sweep", "sweep_specs"]


@dataclass
class SweepResult:
    """The jobs of one sweep, in the order they ran, and their results."""

    sweep_id: str
    job_ids: list[str]
    results: list[JobResult]

    def table(self, workspace: Workspace | str | Path) -> pd.DataFrame:
        """The side-by-side comparison (:func:`compare_sweep`)."""
        return compare_sweep(workspace, self.sweep_id)


def sweep_specs(
    base: JobSpec,
    *,
    models: Sequence[str | dict[str, str]] | None = None,
    seeds: Sequence[Any] | None = None,
    records: Sequence[int] | None = None,
) -> list[JobSpec]:
    """Every combination of the given variations of ``base`` (a cartesian product).

    ``models`` entries are a model id or tier for every step (a string) or per-step
    overrides (a dict step id -> model). Each spec gets a readable ``name``.
    """
    dims: list[list[tuple[str, dict[str, Any]]]] = []
    if models:
        dims.append(
            [
                (
                    m if isinstance(m, str) else ",".join(f"{k}={v}" for k, v in m.items()),
                    {"tier": m, "models": {}}
                    if isinstance(m, str)
                    else {"models": dict(m), "tier": None},
                )
                for m in models
            ]
        )
    if seeds:
        dims.append([(f"seeds{n}", {"seeds": s}) for n, s in enumerate(seeds, 1)])
    if records:
        dims.append([(f"n{r}", {"records": int(r)}) for r in records])
    if not dims:
        raise ConfigError(
            "a sweep needs at least one variation",
            fix="Pass models=[...], seeds=[...] or records=[...].",
        )
    specs = []
    for combo in itertools.product(*dims):
        changes: dict[str, Any] = {}
        for _, change in combo:
            changes.update(change)
        label = " ".join(lbl for lbl, _ in combo)
        specs.append(base.replace(name=label, **changes))
    return specs


def run_sweep(
    workspace: Workspace | str | Path,
    base: JobSpec,
    *,
    models: Sequence[str | dict[str, str]] | None = None,
    seeds: Sequence[Any] | None = None,
    records: Sequence[int] | None = None,
    backend: Any = None,
    on_event: EventCallback | None = None,
    **run_kwargs: Any,
) -> SweepResult:
    """Create every variant as a linked job, then run them one after another.

    Each job has ``base.budget_usd`` as its own budget. All jobs are created before the
    first runs, so an interrupted sweep can be finished by resuming the rest.
    """
    ws = _workspace(workspace)
    sweep_id = f"sweep-{time.strftime('%y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
    specs = sweep_specs(base, models=models, seeds=seeds, records=records)
    job_ids = [create_job(ws, spec, sweep_id=sweep_id) for spec in specs]
    results = [
        run_job(ws, job_id, backend=backend, on_event=on_event, **run_kwargs) for job_id in job_ids
    ]
    return SweepResult(sweep_id, job_ids, results)


def compare_sweep(workspace: Workspace | str | Path, sweep_id: str) -> pd.DataFrame:
    """One row per job of the sweep: variant, state, counts, spend, spend per ok record."""
    import pandas as pd

    rows = []
    for info in sorted(list_jobs(workspace, sweep_id=sweep_id), key=lambda i: i.created_at):
        spec = info.spec
        rows.append(
            {
                "job_id": info.job_id,
                "variant": info.name,
                "template": info.template,
                "models": spec.get("tier") or spec.get("models") or "template",
                "records": info.records_total,
                "state": info.state.value,
                "ok": info.records_ok,
                "filtered": info.records_filtered,
                "failed": info.records_failed,
                "spend_usd": info.spend_usd,
                "waste_usd": info.waste_usd,
                "spend_per_ok_usd": info.spend_usd / info.records_ok if info.records_ok else None,
            }
        )
    return pd.DataFrame(rows)
