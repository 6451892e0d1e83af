"""The JobWizard's inference-mode choice: on-demand, Bedrock batch, or auto.

The review shows both ways side by side (cost and expected latency, from the estimate's
:class:`~plotpalette.jobs.batch_plan.InferencePlan`) and says what ``auto`` picks; the
choice goes into the spec, and ``auto`` is resolved at launch under the accepted wait.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from ..jobs.batch_plan import (
    BATCH_HOURS_PER_STEP,
    DEFAULT_MAX_WAIT_HOURS,
    INFERENCE_MODES,
    format_hours,
)
from ..jobs.inference import resolve_inference_mode
from ._job_html import format_usd, table

__all__ = ["ModeChooser"]


class ModeChooser:
    """The mode buttons, the wait ``auto`` accepts, and the side-by-side table."""

    def __init__(self, style: dict[str, str]) -> None:
        self.mode = widgets.ToggleButtons(
            description="inference",
            options=list(INFERENCE_MODES),
            value="on-demand",
            tooltips=[
                "one call per record and step, answers in seconds",
                "Bedrock batch inference: about half the price, answers within hours",
                "batch where it is cheaper and within the accepted wait",
            ],
            style=style,
        )
        self.max_wait = widgets.BoundedFloatText(
            description="auto: accept (h)",
            min=0.0,
            max=24.0 * 365,
            value=DEFAULT_MAX_WAIT_HOURS,
            tooltip=f"batch counts as up to {BATCH_HOURS_PER_STEP:g} h per step",
            style=style,
        )
        self.widget = widgets.HBox([self.mode, self.max_wait])

    @property
    def value(self) -> str:
        return str(self.mode.value)

    @property
    def max_wait_hours(self) -> float:
        return float(self.max_wait.value)

    def resolve(self, workspace: Any, spec: Any, backend: Any, say: Any) -> Any:
        """``spec`` with ``auto`` resolved under the accepted wait (``batch`` checked);
        ``say`` hears what was chosen and why."""
        return resolve_inference_mode(
            workspace,
            spec,
            backend=backend,
            max_wait_hours=self.max_wait_hours,
            on_choice=lambda why: say(f"inference {self.value}: {why}"),
        )

    def warnings(self, estimate: Any) -> list[str]:
        """A batch choice the job cannot honour, said before Launch refuses it."""
        plan = estimate.inference
        if self.value != "batch" or plan is None or plan.can_batch:
            return []
        return [
            "batch inference is not possible for this job: "
            + "; ".join(plan.reasons)
            + ". Choose on-demand or auto."
        ]

    def html(self, estimate: Any) -> str:
        """Both modes side by side, the one this job would run as marked."""
        plan = estimate.inference
        if plan is None:
            return ""
        chosen = estimate.chosen_mode
        batch = plan.batch_usd
        fraction = f" ({plan.batch_fraction:.2f}x)" if plan.batch_fraction is not None else ""
        rows = [
            [
                "on-demand" + (" ✔" if chosen == "on-demand" else ""),
                format_usd(plan.on_demand_usd),
                format_hours(plan.on_demand_hours),
            ],
            [
                "batch" + (" ✔" if chosen == "batch" else ""),
                (format_usd(batch) + fraction) if batch is not None else "not possible",
                f"up to {plan.batch_hours:g} h",
            ],
        ]
        why = (
            html.escape(plan.why(self.value, self.max_wait_hours))
            if chosen != "unavailable"
            else ""
        )
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in plan.reasons)
        return (
            f"<b>Inference</b> ({html.escape(self.value)}): {why}"
            + table(["mode", f"typical cost ({plan.records} records)", "latency"], rows)
            + (f"<small>batch is not possible:</small><ul>{reasons}</ul>" if reasons else "")
            + f"<small>batch: {plan.straggler_rate:.0%} of records assumed to error and re-run "
            f"on demand; up to {BATCH_HOURS_PER_STEP:g} h per step is AWS's target, not a "
            "promise.</small>"
        )
