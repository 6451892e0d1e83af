"""Cost tiers (``cheap``, ``balanced``, ``premium``) resolved to concrete model ids.

:func:`resolve_model_id` is the one place where a step's model (a tier or an id)
becomes the id a backend calls: the backends' ``resolve_model``, template previews and
``plotpalette models`` all use it. It only looks at names — it never loads the local
model or imports boto3 — so previews and listings stay cheap.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import DEFAULT_TIERS
from ..errors import ConfigError, ModelNotFoundError, ModelRequestError
from .local_files import LOCAL_MODEL_ID

__all__ = ["KNOWN_BACKENDS", "TIERS", "resolve_model_id", "resolve_tier", "tier_table"]

TIERS = ("cheap", "balanced", "premium")
# Backends whose model naming this module knows (the ones Settings accepts).
KNOWN_BACKENDS = ("local", "bedrock")


def _clean(model: str) -> str:
    name = (model or "").strip()
    if not name:
        raise ModelRequestError(
            "empty model name", fix="Name a model id or a tier (cheap, balanced, premium)."
        )
    return name


def resolve_tier(model: str, tiers: Mapping[str, str] | None = None) -> str:
    """``model`` itself, or the id its tier maps to (settings' tiers, else the defaults).

    Backend-independent; blank names are a :class:`ModelRequestError`.
    """
    name = _clean(model)
    table = dict(DEFAULT_TIERS) | dict(tiers or {})
    return table.get(name, name) if name in TIERS else name


def resolve_model_id(model: str, backend: str, tiers: Mapping[str, str] | None = None) -> str:
    """The concrete model id ``backend`` ("local" or "bedrock") calls for ``model``.

    Under ``local`` every tier and every id is the embedded model (templates written for
    Bedrock run offline unchanged). Under ``bedrock`` tiers map through ``tiers`` (the
    settings' table, else the documented defaults) and a ``local/...`` id is a
    :class:`ModelNotFoundError`. Other names are a :class:`ConfigError`.
    """
    name = _clean(model)
    if backend == "local":
        return LOCAL_MODEL_ID
    if backend == "bedrock":
        resolved = resolve_tier(name, tiers)
        if resolved.startswith("local/"):
            raise ModelNotFoundError(
                f"{resolved!r} is the embedded local model, not a Bedrock model",
                fix="Use backend='local', or a Bedrock model id.",
            )
        return resolved
    raise ConfigError(
        f"unknown backend {backend!r}", fix=f"Use one of: {', '.join(KNOWN_BACKENDS)}."
    )


def tier_table(backend: str, tiers: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every tier and the model id it runs as under ``backend``."""
    return {tier: resolve_model_id(tier, backend, tiers) for tier in TIERS}
