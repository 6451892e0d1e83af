"""Validation of the JSON schemas a step asks structured output for, and of replies.

:func:`jsonschema_module` imports ``jsonschema`` without its optional
``rfc3987_syntax`` format checker, which compiles a grammar on import (1-4 s measured,
most of ``plotpalette run``'s start-up). Plot Palette never checks the ``iri``/``uri``
formats it serves; everything else in ``jsonschema`` is unchanged, and the module
stays importable by anyone who wants it afterwards.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from ..errors import ModelRequestError

__all__ = ["check_json_schema", "jsonschema_module", "schema_violation"]

_SLOW_OPTIONAL = "rfc3987_syntax"


def jsonschema_module() -> ModuleType:
    """``jsonschema``, imported fast (see the module docstring)."""
    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    blocked = _SLOW_OPTIONAL not in sys.modules
    if blocked:
        sys.modules[_SLOW_OPTIONAL] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import jsonschema
    finally:
        if blocked:
            del sys.modules[_SLOW_OPTIONAL]
    return jsonschema


def check_json_schema(schema: Any) -> None:
    """Raise :class:`ModelRequestError` unless ``schema`` is a valid JSON Schema object."""
    jsonschema = jsonschema_module()

    if not isinstance(schema, dict):
        raise ModelRequestError(
            f"json_schema must be a mapping, got {type(schema).__name__}",
            fix="Write the step's json_schema as a JSON Schema object.",
        )
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ModelRequestError(
            f"json_schema is not a valid JSON Schema at {path}: {exc.message}",
            fix="Correct the step's json_schema.",
        ) from None


def schema_violation(value: Any, schema: dict[str, Any]) -> str | None:
    """Why ``value`` does not validate against ``schema`` (``None`` when it does)."""
    jsonschema = jsonschema_module()

    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"at {path}: {error.message}"
