"""One canonical form for seed rows: what gets hashed, stored and compared.

A seed row is a JSON object. Whatever the source (CSV, JSONL, Parquet, a DataFrame),
each row is turned into plain JSON values and serialised as one line of *canonical
JSON*: keys sorted, no spaces, UTF-8 (not ``\\u`` escapes), NaN/Infinity refused. The
seed set's ``sha256`` is the hash of those lines in order, which is byte for byte the
canonical JSONL file stored in the workspace. So the same rows give the same hash
whichever file they came from, and a stored seed file can be checked against its name.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..errors import SeedFormatError

__all__ = [
    "JsonValue",
    "canonical_line",
    "field_paths",
    "flatten_row",
    "nest_columns",
    "nest_values",
    "to_json_value",
]

JsonValue = Any  # None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]


def _where(unit: str, number: int, source: str = "") -> str:
    return f"{source}: {unit} {number}" if source else f"{unit} {number}"


def canonical_line(
    row: Mapping[str, Any], *, unit: str = "row", number: int = 0, source: str = ""
) -> bytes:
    """The canonical JSON line (with ``\\n``) for one already-normalised row.

    Raises :class:`SeedFormatError` naming the row and field for values JSON cannot
    carry: NaN/Infinity and lone surrogates (``"\\ud800"`` parses in Python's ``json``
    but cannot be written as UTF-8).
    """
    try:
        text = json.dumps(
            row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
        return text.encode("utf-8") + b"\n"
    except RecursionError:
        raise SeedFormatError(
            f"{_where(unit, number, source)}: the row nests too deeply to store",
            fix="Flatten the data: seed rows are objects a few levels deep.",
        ) from None
    except ValueError as exc:
        if "digits" in str(exc) and not isinstance(exc, UnicodeEncodeError):
            path = _find(row, lambda v: isinstance(v, int) and v.bit_length() > 14_000)
            raise SeedFormatError(
                f"{_where(unit, number, source)}: field {path or '?'} is an integer with more "
                "digits than Python converts to text",
                fix='Store very long numbers as strings ("123…").',
            ) from None
        if isinstance(exc, UnicodeEncodeError):
            path = _find(row, lambda v: isinstance(v, str) and _has_surrogate(v))
            raise SeedFormatError(
                f"{_where(unit, number, source)}: field {path or '?'} contains a lone surrogate "
                "(an unpaired \\ud800-\\udfff escape), which is not valid Unicode",
                fix="Repair or remove the broken character in that field; it usually comes "
                "from text cut in the middle of an emoji.",
            ) from None
        path = _find(row, lambda v: isinstance(v, float) and not math.isfinite(v))
        raise SeedFormatError(
            f"{_where(unit, number, source)}: field {path or '?'} is NaN or Infinity, which JSON "
            "does not allow",
            fix='Use null (None) for a missing value, or a string such as "NaN".',
        ) from None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _find(value: Any, bad: Any, prefix: str = "") -> str | None:
    """Dotted path of the first value for which ``bad(value)`` holds (error reporting only)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, str) and _has_surrogate(key):
                return path  # a broken key is reported like a broken value
            found = _find(item, bad, path)
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _find(item, bad, f"{prefix}[{i}]")
            if found is not None:
                return found
        return None
    return prefix if bad(value) else None


def to_json_value(value: Any, *, unit: str, number: int, path: str, source: str = "") -> JsonValue:
    """Convert a value from a DataFrame, Parquet table, HF dataset or Python list to JSON.

    Missing markers (``None``, NaN, ``pd.NA``, ``NaT``) become ``None``: in tabular
    data NaN *means* missing. numpy scalars and arrays become Python numbers and lists,
    dates become ISO 8601 strings, ``Decimal`` becomes an exact string, UTF-8 bytes a
    string. Anything else is refused with the row and field named (and ``source``, the
    file, when given), never stringified behind the user's back.
    """
    where = _where(unit, number, source)
    try:
        return _to_json(value, where, path)
    except RecursionError:
        raise SeedFormatError(
            f"{where}: {f'field {path}' if path else 'the row'} nests too deeply",
            fix="Flatten the data: seed rows are objects a few levels deep.",
        ) from None


def _to_json(value: Any, where: str, path: str) -> JsonValue:
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            _infinite(where, path)
        return value
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            out[str(key)] = _to_json(item, where, child)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    kind = type(value).__name__
    if kind in ("NAType", "NaTType"):  # pandas missing markers, without importing pandas
        return None
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None if value.is_nan() else _infinite(where, path)
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise SeedFormatError(
                f"{where}: field {path} holds binary data that is not UTF-8 text",
                fix="Seed fields must be text, numbers, lists or mappings; drop or "
                "decode the binary column first.",
            ) from None
    if hasattr(value, "tolist"):  # numpy arrays and numpy scalars
        return _to_json(value.tolist(), where, path)
    raise SeedFormatError(
        f"{where}: field {path} has a value of type {kind}, which cannot be stored in a seed set",
        fix="Convert that column to text, numbers, lists or mappings before loading.",
    )


def _infinite(where: str, path: str) -> None:
    raise SeedFormatError(
        f"{where}: field {path} is infinite",
        fix="Replace the value with a finite number or null.",
    )


def nest_columns(columns: Iterable[Any], *, source: str) -> list[tuple[str, ...]]:
    """Split tabular column names on dots: ``author.name`` -> ``("author", "name")``.

    Refuses duplicate names (pandas would silently rename the second to ``topic.1``),
    empty parts (``a..b``) and a column that is both a value and a group
    (``author`` next to ``author.name``), naming the columns involved.
    """
    names = [str(c) for c in columns]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    dupes = sorted(n for n, c in counts.items() if c > 1)
    if dupes:
        raise SeedFormatError(
            f"{source}: duplicate column name(s) {', '.join(repr(d) for d in dupes)}",
            fix="Give every column a distinct name; seed fields are looked up by name.",
        )
    paths = []
    for name in names:
        parts = tuple(name.split("."))
        if not name or any(p == "" for p in parts):
            raise SeedFormatError(
                f"{source}: column {name!r} has an empty name part",
                fix="Use names like author or author.name (dots separate nesting levels).",
            )
        paths.append(parts)
    as_set = set(paths)
    for parts in paths:
        for cut in range(1, len(parts)):
            if parts[:cut] in as_set:
                raise SeedFormatError(
                    f"{source}: column {'.'.join(parts[:cut])!r} conflicts with "
                    f"{'.'.join(parts)!r} (a field cannot be both a value and a group)",
                    fix="Rename one of the two columns.",
                )
    return paths


def nest_values(paths: list[tuple[str, ...]], values: Iterable[Any]) -> dict[str, Any]:
    """Build one nested row from column paths and the row's values (same order)."""
    row: dict[str, Any] = {}
    for parts, value in zip(paths, values, strict=True):
        target = row
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return row


def flatten_row(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inverse of nesting: ``{"author": {"name": x}}`` -> ``{"author.name": x}``.

    Lists stay whole (a list of mappings is one cell). An empty mapping stays a value.
    """
    flat: dict[str, Any] = {}
    for key, value in row.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            flat.update(flatten_row(value, path))
        else:
            flat[path] = value
    return flat


def field_paths(row: Mapping[str, Any], prefix: str = "", out: set[str] | None = None) -> set[str]:
    """Dotted leaf paths of one row; items of lists of mappings as ``list[].field``."""
    out = set() if out is None else out
    for key, value in row.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            field_paths(value, path, out)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            out.add(path)
            for item in value:
                field_paths(item, f"{path}[]", out)
        else:
            out.add(path)
    return out
