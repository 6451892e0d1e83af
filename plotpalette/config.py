"""Settings: argument > ``PLOTPALETTE_*`` environment variable > workspace config > default.

The workspace's ``config.yaml`` is read only after the workspace location itself is
known (argument, ``PLOTPALETTE_WORKSPACE`` or the default), so the location cannot
come from that file. ``Settings.sources`` records where each value came from, which
``plotpalette info`` shows.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["BACKENDS", "DEFAULT_TIERS", "Settings", "parse_rate_limits"]

BACKENDS = ("local", "bedrock")
ENV_PREFIX = "PLOTPALETTE_"
CONFIG_FILE = "config.yaml"

# Documented Bedrock defaults for the cost tiers (see the models and costs page).
DEFAULT_TIERS: dict[str, str] = {
    "cheap": "amazon.nova-micro-v1:0",
    "balanced": "amazon.nova-lite-v1:0",
    "premium": "global.anthropic.claude-haiku-4-5-20251001-v1:0",
}


AWS_KEYS = (
    "backup_vault",
    "bedrock_batch_role_arn",
    "bucket",
    "dashboard",
    "env",
    "events_log_group",
    "job_definition",
    "job_queue",
    "kms_key_arn",
    "log_group",
    "region",
    "scheduler_role_arn",
    "stack",
    "table",
    "topic_arn",
    "wheelhouse",
    "worker_role_arn",
    "workspace",
)
NOTIFY_KEYS = ("sns", "timeout_s", "topic_arn", "webhook_secret_env", "webhook_url")


def default_workspace() -> str:
    return str(Path.home() / "plotpalette-workspace")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :meth:`Settings.load`."""

    workspace: str = field(default_factory=default_workspace)
    backend: str = "local"
    region: str | None = None
    aws_profile: str | None = None
    table: str | None = None  # DynamoDB registry table of an s3:// workspace
    bedrock_endpoint_url: str | None = None
    tiers: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TIERS))
    price_overrides: str | None = None
    concurrency: int = 8
    rate_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    # Bedrock batch inference (see plotpalette.jobs.batch): staging bucket/prefix,
    # the service role Bedrock assumes, and the smallest step worth a batch job.
    batch_s3_uri: str | None = None
    batch_role_arn: str | None = None
    batch_min_records: int = 100
    # Written by `plotpalette deploy` (keys listed in AWS_KEYS): where this
    # workspace's stack keeps its table, job queue, topic, ...
    aws: dict[str, str] = field(default_factory=dict)
    # Terminal-state notifications (keys in NOTIFY_KEYS; see plotpalette.aws.notify).
    notify: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Resolve settings; keyword arguments win over everything else.

        ``None`` arguments are ignored so callers can pass optional CLI flags through.
        """
        names = [f.name for f in dataclasses.fields(cls) if f.name != "sources"]
        unknown = set(overrides) - set(names)
        if unknown:
            raise ConfigError(
                f"unknown setting(s): {', '.join(sorted(unknown))}",
                fix=f"Use one of: {', '.join(names)}.",
            )
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}

        def take(name: str, value: Any, source: str) -> None:
            if name not in values and value is not None:
                values[name] = _coerce(name, value, source)
                sources[name] = source

        for name, value in overrides.items():
            take(name, value, "argument")
        for name in names:
            take(name, _env_value(name), f"env {ENV_PREFIX}{name.upper()}")
        take("workspace", default_workspace(), "default")
        file_values = _read_workspace_config(Path(values["workspace"]))
        for name, value in file_values.items():
            if name not in names or name == "workspace":
                raise ConfigError(
                    f"{CONFIG_FILE}: unknown setting {name!r}",
                    fix=f"Remove it; valid settings are {', '.join(names[1:])}.",
                )
            take(name, value, CONFIG_FILE)
        for name in names:
            sources.setdefault(name, "default")
        settings = cls(**values, sources=sources)
        settings._validate()
        return settings

    def _validate(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"unknown backend {self.backend!r} ({self.sources['backend']})",
                fix=f"Use one of: {', '.join(BACKENDS)}.",
            )
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.batch_min_records < 1:
            raise ConfigError(
                f"batch_min_records must be at least 1, got {self.batch_min_records}",
                fix="Use Bedrock's minimum records per batch job for the model (100 or 1000).",
            )
        if self.batch_s3_uri is not None and not self.batch_s3_uri.startswith("s3://"):
            raise ConfigError(
                f"batch_s3_uri must start with s3://, got {self.batch_s3_uri!r}",
                fix="Set it to s3://bucket/prefix (a place the batch role may read and write).",
            )
        missing = {"cheap", "balanced", "premium"} - set(self.tiers)
        if missing:
            raise ConfigError(
                f"tiers is missing {', '.join(sorted(missing))}",
                fix="Map cheap, balanced and premium to model ids.",
            )

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (marked as arguments in ``sources``)."""
        sources = {**self.sources, **{k: "argument" for k in changes}}
        new = dataclasses.replace(self, **changes, sources=sources)
        new._validate()
        return new

    def as_dict(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sources"
        }


def _env_value(name: str) -> str | None:
    if name in ("aws", "notify"):  # mappings: config.yaml or arguments only
        return None
    if name == "tiers":
        tiers = {
            t: os.environ[f"{ENV_PREFIX}TIER_{t.upper()}"]
            for t in ("cheap", "balanced", "premium")
            if os.environ.get(f"{ENV_PREFIX}TIER_{t.upper()}")
        }
        return {**DEFAULT_TIERS, **tiers} if tiers else None  # type: ignore[return-value]
    return os.environ.get(f"{ENV_PREFIX}{name.upper()}") or None


def _coerce(name: str, value: Any, source: str) -> Any:
    if name == "concurrency":
        try:
            return int(value)
        except (TypeError, ValueError):
            msg = f"concurrency must be a whole number, got {value!r} ({source})"
            raise ConfigError(msg) from None
    if name == "tiers":
        if not isinstance(value, dict):
            raise ConfigError(f"tiers must be a mapping, got {type(value).__name__} ({source})")
        return {**DEFAULT_TIERS, **{str(k): str(v) for k, v in value.items()}}
    if name == "rate_limits":
        return parse_rate_limits(value, source)
    if name == "batch_min_records":
        try:
            return int(value)
        except (TypeError, ValueError):
            msg = f"batch_min_records must be a whole number, got {value!r} ({source})"
            raise ConfigError(msg, fix="Use e.g. 100 (Bedrock's usual minimum).") from None
    if name in ("aws", "notify"):
        allowed = AWS_KEYS if name == "aws" else NOTIFY_KEYS
        if not isinstance(value, dict) or set(map(str, value)) - set(allowed):
            raise ConfigError(
                f"{name} must be a mapping with keys from: {', '.join(allowed)} ({source})",
                fix=f"Fix the {name}: section (`plotpalette deploy` writes aws: for you).",
            )
        if name == "aws":
            return {str(k): str(v) for k, v in value.items()}
        return {str(k): v for k, v in value.items()}
    if name == "workspace":
        return str(value)
    return str(value) if not isinstance(value, str) else value


def _read_workspace_config(workspace: Path) -> dict[str, Any]:
    if str(workspace).startswith("s3:"):  # S3 workspaces: arguments and environment only
        return {}
    path = workspace / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML: {exc}", fix=f"Fix or delete {path}."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of setting: value", fix=f"Fix or delete {path}."
        )
    return data


RATE_LIMIT_KEYS = ("rpm", "tpm")
_RATE_FIX = (
    "Map model ids (or MODEL@REGION, or *) to quotas, e.g. "
    '{"amazon.nova-micro-v1:0": {"rpm": 600, "tpm": 400000}}, or in one line '
    "'amazon.nova-micro-v1:0=rpm:600,tpm:400000; *=rpm:100'."
)


def parse_rate_limits(value: Any, source: str = "argument") -> dict[str, dict[str, int]]:
    """Quotas per model from a mapping, a JSON/YAML string, or the one-line form
    ``MODEL=rpm:N,tpm:N; MODEL2=...`` (for env variables and the CLI)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                raise ConfigError(
                    f"rate_limits is not valid JSON ({source})", fix=_RATE_FIX
                ) from None
        else:
            value = {}
            for item in filter(None, (part.strip() for part in text.split(";"))):
                model, sep, quotas = item.partition("=")
                pairs = [q.partition(":") for q in quotas.split(",") if q.strip()]
                if not sep or not model.strip() or any(not p[1] for p in pairs):
                    raise ConfigError(
                        f"rate_limits: cannot read {item!r} ({source})", fix=_RATE_FIX
                    )
                value[model.strip()] = {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(value, dict):
        raise ConfigError(
            f"rate_limits must map model ids to {{rpm, tpm}} ({source})", fix=_RATE_FIX
        )
    out: dict[str, dict[str, int]] = {}
    for model, quotas in value.items():
        if not isinstance(quotas, dict) or set(quotas) - set(RATE_LIMIT_KEYS):
            raise ConfigError(
                f"rate_limits[{model!r}] must hold only rpm and tpm ({source})", fix=_RATE_FIX
            )
        try:
            parsed = {str(k): int(v) for k, v in quotas.items()}
        except (TypeError, ValueError):
            raise ConfigError(
                f"rate_limits[{model!r}]: quotas must be whole numbers ({source})", fix=_RATE_FIX
            ) from None
        if any(n < 1 for n in parsed.values()):
            raise ConfigError(
                f"rate_limits[{model!r}]: quotas must be >= 1 ({source})", fix=_RATE_FIX
            )
        out[str(model)] = parsed
    return out
