"""The job specification and its fingerprint.

A :class:`JobSpec` says *what* to generate (template, seeds, record count, models,
sampling, quality-check policy) and *under which limits* (budget, concurrency, rate
limits). The :func:`fingerprint` covers exactly the first group: two specs with the same
fingerprint produce the same records, whatever their budgets or concurrency, which is
what makes "resume with a bigger budget" safe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = [
    "CHECK_NAMES",
    "CHECK_POLICIES",
    "DEFAULT_CHECKS",
    "RESULT_FIELDS",
    "SAMPLING_MODES",
    "JobSpec",
    "fingerprint",
    "split_template_ref",
]

SAMPLING_MODES = ("sequential", "with_replacement", "without_replacement")
INFERENCE_MODES = ("on-demand", "batch", "auto")  # "auto": resolved by the planner at creation
# The model stopped without a usable answer: each Bedrock stop reason is its own check.
STOP_CHECKS = (
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
)
CHECK_NAMES = ("empty", "repetition", "refusal", "truncated", "invalid_json", *STOP_CHECKS)
CHECK_POLICIES = ("filter", "fail", "keep")
# Defaults: drop what is useless, keep (but flag) what was merely cut at max_tokens.
DEFAULT_CHECKS: dict[str, str] = {
    "empty": "filter",
    "repetition": "filter",
    "refusal": "filter",
    "truncated": "keep",
    "invalid_json": "filter",
    **dict.fromkeys(STOP_CHECKS, "filter"),
}

# Fields that change the records produced; everything else (budget, concurrency, rate
# limits, early-stop knobs, names, exports) is left out of the fingerprint.
RESULT_FIELDS = (
    "template",
    "template_hash",
    "seeds",
    "records",
    "models",
    "tier",
    "backend",
    "sampling",
    "sampling_seed",
    "checks",
    "max_tokens",
)


@dataclass
class JobSpec:
    """Everything a job needs. Only ``template`` and ``seeds`` are required.

    ``template`` is ``name`` or ``name@version``; at creation a bare name is pinned to
    the latest version and stored as ``name@version`` with its content hash. ``seeds``
    is a seed-set sha256, ``"sample:<name>"``, a file path, or (before creation) any
    object :func:`plotpalette.seeds.load_seeds` accepts; it is stored by content hash.
    ``max_tokens`` caps every step's ``max_tokens`` (``min(step, cap)``) for shorter,
    cheaper outputs (a quick run on the local model, say); it changes the records, so
    it is part of the fingerprint.
    """

    template: str
    seeds: Any
    records: int = 20
    budget_usd: float | None = None
    budget_tokens: int | None = None
    models: dict[str, str] = field(default_factory=dict)  # step id -> model/tier
    tier: str | None = None  # applied to every step without an explicit override
    backend: str | None = None  # "local" | "bedrock"; None = the workspace setting
    sampling: str = "sequential"
    sampling_seed: int = 0
    concurrency: int | None = None  # None = settings.concurrency (per worker)
    workers: int | None = None  # workers sharing the job in run_job (None = 1)
    runtime: str = "local"  # "local": run_job here; "aws": submit_job to AWS Batch
    inference_mode: str = "on-demand"  # "on-demand" | "batch" | "auto" (Bedrock batch inference)
    rate_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)  # check name -> policy
    max_tokens: int | None = None  # cap on every step's max_tokens: min(step, cap)
    error_window: int = 50  # early stop: look at the last N finished attempts...
    error_threshold: float = 0.5  # ...and stop when this fraction of them failed
    export_formats: list[str] = field(default_factory=list)
    name: str | None = None
    template_hash: str | None = None  # set at creation
    seeds_format: str | None = None  # set at creation (file extension in the workspace)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        if not isinstance(self.template, str) or not self.template.strip():
            raise ConfigError("JobSpec.template must be a template name or name@version")
        split_template_ref(self.template)
        if isinstance(self.records, bool) or not isinstance(self.records, int) or self.records < 1:
            raise ConfigError(f"JobSpec.records must be a whole number >= 1, got {self.records!r}")
        if self.budget_usd is not None and (
            not isinstance(self.budget_usd, (int, float)) or self.budget_usd < 0
        ):
            raise ConfigError(
                f"JobSpec.budget_usd must be >= 0 (dollars), got {self.budget_usd!r}",
                fix="Pass e.g. budget_usd=0.5, or None for no limit.",
            )
        if self.budget_tokens is not None and (
            not isinstance(self.budget_tokens, int) or self.budget_tokens < 0
        ):
            raise ConfigError(
                f"JobSpec.budget_tokens must be a whole number >= 0, got {self.budget_tokens!r}"
            )
        if self.max_tokens is not None and (
            isinstance(self.max_tokens, bool)
            or not isinstance(self.max_tokens, int)
            or self.max_tokens < 1
        ):
            raise ConfigError(
                f"JobSpec.max_tokens must be a whole number >= 1, got {self.max_tokens!r}",
                fix="Pass e.g. max_tokens=64 to cap every step's output, or None to keep "
                "the template's max_tokens.",
            )
        if self.sampling not in SAMPLING_MODES:
            raise ConfigError(
                f"JobSpec.sampling {self.sampling!r} is not known",
                fix=f"Use one of: {', '.join(SAMPLING_MODES)}.",
            )
        if self.concurrency is not None and (
            not isinstance(self.concurrency, int) or self.concurrency < 1
        ):
            raise ConfigError(f"JobSpec.concurrency must be >= 1, got {self.concurrency!r}")
        if self.workers is not None and (
            isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1
        ):
            raise ConfigError(
                f"JobSpec.workers must be a whole number >= 1, got {self.workers!r}",
                fix="Pass e.g. workers=4, or None for one worker.",
            )
        if self.runtime not in ("local", "aws"):
            raise ConfigError(
                f"JobSpec.runtime {self.runtime!r} is not known",
                fix="Use 'local' (run_job on this machine) or 'aws' (submit_job to AWS Batch).",
            )
        if self.inference_mode not in INFERENCE_MODES:
            raise ConfigError(
                f"JobSpec.inference_mode {self.inference_mode!r} is not known",
                fix=f"Use one of: {', '.join(INFERENCE_MODES)}.",
            )
        if self.rate_limits:
            from ..config import parse_rate_limits

            parse_rate_limits(self.rate_limits, "JobSpec.rate_limits")  # raises if malformed
        for name, policy in self.checks.items():
            if name not in CHECK_NAMES:
                raise ConfigError(
                    f"JobSpec.checks: unknown check {name!r}",
                    fix=f"Use one of: {', '.join(CHECK_NAMES)}.",
                )
            if policy not in CHECK_POLICIES:
                raise ConfigError(
                    f"JobSpec.checks[{name!r}]: unknown policy {policy!r}",
                    fix=f"Use one of: {', '.join(CHECK_POLICIES)}.",
                )
        if not 0 < self.error_threshold <= 1:
            raise ConfigError(
                f"JobSpec.error_threshold must be in (0, 1], got {self.error_threshold!r}"
            )
        if self.error_window < 1:
            raise ConfigError(f"JobSpec.error_window must be >= 1, got {self.error_window!r}")
        if self.backend is not None and self.backend not in ("local", "bedrock"):
            raise ConfigError(
                f"JobSpec.backend {self.backend!r} is not known", fix="Use 'local' or 'bedrock'."
            )

    @property
    def check_policies(self) -> dict[str, str]:
        """The effective policy of every check (defaults overlaid with ``checks``)."""
        return {**DEFAULT_CHECKS, **self.checks}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (``seeds`` must already be a string by then)."""
        data = dataclasses.asdict(self)
        if not isinstance(data["seeds"], str):
            data["seeds"] = repr(type(self.seeds).__name__)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(
                f"job spec has unknown field(s): {', '.join(sorted(unknown))}",
                fix=f"Valid fields: {', '.join(sorted(names))}.",
            )
        return cls(**data)

    def replace(self, **changes: Any) -> JobSpec:
        return dataclasses.replace(self, **changes)


def split_template_ref(ref: str) -> tuple[str, int | None]:
    """``"qa@2"`` -> ``("qa", 2)``; ``"qa"`` -> ``("qa", None)``."""
    name, sep, version = ref.strip().partition("@")
    if not sep:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise ConfigError(
            f"template reference {ref!r} has an invalid version",
            fix="Write name@N with N a version number >= 1, or just the name "
            "for the latest version.",
        )
    return name, int(version)


def fingerprint(spec: JobSpec) -> str:
    """sha256 over the fields that change results (see ``RESULT_FIELDS``).

    Policies are expanded to their effective values so that writing a default
    explicitly does not change the fingerprint.
    """
    data = {name: getattr(spec, name) for name in RESULT_FIELDS}
    data["checks"] = spec.check_policies
    if data["max_tokens"] is None:
        del data["max_tokens"]  # no cap: fingerprints of jobs made before the field stay
    if not isinstance(data["seeds"], str):
        raise ConfigError("fingerprint needs the seeds stored by hash; create the job first")
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
