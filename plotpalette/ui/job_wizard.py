"""JobWizard: choose a template, seeds, models and limits, review the estimate, launch.

>>> wizard = JobWizard(template="question_answer", records=5)  # doctest: +SKIP
>>> wizard.review()            # the pre-flight estimate and its warnings  # doctest: +SKIP
>>> console = wizard.launch()  # runs in the background; returns its JobConsole  # doctest: +SKIP
>>> console.wait()             # headless runs block here                  # doctest: +SKIP

The three stages are the three buttons: the form, **Review** (:meth:`review`: the
estimate from :func:`plotpalette.jobs.estimate_job`, no model is called) and **Launch**
(:meth:`launch`: the job is created, started in a background thread and a
:class:`JobConsole` opens below the form).
"""

from __future__ import annotations

import contextlib
import html
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..config import BACKENDS
from ..jobs import Estimate, JobHandle, JobSpec, estimate_job, submit_job
from ..workspace import Workspace
from ._base import App, no_positional
from ._job_html import format_usd, table
from ._wizard_mode import ModeChooser
from .job_console import JobConsole

__all__ = ["JobWizard"]

TIERS = ("cheap", "balanced", "premium")
_DEFAULT = "(template default)"


def _open(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def _template_choices(ws: Workspace) -> list[str]:
    """Every template (not fragment) as ``name`` and ``name@version``, built-in and saved."""
    from ..templates.library import TemplateLibrary

    library = TemplateLibrary(ws)
    names: list[str] = []
    for latest in library.list_templates():
        if latest.fragment:
            continue
        names.append(latest.name)
        names += [f"{latest.name}@{v}" for v in library.versions(latest.name)]
    return names


class JobWizard(App):
    """A form for a :class:`~plotpalette.jobs.JobSpec`, its estimate, and Launch.

    Args:
        workspace: where the job is created (default: the current workspace).
        template, seeds, records, budget_usd, backend, max_tokens: initial values of the
            form (``max_tokens``: the "max tokens per step" cap, None/0 = the template's).
            ``seeds`` may also be a SeedSet, DataFrame or list of dicts (e.g. from
            SeedExplorer); see :meth:`set_seeds`.
        model_backend: a backend *object* to run with instead of ``backend``'s (tests
            pass :class:`plotpalette.testing.InstantBackend`).
    """

    title = "Job wizard"

    def __init__(
        self,
        *args: object,
        workspace: Workspace | str | Path | None = None,
        template: str = "",
        seeds: Any = "sample:poetry",
        records: int = 5,
        budget_usd: float | None = 0.10,
        backend: str | None = None,
        model_backend: Any = None,
        max_tokens: int | None = None,
    ) -> None:
        no_positional("JobWizard", args)
        super().__init__()
        self.workspace = _open(workspace)
        self.model_backend = model_backend
        self.seed_object: Any = None  # seeds handed over as an object, not a string
        self.template_obj: Any = None
        self.estimate: Estimate | None = None
        self.warnings: list[str] = []
        self.console: JobConsole | None = None
        self.handle: JobHandle | None = None
        self._reviewed: dict[str, Any] | None = None
        self._build(backend or self.workspace.settings.backend)
        self.template.value = template
        self.records.value = records
        self.unlimited.value = budget_usd is None
        self.budget_usd.value = budget_usd or 0.0
        self.max_tokens.value = max_tokens or 0
        self.set_seeds(seeds)
        self.template.observe(self._on_template, names="value")
        self.load_template_choices()
        if template:
            self._safe(self.load_template)

    # -- widgets -----------------------------------------------------------------------
    def _build(self, backend: str) -> None:
        wide = widgets.Layout(width="32em")
        style = {"description_width": "11em"}
        self.template = widgets.Combobox(
            description="template",
            placeholder="name or name@2",
            ensure_option=False,
            layout=wide,
            style=style,
        )
        self.seeds = widgets.Combobox(
            description="seeds",
            placeholder="sample:poetry or a path",
            ensure_option=False,
            layout=wide,
            style=style,
            options=["sample:poetry"],
        )
        self.seeds_note = widgets.HTML()
        self.tier = widgets.Dropdown(
            description="tier (all steps)", options=[_DEFAULT, *TIERS], value=_DEFAULT, style=style
        )
        self.step_models = widgets.VBox()  # one Combobox per template step
        self.records = widgets.BoundedIntText(
            description="records", min=1, max=10_000_000, value=5, style=style
        )
        self.budget_usd = widgets.BoundedFloatText(
            description="budget $", min=0.0, max=1e7, step=0.05, value=0.1, style=style
        )
        self.unlimited = widgets.Checkbox(description="no budget limit", value=False)
        self.max_tokens = widgets.BoundedIntText(
            description="max tokens per step",
            min=0,
            max=1_000_000,
            value=0,
            tooltip="cap every step's output at this many tokens (0: the template's own)",
            style=style,
        )
        self.backend = widgets.ToggleButtons(
            description="backend", options=list(BACKENDS), value=backend, style=style
        )
        self.name = widgets.Text(description="job name", placeholder="optional", style=style)
        self.mode = ModeChooser(style)  # on-demand / Bedrock batch / auto
        # "AWS Batch" submits the job's workers to the stack (s3:// workspaces only)
        self.run_on = widgets.ToggleButtons(
            description="run on", options=["this machine", "AWS Batch"], style=style
        )
        self.workers = widgets.BoundedIntText(
            description="AWS workers", min=1, max=10_000, value=1, style=style
        )
        self.review_button = widgets.Button(description="Review", icon="search")
        self.launch_button = widgets.Button(
            description="Launch", icon="rocket", button_style="success"
        )
        self.review_html = widgets.HTML()
        self.console_box = widgets.VBox()
        # the console again, for a later notebook cell: it fills in when Launch is pressed
        # (a cell showing ``wizard.console`` would stay at "None" until it is run again)
        self.console_slot = widgets.VBox(
            [
                widgets.HTML(
                    "<i>Press <b>Launch</b> in the wizard above: the console opens here.</i>"
                )
            ]
        )
        self.on_click(self.review_button, self.review)
        self.on_click(self.launch_button, self.launch)
        self.widget = widgets.VBox(
            [
                widgets.HTML(f"<b>{self.title}</b>"),
                self.template,
                self.seeds,
                self.seeds_note,
                self.tier,
                self.step_models,
                self.records,
                widgets.HBox([self.budget_usd, self.unlimited]),
                self.max_tokens,
                self.backend,
                self.mode.widget,
                self.name,
                widgets.HBox([self.run_on, self.workers]),
                widgets.HBox([self.review_button, self.launch_button, self.status]),
                self.review_html,
                self.log,
                self.console_box,
            ]
        )

    def _safe(self, method: Any) -> None:
        """Run ``method`` from an observer: its errors go to the log panel only."""
        with contextlib.suppress(Exception):
            method()

    def _on_template(self, _: Any) -> None:
        # every keystroke changes a Combobox: load only complete choices
        if self.template.value in self.template.options:
            self._safe(self.load_template)

    # -- form ------------------------------------------------------------------------
    @App.guard
    def load_template_choices(self) -> list[str]:
        """Fill the template box's suggestions from the template library."""
        choices = _template_choices(self.workspace)
        self.template.options = tuple(choices)
        return choices

    @App.guard
    def load_template(self) -> Any:
        """Load the chosen template and offer a model box for each of its steps."""
        from ..templates.library import TemplateLibrary

        ref = self.template.value.strip()
        if not ref:
            self.template_obj = None
            self.step_models.children = ()
            return None
        tpl = TemplateLibrary(self.workspace).get(ref)
        self.template_obj = tpl
        boxes = []
        for step in tpl.steps:
            box = widgets.Combobox(
                description=f"model: {step.id}",
                ensure_option=False,
                placeholder=f"{step.model} (template)",
                options=list(TIERS),
                style={"description_width": "11em"},
                layout=widgets.Layout(width="32em"),
            )
            box.step_id = step.id  # type: ignore[attr-defined]
            boxes.append(box)
        self.step_models.children = tuple(boxes)
        self.status.value = (
            f"template {html.escape(tpl.name)}@{tpl.version}: {len(tpl.steps)} step(s)"
        )
        return tpl

    def set_seeds(self, seeds: Any) -> None:
        """Use ``seeds``: a string (``sample:<name>``, a path, a seed-set hash) goes into
        the seeds box; a SeedSet, DataFrame or list of dicts is kept as the object."""
        if isinstance(seeds, (str, Path)):
            self.seed_object = None
            self.seeds.value = str(seeds)
            self.seeds.disabled = False
            self.seeds_note.value = ""
        else:
            self.seed_object = seeds
            self.seeds.value = ""
            self.seeds.disabled = True
            rows = len(seeds) if hasattr(seeds, "__len__") else "?"
            self.seeds_note.value = (
                f"<i>using the {type(seeds).__name__} passed in ({rows} rows)</i>"
            )

    @property
    def models(self) -> dict[str, str]:
        """Per-step model or tier overrides from the step boxes (blank ones omitted)."""
        return {
            box.step_id: box.value.strip() for box in self.step_models.children if box.value.strip()
        }

    def spec(self) -> JobSpec:
        """The :class:`JobSpec` the form describes (raises ConfigError naming a field)."""
        aws = self.run_on.value == "AWS Batch"
        return JobSpec(
            template=self.template.value.strip(),
            seeds=self.seed_object if self.seed_object is not None else self.seeds.value.strip(),
            records=int(self.records.value),
            budget_usd=None if self.unlimited.value else float(self.budget_usd.value),
            models=self.models,
            tier=None if self.tier.value == _DEFAULT else self.tier.value,
            backend="bedrock" if aws else self.backend.value,
            max_tokens=int(self.max_tokens.value) or None,
            name=self.name.value.strip() or None,
            runtime="aws" if aws else "local",
            workers=int(self.workers.value) if aws else None,
            inference_mode=self.mode.value,
        )

    def _form(self) -> dict[str, Any]:
        wait = self.mode.max_wait_hours
        return {"spec": self.spec().to_dict(), "seeds": id(self.seed_object), "wait": wait}

    # -- review ----------------------------------------------------------------------
    @App.guard
    def review(self) -> Estimate:
        """The pre-flight estimate of the form's job, with warnings; calls no model."""
        spec = self.spec()
        estimate = estimate_job(
            self.workspace,
            spec,
            backend=self.model_backend,
            max_wait_hours=self.mode.max_wait_hours,
        )
        self.estimate = estimate
        self.warnings = self._warnings(estimate) + self.mode.warnings(estimate)
        self._reviewed = self._form()
        self.review_html.value = self._review_html(estimate)
        self.status.value = "review: " + (
            f"{len(self.warnings)} warning(s)" if self.warnings else "ok"
        )
        for warning in self.warnings:
            self.info(f"warning: {warning}")
        return estimate

    @staticmethod
    def _warnings(e: Estimate) -> list[str]:
        out = []
        within = e.records_within_budget
        if e.budget_usd is not None and within is not None and within < e.records:
            if within == 0:
                out.append(
                    f"the budget {format_usd(e.budget_usd)} is too small for even one "
                    f"record (worst case {format_usd(e.per_record_worst_usd)} each): the "
                    "job would stop BUDGET_EXCEEDED at once. Raise the budget."
                )
            else:
                out.append(
                    f"the budget {format_usd(e.budget_usd)} covers at least {within} of "
                    f"{e.records} records in the worst case "
                    f"({format_usd(e.total_worst_usd)} for all); if outputs run long "
                    "the job stops BUDGET_EXCEEDED and can be resumed with more budget."
                )
        if e.budget_usd is None and e.total_worst_usd > 0:
            out.append(f"no budget limit: the worst case is {format_usd(e.total_worst_usd)}.")
        return out

    def _review_html(self, e: Estimate) -> str:
        rows = [
            [
                s["step"],
                s["model"],
                f"{s['input_tokens']:.0f}",
                s["max_tokens"],
                format_usd(s["typical_usd"]),
                format_usd(s["worst_usd"]),
            ]
            for s in e.steps
        ]
        steps = table(
            [
                "step",
                "model",
                "input tokens",
                "max output tokens",
                "typical $/record",
                "worst $/record",
            ],
            rows,
        )
        totals = table(
            ["", "per record", f"total ({e.records} records)"],
            [
                ["typical", format_usd(e.per_record_typical_usd), format_usd(e.total_typical_usd)],
                ["worst case", format_usd(e.per_record_worst_usd), format_usd(e.total_worst_usd)],
            ],
        )
        warn = "".join(f"<li style='color:#b00020'>{html.escape(w)}</li>" for w in self.warnings)
        budget = format_usd(e.budget_usd)
        cap = f", max tokens per step {e.max_tokens}" if e.max_tokens else ""
        return (
            f"<b>Review</b> — {html.escape(e.template)}, prices {html.escape(e.price_table)}"
            f", budget {budget}{cap}<br>{totals}{steps}"
            f"<small>typical assumes outputs at {e.output_fill:.0%} of max tokens; "
            f"{e.sampled} record(s) rendered for the estimate.</small>"
            + (f"<ul>{warn}</ul>" if warn else "")
            + self.mode.html(e)
        )

    # -- launch ----------------------------------------------------------------------
    @App.guard
    def launch(self) -> JobConsole:
        """Create the job, start it in the background and open its console below.

        Reviews first when the form changed since the last review (so the warnings are
        always shown before money is spent). Returns the :class:`JobConsole`.
        """
        if self._reviewed != self._form():
            self.review()
        # auto is decided now, under the accepted wait; the job stores the choice
        spec = self.mode.resolve(self.workspace, self.spec(), self.model_backend, self.info)
        if spec.runtime == "aws":  # the workers run on AWS Batch; follow the registry
            submitted = submit_job(self.workspace, spec)
            if self.console is not None:
                self.console.close()
            self.console = JobConsole(submitted.job_id, workspace=self.workspace)
            self.console_box.children = (self.console.widget,)
            self.info(f"submitted {submitted.job_id} to AWS Batch as {submitted.batch_job_id}")
            return self.console
        handle = JobHandle(self.workspace, spec, backend=self.model_backend)
        self.handle = handle
        if self.console is not None:
            self.console.close()
        self.console = JobConsole(handle, backend=self.model_backend)
        self.console_box.children = (self.console.widget,)
        self.console_slot.children = (self.console.widget,)
        self.info(f"launched {handle.job_id}")
        return self.console
