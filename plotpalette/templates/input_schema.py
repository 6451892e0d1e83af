"""The input schema: the seed fields a template needs (built by :mod:`.inputs`).

Consumed by :mod:`plotpalette.seeds` to validate rows before a job starts, and by the
renderer to name a missing field precisely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MISSING", "InputField", "InputSchema", "lookup_path"]

MISSING = object()  # what lookup_path returns for an absent field


@dataclass(frozen=True)
class InputField:
    """One seed field: a dotted ``path``, its ``kind`` and whether rows must have it."""

    path: str
    kind: str = "scalar"  # "scalar" | "list" | "mapping" | "any"
    required: bool = True
    item_fields: tuple[InputField, ...] = ()  # for lists iterated in loops
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "kind": self.kind, "required": self.required}
        if self.item_fields:
            data["item_fields"] = [f.to_dict() for f in self.item_fields]
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True)
class InputSchema:
    """The seed fields a template needs, sorted by path."""

    fields: tuple[InputField, ...] = ()
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def field(self, path: str) -> InputField | None:
        return next((f for f in self.fields if f.path == path), None)

    @property
    def required(self) -> tuple[InputField, ...]:
        return tuple(f for f in self.fields if f.required)

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [f.to_dict() for f in self.fields]}

    def problems(self, row: Any) -> list[tuple[str, str]]:
        """``(path, reason)`` for every way ``row`` does not fit (empty when it fits)."""
        found: list[tuple[str, str]] = []
        if not isinstance(row, dict):
            return [("", f"a seed row must be a mapping, got {type(row).__name__}")]
        for f in self.fields:
            value = lookup_path(row, f.path)
            if value is MISSING or value is None:
                if f.required:
                    found.append((f.path, "missing" if value is MISSING else "null"))
                continue
            reason = _kind_problem(f.kind, value)
            if reason:
                found.append((f.path, reason))
            elif f.kind == "list" and f.item_fields:
                for i, item in enumerate(value):
                    for sub in InputSchema(f.item_fields).problems(item):
                        found.append((f"{f.path}[{i}]" + (f".{sub[0]}" if sub[0] else ""), sub[1]))
        return found


def _kind_problem(kind: str, value: Any) -> str | None:
    if kind == "scalar" and isinstance(value, (list, tuple, dict)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} where text is needed"
    if kind == "list" and not isinstance(value, (list, tuple)):
        return f"expected a list, got {type(value).__name__}"
    if kind == "mapping" and not isinstance(value, dict):
        return f"expected a mapping, got {type(value).__name__}"
    return None


def lookup_path(row: Any, path: str) -> Any:
    """``row["a"]["b"]`` for ``"a.b"``; a module-private sentinel when absent."""
    value = row
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return MISSING
    return value
