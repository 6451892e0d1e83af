"""Validation of the JSON schemas a step asks structured output for."""

from __future__ import annotations

from typing import Any

from ..errors import ModelRequestError

__all__ = ["check_json_schema", "schema_violation"]


def check_json_schema(schema: Any) -> None:
    """Raise :class:`ModelRequestError` unless ``schema`` is a valid JSON Schema object."""
    import jsonschema

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
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"at {path}: {error.message}"
