"""Readers for the text formats: JSON Lines, JSON and CSV/TSV.

Each reader yields ``(number, row)`` pairs, where ``number`` is what the user sees in
the file: the *physical* line for JSONL and CSV (blank lines and multi-line quoted CSV
cells counted), the 1-based position in the array for JSON. Files are read as bytes and
decoded line by line, so a wrongly encoded file is reported with its line and byte
offset instead of a bare ``UnicodeDecodeError``; JSONL and CSV are never read whole.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._files import open_regular
from ..errors import SeedFormatError
from .canonical import nest_columns, nest_values

__all__ = [
    "CONTAINER_KEYS",
    "MAX_JSON_BYTES",
    "MAX_LINE_BYTES",
    "nested_too_deep",
    "open_seed_file",
    "read_csv",
    "read_json",
    "read_jsonl",
]

# Bounds on what one read may hold in memory. A JSON document is parsed whole; a JSONL
# or CSV line (a CSV record may span lines) is read one line at a time.
MAX_JSON_BYTES = 512 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024
# JSON nested deeper than this is refused before parsing (Python's parser would hit
# its recursion limit with a raw RecursionError); real seed rows nest a few levels.
MAX_JSON_DEPTH = 200

# A JSON object whose only key is one of these and holds a list of objects is a
# container of rows ({"rows": [...]}), not a single row.
CONTAINER_KEYS = ("rows", "data", "records")

_REENCODE = (
    "Save the file as UTF-8 (for example `iconv -f latin1 -t utf-8 in.csv > out.csv`, or in "
    "Python read it with encoding='latin-1' and write it with encoding='utf-8')."
)

# csv's default cap (131,072 characters per cell) rejects long documents used as seeds.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")


def open_seed_file(path: Path) -> Any:
    """Open a seed file for binary reading: regular files only (never a FIFO/device)."""
    return open_regular(
        path, SeedFormatError, fix="Point at a regular seed file (.jsonl, .json, .csv, .parquet)."
    )


def _lines(fh: Any, path: Path) -> Iterator[bytes]:
    """Raw lines, each at most ``MAX_LINE_BYTES`` (a file with no newlines stays bounded)."""
    lineno = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_LINE_BYTES:
            raise SeedFormatError(
                f"{path}: line {lineno} is longer than {MAX_LINE_BYTES:,} bytes",
                fix="Check the file is text with one row per line; split very long values.",
            )
        yield raw


def _json_problem(where: str, exc: Exception) -> SeedFormatError:
    """A parser failure that is not a syntax error: nesting or digit limits."""
    if isinstance(exc, RecursionError):
        return SeedFormatError(
            f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep",
            fix="Flatten the data: seed rows are objects a few levels deep.",
        )
    message = str(exc)
    if "digits" in message or "integer string conversion" in message:
        return SeedFormatError(
            f"{where}: a number has more digits than Python converts (over "
            f"{getattr(sys, 'get_int_max_str_digits', lambda: 4300)()} digits)",
            fix='Store very long numbers as strings ("123…").',
        )
    return SeedFormatError(f"{where}: cannot parse JSON ({message})", fix="Fix the JSON value.")


def _too_deep(text: str) -> bool:
    """True if brackets outside strings nest deeper than ``MAX_JSON_DEPTH``.

    The bracket count (C speed) settles almost every line; only text with more brackets
    than the limit is scanned character by character.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def nested_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if a parsed value nests containers deeper than ``limit`` (iterative walk)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, (dict, list, tuple))
        )
    return False


def _loads(text: str, where: str, *, prescan: bool = True) -> Any:
    """``json.loads`` with duplicate keys refused and depth/digit failures named."""
    if prescan and _too_deep(text):
        raise _json_problem(where, RecursionError())
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise _duplicate_error(where, exc.key) from None
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:
        raise _json_problem(where, exc) from None


def _physical_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, decoded line)`` for every physical line, checking UTF-8 as it goes."""
    with open_seed_file(path) as fh:
        offset = 0
        for lineno, raw in enumerate(_lines(fh, path), 1):
            if lineno == 1:
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise SeedFormatError(
                        f"{path} is UTF-16 encoded, not UTF-8",
                        fix=_REENCODE.replace("latin1", "utf-16"),
                    )
                if raw.startswith(codecs.BOM_UTF8):  # Excel writes one; it is not data
                    raw, offset = raw[3:], 3
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SeedFormatError(
                    f"{path}: line {lineno} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} "
                    f"at byte offset {offset + exc.start})",
                    fix=_REENCODE,
                ) from None
            offset += len(raw)
            yield lineno, text


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: Python's json silently keeps the last of duplicate keys."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _duplicate_error(where: str, key: str) -> SeedFormatError:
    return SeedFormatError(
        f"{where}: duplicate key {key!r} in one object (JSON readers keep only the last "
        "value, so the others would be lost)",
        fix="Give every key of an object a distinct name.",
    )


def _truncation_hint(text: str, pos: int, msg: str) -> str:
    ends_early = pos >= len(text.rstrip()) or msg.startswith("Unterminated string")
    return " — the file ends in the middle of a value; it may be truncated" if ends_early else ""


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """One JSON object per line; blank lines are skipped but still counted."""
    first_seen = False
    for lineno, text in _physical_lines(path):
        stripped = text.strip()
        if not stripped:
            continue
        try:
            value = _loads(stripped, f"{path}: line {lineno}")
        except json.JSONDecodeError as exc:
            indent = len(text) - len(text.lstrip())
            hint = _truncation_hint(stripped, exc.pos, exc.msg) if not text.endswith("\n") else ""
            fix = 'Make every line one complete JSON object, e.g. {"topic": "rain"}.'
            if not first_seen and stripped[0] == "[":
                fix = "This looks like a JSON array: name the file .json or pass format='json'."
            raise SeedFormatError(
                f"{path}: line {lineno}, column {exc.colno + indent}: invalid JSON "
                f"({exc.msg}){hint}",
                fix=fix,
            ) from None
        first_seen = True
        if not isinstance(value, dict):
            raise SeedFormatError(
                f"{path}: line {lineno} holds {_kind(value)}, not a JSON object",
                fix='Each line of a JSONL seed file must be an object such as {"topic": "rain"}.',
            )
        yield lineno, value


def read_json(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """A JSON array of objects, a single object (one row), or ``{"rows": [...]}``.

    A JSON document has to be parsed whole, so it is read into memory; use JSONL or
    Parquet for large seed sets.
    """
    with open_seed_file(path) as fh:
        data = fh.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise SeedFormatError(
            f"{path} is larger than {MAX_JSON_BYTES:,} bytes, too large to parse as one JSON "
            "document",
            fix="Write the rows as JSON Lines (.jsonl) or Parquet, which are read row by row.",
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SeedFormatError(
            f"{path} is UTF-16 encoded, not UTF-8", fix=_REENCODE.replace("latin1", "utf-16")
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SeedFormatError(
            f"{path}: line {line} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte "
            f"offset {exc.start})",
            fix=_REENCODE,
        ) from None
    try:
        doc = _loads(text, str(path), prescan=False)  # rows are checked below
    except json.JSONDecodeError as exc:
        raise SeedFormatError(
            f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})"
            f"{_truncation_hint(text, exc.pos, exc.msg)}",
            fix="Fix the JSON (a validator such as `python -m json.tool FILE` shows the spot).",
        ) from None
    if isinstance(doc, dict):
        if len(doc) == 1:
            key, inner = next(iter(doc.items()))
            if (
                key in CONTAINER_KEYS
                and isinstance(inner, list)
                and all(isinstance(item, dict) for item in inner)
            ):
                doc = inner
        if isinstance(doc, dict):
            if nested_too_deep(doc):
                raise _json_problem(f"{path}: row 1", RecursionError())
            yield 1, doc
            return
    if not isinstance(doc, list):
        raise SeedFormatError(
            f"{path} holds {_kind(doc)}; expected an array of objects",
            fix="Write the seeds as [{...}, {...}] or as JSON Lines.",
        )
    for number, item in enumerate(doc, 1):
        if not isinstance(item, dict):
            raise SeedFormatError(
                f"{path}: row {number} of the array is {_kind(item)}, not an object",
                fix="Every element of the array must be an object {...}.",
            )
        if nested_too_deep(item):
            raise _json_problem(f"{path}: row {number}", RecursionError())
        yield number, item


def read_csv(path: Path, *, delimiter: str = ",") -> Iterator[tuple[int, dict[str, Any]]]:
    """A header line, then one row per record; every cell stays a string.

    Cells are kept exactly as written: ``NA``, ``null``, ``""`` and ``007`` are strings,
    not missing values or numbers (pandas would turn ``NA`` into NaN). Dotted header
    names nest (``author.name``). Duplicate header names and rows with the wrong number
    of cells are errors naming the line.
    """
    lines = _physical_lines(path)
    texts = (text for _, text in lines)
    reader = csv.reader(texts, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 0
    paths: list[tuple[str, ...]] = []
    last = rows = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # name the line where the broken record starts, not where the reader gave up
            raise SeedFormatError(
                f"{path}: line {last + 1}: malformed CSV ({exc})"
                + (
                    " — a quoted cell is never closed; the file may be truncated"
                    if "end of data" in str(exc)
                    else ""
                ),
                fix='Check the quotes on that line; a quote inside a cell is written "".',
            ) from None
        start, last = last + 1, reader.line_num
        if not cells:
            continue  # a blank line
        if header is None:
            header, header_line = cells, start
            paths = nest_columns([h.strip() for h in header], source=f"{path}: header")
            continue
        if len(cells) != len(header):
            raise SeedFormatError(
                f"{path}: line {start} has {len(cells)} cells but the header (line "
                f"{header_line}) has {len(header)} columns",
                fix="Make every row have one cell per column; quote cells that contain the "
                f"delimiter {delimiter!r}.",
            )
        rows += 1
        yield start, nest_values(paths, cells)
    if header is not None and rows == 0:
        raise SeedFormatError(
            f"{path} has a header but no rows", fix="Add at least one data row below the header."
        )
