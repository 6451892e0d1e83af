"""Readers for tabular and in-memory sources: Parquet, DataFrame, HF datasets, lists.

Like the text readers, each yields ``(row number, row)`` with 1-based row numbers.
Values are converted to plain JSON (numpy numbers, dates, missing markers) by
:func:`~plotpalette.seeds.canonical.to_json_value`; dotted column names nest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import SeedFormatError
from .canonical import nest_columns, nest_values, to_json_value

__all__ = [
    "is_dataframe",
    "is_hf_dataset",
    "read_dataframe",
    "read_hf_dataset",
    "read_hf_saved",
    "read_parquet",
    "read_records",
]

HF_INSTALL = 'pip install "plotpalette[hf]"'
_CHUNK = 4096  # DataFrame rows converted at a time, so a large frame is not copied whole


def _row(
    paths: list[tuple[str, ...]],
    names: list[str],
    values: Iterable[Any],
    number: int,
    source: str = "",
) -> dict[str, Any]:
    clean = [
        to_json_value(v, unit="row", number=number, path=n, source=source)
        for n, v in zip(names, values, strict=True)
    ]
    return nest_values(paths, clean)


def read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream a Parquet file one row group at a time (memory ~ one row group)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .text_formats import open_seed_file

    handle = open_seed_file(path)  # regular files only: never a FIFO or a device
    try:
        yield from _parquet_rows(pa, pq, path, handle)
    finally:
        handle.close()


def _parquet_rows(
    pa: Any, pq: Any, path: Path, handle: Any
) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        pf = pq.ParquetFile(handle)
    except (pa.ArrowException, OSError) as exc:
        raise SeedFormatError(
            f"{path} is not a readable Parquet file ({exc})",
            fix="Check the file is complete; re-export it from the tool that wrote it.",
        ) from None
    names = list(pf.schema_arrow.names)
    paths = nest_columns(names, source=f"{path}: columns")
    number = 0
    for group in range(pf.num_row_groups):
        try:
            table = pf.read_row_group(group)
        except (pa.ArrowException, OSError) as exc:
            raise SeedFormatError(
                f"{path}: row group {group} cannot be read ({exc}); the file may be truncated",
                fix="Re-export the Parquet file.",
            ) from None
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        for values in zip(*columns, strict=True):
            number += 1
            yield number, _row(paths, names, values, number, str(path))


def is_dataframe(obj: Any) -> bool:
    """True for a pandas DataFrame, checked without importing pandas."""
    cls = type(obj)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")


def read_dataframe(df: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a DataFrame; NaN/None/NA/NaT are missing (``None``), the index is ignored."""
    names = [".".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in df.columns]
    paths = nest_columns(names, source="DataFrame columns")
    number = 0
    for start in range(0, len(df), _CHUNK):
        chunk = df.iloc[start : start + _CHUNK]
        for values in chunk.itertuples(index=False, name=None):
            number += 1
            yield number, _row(paths, names, values, number)


def is_hf_dataset(obj: Any) -> bool:
    """True for a ``datasets.Dataset`` / ``DatasetDict``, checked without importing it."""
    return type(obj).__module__.split(".")[0] == "datasets"


def read_hf_dataset(ds: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a Hugging Face ``datasets.Dataset`` (iterated, not copied to pandas)."""
    if type(ds).__name__ in ("DatasetDict", "IterableDatasetDict"):
        splits = ", ".join(repr(k) for k in ds)
        raise SeedFormatError(
            f"got a DatasetDict with splits {splits}, not one Dataset",
            fix=f"Pick a split, e.g. load_seeds(ds[{next(iter(ds))!r}]).",
        )
    names = list(ds.column_names)
    paths = nest_columns(names, source="dataset columns")
    for number, item in enumerate(ds, 1):
        yield number, _row(paths, names, (item[n] for n in names), number)


def read_hf_saved(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """A dataset folder written by ``Dataset.save_to_disk`` (needs the ``hf`` extra)."""
    try:
        import datasets
    except ImportError:
        raise SeedFormatError(
            f"{path} is a Hugging Face dataset folder, but the `datasets` package is not installed",
            fix=HF_INSTALL,
        ) from None
    try:
        ds = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as exc:
        raise SeedFormatError(
            f"{path} cannot be opened as a saved Hugging Face dataset ({exc})",
            fix="Save it with Dataset.save_to_disk(folder).",
        ) from None
    yield from read_hf_dataset(ds)


def read_records(items: Iterable[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """A list (or any iterable) of mappings, taken as JSON-like rows: keys are not split."""
    for number, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise SeedFormatError(
                f"row {number} is a {type(item).__name__}, not a mapping",
                fix="Pass a list of dicts such as [{'topic': 'rain'}].",
            )
        yield number, to_json_value(item, unit="row", number=number, path="")
