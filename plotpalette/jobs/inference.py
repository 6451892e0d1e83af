"""Resolve a job's ``inference_mode`` when it is created.

``auto`` becomes ``"batch"`` or ``"on-demand"`` here, from the job's estimate and
:mod:`.batch_plan`, so the stored spec says what was chosen and the engine only ever
sees those two. ``"batch"`` is checked here too: a job Bedrock batch inference cannot
run fails at creation with :class:`~plotpalette.errors.BatchUnavailableError` naming
every reason, before anything is stored or spent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BatchUnavailableError
from ..workspace import Workspace
from .batch_plan import DEFAULT_MAX_WAIT_HOURS, check_inference_mode
from .spec import JobSpec

__all__ = ["resolve_inference_mode"]


def resolve_inference_mode(
    workspace: Workspace | str | Path,
    spec: JobSpec,
    *,
    backend: Any = None,
    max_wait_hours: float = DEFAULT_MAX_WAIT_HOURS,
    on_choice: Callable[[str], None] | None = None,
) -> JobSpec:
    """``spec`` with ``inference_mode`` resolved to ``"on-demand"`` or ``"batch"``.

    ``auto`` picks batch when every step can batch, batch is cheaper at list prices,
    and its latency bound (24 h per step) is at most ``max_wait_hours``. ``batch``
    raises :class:`BatchUnavailableError` when the job cannot batch. Estimates the
    job (renders a few records; calls no model) unless the answer is plain.
    ``on_choice`` hears one sentence saying what was chosen and why.
    """
    from .api import _workspace
    from .estimate import estimate_job

    mode = spec.inference_mode
    check_inference_mode(mode)
    if mode == "on-demand":
        return spec
    ws = _workspace(workspace)
    backend_name = spec.backend or ws.settings.backend
    if backend_name != "bedrock":
        if mode == "auto":
            if on_choice is not None:
                on_choice(f"on-demand: the {backend_name!r} backend cannot batch")
            return spec.replace(inference_mode="on-demand")
        raise BatchUnavailableError(
            f"this job runs on the {backend_name!r} backend; batch inference is Bedrock's",
            fix="Use --backend bedrock with --mode batch, or --mode on-demand.",
        )
    estimate = estimate_job(ws, spec, backend=backend, max_wait_hours=max_wait_hours)
    plan = estimate.inference
    assert plan is not None  # estimate_job always plans
    chosen = plan.choose(mode, max_wait_hours)
    if on_choice is not None:
        on_choice(plan.why(mode, max_wait_hours))
    return spec.replace(inference_mode=chosen)
