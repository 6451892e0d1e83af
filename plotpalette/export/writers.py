"""Streaming file writers: records in, JSONL / CSV / Parquet files out.

Records are read once, in batches of ``batch_rows``; each batch becomes one typed
Arrow batch (one Parquet row group) and is written at once, so memory holds at most a
batch per open partition, never the job. Files go through :meth:`Store.open_writer`,
which publishes a file under its final name only when it is complete: an export that
fails midway leaves temp files at most, which the store removes.

Layout under the export prefix::

    data/part-00000.parquet                    unpartitioned
    data/status=ok/part-00000.parquet          partition_by="status" (Hive style)
    data/date=2026-11-26/part-00000.parquet    partition_by="date" (record finish date)

With Hive-style partitions the partition column lives in the folder name, not in the
files (pyarrow, pandas, Spark, DuckDB and Hugging Face ``datasets`` restore it).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..errors import ExportError
from ..records import Record
from ..store import Store
from .columns import ColumnPlan

__all__ = [
    "FILE_FORMATS",
    "MAX_PARTITIONS",
    "WriteResult",
    "check_layout",
    "partition_value",
    "write_files",
]

FILE_FORMATS: dict[str, str] = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv"}
MAX_PARTITIONS = 512  # each open partition holds a file handle and a batch buffer
DEFAULT_BATCH_ROWS = 10_000
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


class _FormatWriter(Protocol):
    def write(self, batch: pa.RecordBatch) -> None: ...
    def close(self) -> None: ...


class _ParquetWriter:
    def __init__(self, fh: BinaryIO, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(fh, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)  # one row group per batch

    def close(self) -> None:
        self._writer.close()


class _CsvWriter:
    def __init__(self, fh: BinaryIO, schema: pa.Schema) -> None:
        self._writer = pa_csv.CSVWriter(fh, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()


class _JsonlWriter:
    def __init__(self, fh: BinaryIO, schema: pa.Schema) -> None:
        self._fh = fh

    def write(self, batch: pa.RecordBatch) -> None:
        # Values come back from the typed batch, so JSONL holds exactly what Parquet does.
        lines = [json.dumps(row, ensure_ascii=False) for row in batch.to_pylist()]
        if lines:
            self._fh.write(("\n".join(lines) + "\n").encode("utf-8"))

    def close(self) -> None:
        pass


_WRITERS: dict[str, type[_ParquetWriter] | type[_CsvWriter] | type[_JsonlWriter]] = {
    "parquet": _ParquetWriter,
    "csv": _CsvWriter,
    "jsonl": _JsonlWriter,
}


@dataclass
class WriteResult:
    """What :func:`write_files` wrote: store keys, row count, rows per partition."""

    keys: list[str] = field(default_factory=list)
    rows: int = 0
    partitions: dict[str, int] = field(default_factory=dict)


def partition_value(value: Any) -> str:
    """A Hive folder value: URI-escaped (as pyarrow decodes it), nulls as Hive's marker."""
    if value is None or value == "":
        return HIVE_NULL
    text = str(value).lower() if isinstance(value, bool) else str(value)
    escaped = quote(text, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


class _OpenFile:
    """One file being written: its publish-on-success writer and format writer."""

    def __init__(self, store: Store, key: str, fmt: str, schema: pa.Schema) -> None:
        self.key = key
        self.rows = 0
        self._stack = contextlib.ExitStack()
        fh = self._stack.enter_context(store.open_writer(key))
        self._writer = _WRITERS[fmt](fh, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write(batch)
        self.rows += batch.num_rows

    def commit(self) -> None:
        self._writer.close()
        self._stack.close()  # publishes under the final name

    def abort(self) -> None:
        """Drop the unfinished file (the store deletes its temp file)."""
        exc = sys.exc_info()
        if exc[0] is None:
            exc = (ExportError, ExportError("export aborted"), None)
        with contextlib.suppress(BaseException):
            self._writer.close()
        with contextlib.suppress(BaseException):
            self._stack.__exit__(*exc)


class _Partition:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.buffer: list[Record] = []
        self.file: _OpenFile | None = None
        self.next_part = 0
        self.rows = 0


def write_files(
    records: Iterable[Record],
    plan: ColumnPlan,
    store: Store,
    prefix: str,
    fmt: str,
    *,
    partition_by: str | None = None,
    shard_size: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> WriteResult:
    """Write ``records`` as ``fmt`` files under ``prefix`` in ``store``, streaming.

    ``partition_by`` is a column of ``plan`` (scalar) or ``"date"`` (the record's finish
    date, when no column is called ``date``); ``shard_size`` caps the rows per file. On
    any error every file this call already published is deleted again, then the error is
    re-raised, so a failed export leaves nothing under a final name.
    """
    if fmt not in _WRITERS:
        raise ExportError(f"unknown file format {fmt!r}", fix="Use parquet, jsonl or csv.")
    check_layout(plan, partition_by, shard_size)
    batch_rows = min(batch_rows, shard_size) if shard_size else batch_rows
    key_of, file_plan, pcol = _partitioner(plan, partition_by)
    schema = file_plan.schema
    parts: dict[str, _Partition] = {}
    result = WriteResult()
    ext = FILE_FORMATS[fmt]

    def flush(part: _Partition) -> None:
        while part.buffer:
            if part.file is None:
                key = f"{prefix}data/{part.folder}part-{part.next_part:05d}.{ext}"
                part.next_part += 1
                part.file = _OpenFile(store, key, fmt, schema)
            room = shard_size - part.file.rows if shard_size else len(part.buffer)
            chunk, part.buffer = part.buffer[:room], part.buffer[room:]
            part.file.write(file_plan.to_batch(chunk))
            part.rows += len(chunk)
            if shard_size and part.file.rows >= shard_size:
                close(part)

    def close(part: _Partition) -> None:
        if part.file is not None:
            part.file.commit()
            result.keys.append(part.file.key)
            part.file = None

    try:
        for record in records:
            value = key_of(record)
            part = parts.get(value)
            if part is None:
                if len(parts) >= MAX_PARTITIONS:
                    raise ExportError(
                        f"partition_by={partition_by!r} gives more than {MAX_PARTITIONS} "
                        "partitions",
                        fix="Partition by a column with fewer distinct values, or by date.",
                    )
                folder = f"{pcol}={value}/" if pcol else ""
                part = parts[value] = _Partition(folder)
            part.buffer.append(record)
            if len(part.buffer) >= batch_rows:
                flush(part)
        if not parts and not pcol:  # an empty export still gets its columns
            parts[""] = _Partition("")
            parts[""].file = _OpenFile(store, f"{prefix}data/part-00000.{ext}", fmt, schema)
        for value, part in parts.items():
            flush(part)
            close(part)
            if pcol:
                result.partitions[f"{pcol}={value}"] = part.rows
            result.rows += part.rows
    except BaseException:
        for part in parts.values():
            if part.file is not None:
                part.file.abort()
        for key in result.keys:
            with contextlib.suppress(Exception):
                store.delete(key)
        raise
    result.keys.sort()
    return result


def check_layout(plan: ColumnPlan, partition_by: str | None, shard_size: int | None) -> None:
    """Raise an ExportError for a bad ``partition_by`` or ``shard_size`` before any write."""
    if shard_size is not None and (
        isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1
    ):
        raise ExportError(
            f"shard_size must be a whole number >= 1, got {shard_size!r}",
            fix="Pass e.g. shard_size=100_000 rows per file, or None.",
        )
    _partitioner(plan, partition_by)


def _partitioner(plan: ColumnPlan, partition_by: str | None) -> tuple[Any, ColumnPlan, str]:
    """(record -> folder value, plan of the files, partition column name)."""
    if partition_by is None:
        return (lambda r: ""), plan, ""
    if partition_by in plan.names:
        col = plan.column(partition_by)
        if col.nested:
            raise ExportError(
                f"cannot partition by {partition_by!r}: it holds {col.type}",
                fix="Partition by a column of plain values, or by date.",
            )
        return (lambda r: partition_value(col.value(r))), plan.without(partition_by), partition_by
    if partition_by == "date":
        return (lambda r: partition_value((r.finished_at or "")[:10])), plan, "date"
    raise ExportError(
        f"cannot partition by {partition_by!r}: not a column of this export",
        fix=f"Use 'date' or one of: {', '.join(plan.names)}.",
    )
