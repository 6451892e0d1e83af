"""Cost tiers (``cheap``, ``balanced``, ``premium``) resolved to concrete model ids."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import DEFAULT_TIERS

__all__ = ["TIERS", "resolve_tier"]

TIERS = ("cheap", "balanced", "premium")


def resolve_tier(model: str, tiers: Mapping[str, str] | None = None) -> str:
    """``model`` itself, or the id its tier maps to (settings' tiers, else the defaults).

    Blank names are a :class:`ModelRequestError` naming the problem.
    """
    from ..errors import ModelRequestError

    name = (model or "").strip()
    if not name:
        raise ModelRequestError(
            "empty model name", fix="Name a model id or a tier (cheap, balanced, premium)."
        )
    table = dict(DEFAULT_TIERS) | dict(tiers or {})
    return table.get(name, name) if name in TIERS else name
