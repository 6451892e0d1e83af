"""``load_seeds``: one entry point for every seed source, and a streaming ``scan_seeds``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import regular_file_problem
from ..errors import SeedError, SeedFormatError
from .canonical import canonical_line, field_paths
from .seedset import RowUnit, SeedSet, build_seedset
from .table_formats import (
    is_dataframe,
    is_hf_dataset,
    read_dataframe,
    read_hf_dataset,
    read_hf_saved,
    read_parquet,
    read_records,
)
from .text_formats import read_csv, read_json, read_jsonl

__all__ = ["FILE_FORMATS", "SeedScan", "iter_seed_rows", "load_seeds", "scan_seeds"]

# file format -> (reader, unit of the numbers it yields)
FILE_FORMATS: dict[str, tuple[Any, RowUnit]] = {
    "jsonl": (read_jsonl, "line"),
    "json": (read_json, "row"),
    "csv": (read_csv, "line"),
    "tsv": (lambda p: read_csv(p, delimiter="\t"), "line"),
    "parquet": (read_parquet, "row"),
    "hf": (read_hf_saved, "row"),
}
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

Rows = Iterator[tuple[int, dict[str, Any]]]


def _detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return "hf"
        raise SeedFormatError(
            f"{path} is a folder, not a seed file",
            fix="Pass a .jsonl, .json, .csv, .tsv or .parquet file.",
        )
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise SeedFormatError(
            f"cannot tell the format of {path.name} from its extension",
            fix="Use .jsonl, .json, .csv, .tsv or .parquet, or pass format= one of "
            + ", ".join(sorted(FILE_FORMATS))
            + ".",
        )
    return fmt


def iter_seed_rows(source: Any, *, format: str | None = None) -> tuple[str, str, RowUnit, Rows]:
    """Open ``source`` lazily: ``(format, source label, row unit, (number, row) iterator)``.

    Nothing is read until the iterator is consumed; files are read incrementally (JSON
    documents excepted, which must be parsed whole).
    """
    if isinstance(source, SeedSet):
        return (
            source.format,
            source.source,
            source.unit,
            iter(zip(source.row_numbers, source.rows, strict=True)),
        )
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        problem = regular_file_problem(path, allow_dir=True)
        if problem:
            missing = problem.endswith("does not exist")
            raise SeedFormatError(
                ("seed file " if problem.startswith(str(path)) else "") + problem,
                fix=f"Check the path (relative paths start at the current folder, {Path.cwd()})."
                if missing
                else "Point at a regular seed file (.jsonl, .json, .csv, .tsv, .parquet) or a "
                "saved Hugging Face dataset folder.",
            )
        fmt = (format or _detect_format(path)).lower()
        if fmt not in FILE_FORMATS:
            raise SeedFormatError(
                f"unknown seed format {format!r}",
                fix="Use one of " + ", ".join(sorted(FILE_FORMATS)) + ".",
            )
        if path.is_file() and path.stat().st_size == 0:
            raise SeedFormatError(
                f"seed file {path} is empty (0 bytes)",
                fix="Point at the file that holds the rows, or re-export it.",
            )
        reader, unit = FILE_FORMATS[fmt]
        return fmt, str(path), unit, reader(path)
    if is_dataframe(source):
        return "dataframe", "DataFrame", "row", read_dataframe(source)
    if is_hf_dataset(source):
        return "hf", f"datasets.{type(source).__name__}", "row", read_hf_dataset(source)
    if isinstance(source, Mapping):
        return "list", "dict", "row", read_records([source])
    if isinstance(source, (list, tuple)):
        return "list", "list", "row", read_records(source)
    raise SeedFormatError(
        f"cannot load seeds from a {type(source).__name__}",
        fix="Pass a file path, a pandas DataFrame, a datasets.Dataset or a list of dicts.",
    )


def load_seeds(source: Any, *, format: str | None = None, limit: int | None = None) -> SeedSet:
    """Load seed rows from a file, a DataFrame, a Hugging Face dataset or a list of dicts.

    ``source`` may be a path to ``.jsonl``/``.ndjson``, ``.json`` (an array of objects,
    one object, or ``{"rows": [...]}``), ``.csv``/``.tsv`` (dotted headers nest, cells
    stay strings), ``.parquet``, or a folder written by ``Dataset.save_to_disk``;
    ``format=`` overrides the extension. ``limit`` keeps only the first rows (the hash
    then covers just those rows). Errors are :class:`SeedFormatError` naming the line or
    row and saying how to fix it.

    >>> load_seeds([{"topic": "rain"}, {"topic": "tides"}]).fields()
    ['topic']
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise SeedError(
            f"limit must be a positive number of rows, got {limit!r}",
            fix="Pass limit=None for all rows, or a number such as limit=100.",
        )
    fmt, label, unit, rows = iter_seed_rows(source, format=format)
    return build_seedset(rows, format=fmt, source=label, unit=unit, limit=limit)


@dataclass(frozen=True)
class SeedScan:
    """What :func:`scan_seeds` learns from a pass over a source without keeping rows."""

    format: str
    source: str
    rows: int
    sha256: str
    fields: list[str] = field(default_factory=list)


def scan_seeds(source: Any, *, format: str | None = None) -> SeedScan:
    """Count, hash and list the fields of a seed source in one streaming pass.

    Memory stays at one row (one row group for Parquet), so this suits files too large
    to load; the hash equals ``load_seeds(source).sha256``.
    """
    fmt, label, unit, rows = iter_seed_rows(source, format=format)
    digest = hashlib.sha256()
    seen: set[str] = set()
    count = 0
    for number, row in rows:
        digest.update(canonical_line(row, unit=unit, number=number, source=label))
        field_paths(row, out=seen)
        count += 1
    if not count:
        raise SeedFormatError(
            f"{label} contains no seed rows",
            fix="Add at least one row (a JSON object or a CSV line).",
        )
    return SeedScan(fmt, label, count, digest.hexdigest(), sorted(seen))
