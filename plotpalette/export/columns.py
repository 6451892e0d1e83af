"""The column plan: which flat columns an export has, and the one type of each.

A plan is built once per export, before the first row is written, from the template's
output mapping (records carry the mapped values flattened in ``Record.outputs``), the
job's step ids, the chosen metadata and, for value types, a sample of the first records.
Every column then has exactly one Arrow type for the whole export, so shards written
at different times can never disagree on a dtype. A value that does not fit its column
is an :class:`~plotpalette.errors.ExportError` naming the column and the record.

Nothing here is ever a JSON blob of the whole record: prompts become ``<step>_prompt``
and ``<step>_system`` columns, per-step metadata ``<step>_model``, ``<step>_cost_usd``...
A column is JSON-encoded (stored as text) only when the caller asks for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from ..errors import ExportError
from ..records import Record

__all__ = [
    "DEFAULT_METADATA",
    "METADATA_GROUPS",
    "Column",
    "ColumnPlan",
    "plan_columns",
]

Getter = Callable[[Record], Any]

# Record-level metadata columns and their fixed types.
_RECORD_META: dict[str, tuple[pa.DataType, Getter]] = {
    "record_id": (pa.string(), lambda r: r.record_id),
    "index": (pa.int64(), lambda r: r.index),
    "seed_index": (pa.int64(), lambda r: r.seed_index),
    "status": (pa.string(), lambda r: r.status),
    "error": (pa.string(), lambda r: r.error),
    "flags": (pa.list_(pa.string()), lambda r: list(r.flags)),
    "cost_usd": (pa.float64(), lambda r: r.cost_usd),
    "input_tokens": (pa.int64(), lambda r: sum(s.input_tokens for s in r.steps.values())),
    "output_tokens": (pa.int64(), lambda r: sum(s.output_tokens for s in r.steps.values())),
    "finished_at": (pa.string(), lambda r: r.finished_at or None),
}

# Per-step fields: group name -> StepResult attributes exported as ``<step>_<attr>``.
_STEP_FIELDS: dict[str, tuple[tuple[str, pa.DataType], ...]] = {
    "models": (("model", pa.string()),),
    "step_tokens": (("input_tokens", pa.int64()), ("output_tokens", pa.int64())),
    "step_cost": (("cost_usd", pa.float64()),),
    "latency": (("latency_ms", pa.float64()),),
    "stop_reason": (("stop_reason", pa.string()),),
    "cache_tokens": (("cache_read_tokens", pa.int64()), ("cache_write_tokens", pa.int64())),
    "step_outputs": (("output", pa.string()),),
}

# Names accepted in ``metadata=``: single record columns or a group of columns.
METADATA_GROUPS: dict[str, tuple[str, ...]] = {
    "ids": ("record_id", "index", "seed_index"),
    "tokens": ("input_tokens", "output_tokens"),
    "cost": ("cost_usd",),
    **{name: (name,) for name in _RECORD_META},
    **{name: () for name in _STEP_FIELDS},  # expanded per step
}
DEFAULT_METADATA: tuple[str, ...] = (
    "record_id",
    "index",
    "seed_index",
    "status",
    "error",
    "flags",
    "models",
    "tokens",
    "cost",
)


@dataclass(frozen=True)
class Column:
    """One output column: its name, Arrow type and how to read it from a record."""

    name: str
    type: pa.DataType
    get: Getter
    kind: str  # "output" | "metadata" | "prompt"
    json_encoded: bool = False

    def value(self, record: Record) -> Any:
        value = self.get(record)
        if self.json_encoded and value is not None:
            return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        return value

    @property
    def nested(self) -> bool:
        return pa.types.is_nested(self.type)


@dataclass(frozen=True)
class ColumnPlan:
    """The ordered columns of one export; turns records into typed Arrow batches."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise ExportError(
            f"no column {name!r} in this export", fix=f"Columns are: {', '.join(self.names)}."
        )

    def without(self, name: str) -> ColumnPlan:
        return ColumnPlan(tuple(c for c in self.columns if c.name != name))

    def for_flat_format(self, fmt: str, *, allow_json: Iterable[str] = ("flags",)) -> ColumnPlan:
        """The plan for a format whose cells are scalars (CSV).

        Nested columns listed in ``allow_json`` (by default only ``flags``, whose CSV form
        is documented as a JSON list) are JSON-encoded; any other nested column is an error.
        """
        allowed = set(allow_json)
        out = []
        for col in self.columns:
            if col.nested and not col.json_encoded:
                if col.name not in allowed:
                    raise ExportError(
                        f"column {col.name!r} holds {col.type} values, which {fmt.upper()} "
                        "cannot store",
                        fix=f"Pass json_columns=[{col.name!r}] to store it as JSON text, "
                        "drop it with columns=[...], or export to Parquet or JSONL.",
                    )
                col = replace(col, type=pa.string(), json_encoded=True)
            out.append(col)
        return ColumnPlan(tuple(out))

    def to_batch(self, records: Sequence[Record]) -> pa.RecordBatch:
        """A typed batch of ``records``; a value that does not fit is an ExportError."""
        arrays = []
        for col in self.columns:
            get = col.value if col.json_encoded else col.get  # skip a call per cell
            values = [get(r) for r in records]
            try:
                arrays.append(pa.array(values, type=col.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                raise _misfit(col, records, values) from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _misfit(col: Column, records: Sequence[Record], values: list[Any]) -> ExportError:
    for record, value in zip(records, values, strict=True):
        try:
            pa.array([value], type=col.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            return ExportError(
                f"column {col.name!r}: record {record.record_id} has the "
                f"{type(value).__name__} value {shown}, but the column's type is {col.type} "
                "(set from the first records)",
                fix=f"Pass json_columns=[{col.name!r}] to store the column as JSON text, or "
                "make the template's output mapping produce one type.",
            )
    return ExportError(
        f"column {col.name!r}: values do not fit type {col.type}",
        fix=f"Pass json_columns=[{col.name!r}].",
    )


# -- type inference -------------------------------------------------------------------
def _infer_type(name: str, values: list[Any], sample: Sequence[Record]) -> pa.DataType:
    """One Arrow type for an output column from the sampled values.

    All-null columns default to string (a mapping renders text). int and float unify to
    float64; any other mix is an error, because picking one would silently change data.
    """
    present = [v for v in values if v is not None]
    if not present:
        return pa.string()
    kinds = {_kind(v) for v in present}
    if kinds == {"int", "float"}:
        return pa.float64()
    if len(kinds) > 1:
        first = {
            k: next(
                r.record_id
                for r, v in zip(sample, values, strict=True)
                if v is not None and _kind(v) == k
            )
            for k in sorted(kinds)
        }
        where = ", ".join(f"{k} in {rid}" for k, rid in first.items())
        raise ExportError(
            f"output column {name!r} mixes value types ({where})",
            fix=f"Pass json_columns=[{name!r}] to store it as JSON text, or "
            "make the template's output mapping produce one type.",
        )
    kind = kinds.pop()
    if kind in ("list", "dict"):
        try:
            return pa.infer_type(present)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise ExportError(
                f"output column {name!r} holds nested values of varying shape",
                fix=f"Pass json_columns=[{name!r}] to store it as JSON text.",
            ) from None
    return {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}[kind]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _step_getter(step: str, attr: str) -> Getter:
    def get(record: Record) -> Any:
        result = record.steps.get(step)
        if result is None or result.skipped:
            return None
        return getattr(result, attr)

    return get


def _prompt_getter(step: str, part: str) -> Getter:
    return lambda r: (r.prompts.get(step) or {}).get(part)


def _output_getter(name: str) -> Getter:
    return lambda r: r.outputs.get(name)


def plan_columns(
    sample: Sequence[Record],
    *,
    output_columns: Sequence[str] = (),
    steps: Sequence[str] = (),
    metadata: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    include_prompts: bool = False,
    json_columns: Sequence[str] = (),
) -> ColumnPlan:
    """Build the plan for an export.

    Args:
        sample: the first records that will be exported (types are inferred from them).
        output_columns: the template's output-mapping columns, in order; columns seen in
            ``sample`` but not declared are appended.
        steps: the template's step ids, in order (plus any seen in ``sample``).
        metadata: metadata columns or groups (see ``METADATA_GROUPS``); default
            ``DEFAULT_METADATA``. Per-step groups (``models``, ``step_tokens``,
            ``step_cost``, ``latency``, ``stop_reason``, ``cache_tokens``,
            ``step_outputs``) give one ``<step>_<field>`` column per step.
        columns: if given, exactly these columns in this order (any output, metadata,
            per-step or prompt column name).
        include_prompts: add ``<step>_system`` and ``<step>_prompt`` text columns.
        json_columns: columns to store as JSON text instead of a typed/nested value.

    An output column and a metadata column with the same name (``answer_model`` mapped by
    the template and the ``models`` group's ``answer_model``) are one column: the output's.
    """
    outputs = _unique([*output_columns, *(k for r in sample for k in r.outputs)])
    step_ids = _unique([*steps, *(k for r in sample for k in r.steps)])
    wanted_meta = list(DEFAULT_METADATA if metadata is None else metadata)
    for name in wanted_meta:
        if name not in METADATA_GROUPS:
            raise ExportError(
                f"unknown metadata column {name!r}",
                fix=f"Use any of: {', '.join(METADATA_GROUPS)}.",
            )

    available: dict[str, Column] = {}
    default: list[str] = []

    def add(col: Column, in_default: bool) -> None:
        # The template's output mapping wins a name clash: a template that maps
        # ``answer_model: "{{ steps.answer.model }}"`` already has the metadata column.
        if col.name in available:
            return
        available[col.name] = col
        if in_default:
            default.append(col.name)

    for name in outputs:
        values = [r.outputs.get(name) for r in sample]
        ctype = pa.string() if name in json_columns else _infer_type(name, values, sample)
        add(Column(name, ctype, _output_getter(name), "output"), True)
    groups = set(wanted_meta)
    for name, (ctype, getter) in _RECORD_META.items():
        chosen = any(name in METADATA_GROUPS[g] for g in groups)
        add(Column(name, ctype, getter, "metadata"), chosen)
    for group, fields in _STEP_FIELDS.items():
        for step in step_ids:
            for attr, ctype in fields:
                add(
                    Column(f"{step}_{attr}", ctype, _step_getter(step, attr), "metadata"),
                    group in groups,
                )
    for step in step_ids:
        for part in ("system", "prompt"):
            add(
                Column(f"{step}_{part}", pa.string(), _prompt_getter(step, part), "prompt"),
                include_prompts,
            )

    names = list(columns) if columns is not None else default
    missing = [n for n in names if n not in available]
    if missing:
        raise ExportError(
            f"unknown column(s): {', '.join(map(repr, missing))}",
            fix=f"Available columns: {', '.join(available)}.",
        )
    if len(set(names)) != len(names):
        raise ExportError("columns=[...] lists a column twice", fix="List each column once.")
    unknown_json = [n for n in json_columns if n not in available]
    if unknown_json:
        raise ExportError(
            f"json_columns names unknown column(s): {', '.join(unknown_json)}",
            fix=f"Available columns: {', '.join(available)}.",
        )
    plan = []
    for name in names:
        col = available[name]
        if name in json_columns and not col.json_encoded:
            col = replace(col, type=pa.string(), json_encoded=True)
        plan.append(col)
    return ColumnPlan(tuple(plan))
