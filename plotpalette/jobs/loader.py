"""Creating a job's stored form, and loading it back for a run.

At creation the template reference is resolved (a bare name pins the *latest* version
at that moment, never version 1 by default), the resolved template is snapshotted to
``jobs/<id>/template.yaml`` and the seeds are stored by content hash, so a job runs
the same whatever later happens to the template library or the seed files.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from .. import layout
from ..errors import ConfigError, JobNotFoundError, TemplateError, WorkspaceError
from ..workspace import Workspace
from .execute import StepPlan
from .spec import JobSpec, fingerprint, split_template_ref

__all__ = [
    "LoadedJob",
    "load_job",
    "make_job_id",
    "resolve_seeds",
    "resolve_template",
    "step_plans",
    "store_job",
]

_HEX = set("0123456789abcdef")


def make_job_id(template_name: str) -> str:
    """``<template>-<yymmdd-hhmmss>-<4 hex>``: sortable, readable, unique enough."""
    stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime())
    return f"{template_name[:28]}-{stamp}-{secrets.token_hex(2)}"


def _library(workspace: Workspace) -> Any:
    """The workspace's template library (fragments a template includes come from it)."""
    from ..templates.library import TemplateLibrary

    return TemplateLibrary(workspace)


def resolve_template(workspace: Workspace, ref: str) -> Any:
    """The template ``ref`` names, with its version set (latest if ``ref`` has none)."""
    name, version = split_template_ref(ref)
    tpl = _library(workspace).get(name if version is None else f"{name}@{version}")
    if not tpl.version:
        raise TemplateError(
            f"template {name!r} resolved without a version number",
            fix="Save it to the library first (plotpalette template save).",
        )
    return tpl


def resolve_seeds(workspace: Workspace, seeds: Any) -> Any:
    """A SeedSet from a hash, ``sample:<name>``, a path, or any loadable object."""
    from ..seeds import SeedSet, load_seeds, sample_seeds

    if isinstance(seeds, SeedSet):
        return seeds
    if isinstance(seeds, str):
        text = seeds.strip()
        if text.startswith("sample:"):
            return sample_seeds(text.split(":", 1)[1])
        if len(text) >= 8 and set(text.lower()) <= _HEX and not text.isdigit():
            return SeedSet.from_workspace(workspace, text)
    return load_seeds(seeds)


def store_job(
    workspace: Workspace, spec: JobSpec, *, job_id: str | None = None, batch_id: str | None = None
) -> tuple[str, JobSpec, str]:
    """Resolve, validate and store a new job; returns ``(job_id, resolved spec, fingerprint)``.

    The registry item, which holds the resolved spec, is created by the caller after
    this returns.
    """
    from ..seeds import validate_rows
    from ..templates.render import Renderer

    tpl = resolve_template(workspace, spec.template)
    seeds = resolve_seeds(workspace, spec.seeds)
    renderer = Renderer(tpl, _library(workspace))
    validate_rows(seeds, renderer.inputs()).raise_if_invalid()
    for step_id in spec.models:
        tpl.step(step_id)  # raises naming the valid step ids
    seeds.save_to(workspace)
    resolved = spec.replace(
        template=f"{tpl.name}@{tpl.version}",
        template_hash=tpl.content_hash,
        seeds=seeds.sha256,
        seeds_format="jsonl",
        backend=spec.backend or workspace.settings.backend,
    )
    fp = fingerprint(resolved)
    job_id = layout.validate_name("job", job_id or make_job_id(tpl.name))
    # The spec itself lives in the registry item only (one source of truth, read by
    # status, lists, the finalizer and every worker); the job folder holds what the
    # spec points at. Put-if-absent: an id whose folder exists is taken.
    if not workspace.store.create(layout.template_snapshot_key(job_id), tpl.to_yaml().encode()):
        raise WorkspaceError(
            f"job {job_id} already has a folder in {workspace.location}",
            fix="Choose another job id.",
        )
    return job_id, resolved, fp


@dataclass
class LoadedJob:
    job_id: str
    spec: JobSpec
    template: Any
    renderer: Any
    rows: list[dict[str, Any]]


def load_job(workspace: Workspace, job_id: str) -> LoadedJob:
    """Read a job's spec (from the registry), template snapshot and seeds back.

    Jobs made before the spec lived only in the registry also have a
    ``jobs/<id>/spec.json``; it holds the same spec and nothing reads it."""
    from ..seeds import SeedSet
    from ..templates import parse_template
    from ..templates.render import Renderer

    try:
        spec = JobSpec.from_dict(workspace.registry.job_data(job_id)["spec"])
        yaml_text = workspace.store.read_bytes(layout.template_snapshot_key(job_id)).decode()
    except (KeyError, JobNotFoundError):
        raise JobNotFoundError(
            f"job {job_id} has no stored spec in {workspace.location}",
            fix="List jobs with `plotpalette list`.",
        ) from None
    tpl = parse_template(yaml_text, source=layout.template_snapshot_key(job_id))
    if spec.template_hash and tpl.content_hash != spec.template_hash:
        raise WorkspaceError(
            f"the template snapshot of job {job_id} does not match its recorded hash",
            fix="The job folder was edited; restore template.yaml or start a new job.",
        )
    seeds = SeedSet.from_workspace(workspace, spec.seeds)
    return LoadedJob(job_id, spec, tpl, Renderer(tpl, _library(workspace)), list(seeds.rows))


def step_plans(loaded: LoadedJob, backend: Any) -> list[StepPlan]:
    """Concrete model ids per step: override > ``tier`` > template (aliases resolved);
    ``max_tokens`` is the step's, capped by the spec's ``max_tokens``."""
    spec, tpl, renderer = loaded.spec, loaded.template, loaded.renderer
    cap = spec.max_tokens
    plans = []
    for step in tpl.steps:
        primary = spec.models.get(step.id) or spec.tier or renderer.model_for(step.id)
        chain = [primary, *(tpl.models.get(m, m) for m in step.fallback)]
        models: list[str] = []
        for ref in chain:
            try:
                model = backend.resolve_model(ref)
            except ConfigError as exc:
                raise ConfigError(f"step {step.id!r}: {exc.message}", fix=exc.fix) from None
            if model not in models:
                models.append(model)
        plans.append(
            StepPlan(
                id=step.id,
                models=models,
                max_tokens=min(step.max_tokens, cap) if cap else step.max_tokens,
                temperature=step.temperature,
                top_p=step.top_p,
                stop=tuple(step.stop),
                json_expected=step.format == "json",
                json_schema=step.json_schema,
            )
        )
    return plans
