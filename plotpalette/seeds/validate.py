"""Check seed rows against a template's inputs before any money is spent.

A template's :class:`~plotpalette.templates.inputs.InputSchema` says which fields it
reads (``author.name``), whether each must be a single value, a list it loops over
(and which fields it reads on each item) or a mapping, and whether the field is
required (not guarded by ``default`` or ``if``). :func:`validate_rows` checks every row
and names each problem by the row number the user sees, the field path and a reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import SeedValidationError
from .load import iter_seed_rows
from .seedset import SeedSet, build_seedset

if TYPE_CHECKING:  # pragma: no cover
    from ..templates.inputs import InputField, InputSchema

__all__ = ["MAX_LISTED", "RowError", "ValidationReport", "validate_rows"]

MAX_LISTED = 20  # problems spelled out in an error message; the rest are counted

# Reasons, worded for the person fixing the file. Tests and the UI match on the start.
MISSING = "missing"
NULL = "null (no value)"
EMPTY = "empty string"
LIST_FOR_SCALAR = "a list where a single value is needed"
MAPPING_FOR_SCALAR = "a mapping where a single value is needed"
NOT_A_LIST = "not a list, but the template loops over it"
NOT_A_MAPPING = "not a mapping, but the template reads fields from it"
ITEM_MISSING = "item field missing"


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")


@dataclass(frozen=True)
class RowError:
    """One problem: ``row`` is the number the user sees (a line or a row), ``index`` the
    0-based position in the seed set, ``field`` a dotted path (``lines[2].speaker``)."""

    row: int
    field: str
    reason: str
    index: int
    unit: str = "row"

    def __str__(self) -> str:
        return f"{self.unit} {self.row}: {self.field}: {self.reason}"


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_rows`.

    ``ok_rows`` holds the 0-based indices of valid rows, ``errors`` every problem found.
    Choose what happens next with :meth:`raise_if_invalid`, :meth:`valid_seedset` or
    :meth:`resolve` (``on_invalid="raise" | "drop"``).
    """

    source: str
    total: int
    ok_rows: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    _seeds: SeedSet | None = field(default=None, repr=False)
    _reload: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def invalid_rows(self) -> list[int]:
        """0-based indices of rows with at least one problem."""
        return sorted({e.index for e in self.errors})

    def summary(self, max_listed: int = MAX_LISTED) -> str:
        """A readable report: counts, then up to ``max_listed`` problems."""
        if self.ok:
            return f"all {self.total} seed rows from {self.source} fit the template's inputs"
        bad = len(self.invalid_rows)
        lines = [
            f"{bad} of {self.total} seed rows from {self.source} do not fit the "
            f"template's inputs ({len(self.errors)} problems):"
        ]
        lines += [f"  {e}" for e in self.errors[:max_listed]]
        if len(self.errors) > max_listed:
            lines.append(f"  … and {len(self.errors) - max_listed} more problems")
        return "\n".join(lines)

    __str__ = summary

    def raise_if_invalid(self) -> None:
        """Raise :class:`SeedValidationError` listing up to 20 problems plus a count."""
        if not self.ok:
            raise SeedValidationError(self.summary())

    def valid_seedset(self) -> SeedSet:
        """The valid rows as a new :class:`SeedSet` (own hash, original row numbers)."""
        if not self.ok_rows:
            raise SeedValidationError(
                self.summary(max_listed=5) + "\nno valid rows are left",
                fix="Fix the seed file; dropping would leave nothing.",
            )
        if self._seeds is not None:
            return self._seeds.subset(self.ok_rows)
        keep = set(self.ok_rows)
        fmt, label, unit, pairs = self._reload()
        chosen = (pair for i, pair in enumerate(pairs) if i in keep)
        return build_seedset(chosen, format=fmt, source=label, unit=unit)

    def resolve(self, on_invalid: str = "raise") -> SeedSet:
        """``"raise"``: the seeds if all rows are valid, else raise; ``"drop"``: valid rows."""
        if on_invalid == "raise":
            self.raise_if_invalid()
            return self._seeds if self._seeds is not None else self.valid_seedset()
        if on_invalid == "drop":
            return self.valid_seedset()
        raise SeedValidationError(
            f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}",
            fix="Pass on_invalid='raise' (stop) or 'drop' (skip rows).",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "total": self.total,
            "ok": len(self.ok_rows),
            "invalid": len(self.invalid_rows),
            "errors": [
                {"row": e.row, "unit": e.unit, "field": e.field, "reason": e.reason}
                for e in self.errors
            ],
        }


def validate_rows(seeds: Any, schema: InputSchema) -> ValidationReport:
    """Check every seed row against ``schema`` and report each problem.

    ``seeds`` is a :class:`SeedSet` or anything :func:`load_seeds` accepts; a file
    path is streamed (rows are checked one at a time and not kept), so a file too large
    to load can still be checked. Reasons: missing, null, empty string, a list or
    mapping where a single value is needed, not a list where the template loops, not a
    mapping where it reads sub-fields, and an item field missing in a list element.
    """
    _fmt, label, unit, pairs = iter_seed_rows(seeds)
    if isinstance(seeds, SeedSet):
        report = ValidationReport(source=label, total=0, _seeds=seeds)
    else:
        report = ValidationReport(source=label, total=0, _reload=lambda: iter_seed_rows(seeds))
    fields = tuple(schema.fields)
    for index, (number, row) in enumerate(pairs):
        problems = _prune([p for f in fields for p in _check(row, f, "")])
        if problems:
            report.errors.extend(
                RowError(number, path, reason, index, unit) for path, reason in problems
            )
        else:
            report.ok_rows.append(index)
        report.total += 1
    return report


def _prune(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One problem per place: a schema lists ``author`` *and* ``author.name``, but a
    missing ``author`` is one problem, not two."""
    kept: list[tuple[str, str]] = []
    for path, reason in problems:
        if any(path == p or path.startswith((p + ".", p + "[")) for p, _ in kept):
            continue
        kept = [(p, r) for p, r in kept if not p.startswith((path + ".", path + "["))]
        kept.append((path, reason))
    return sorted(kept, key=lambda problem: problem[0])


def _check(
    container: dict[str, Any], spec: InputField, prefix: str, *, item: bool = False
) -> Iterator[tuple[str, str]]:
    """Problems of one field in one row (or list item), as ``(path, reason)``."""
    rel = spec.path
    parts = rel.split(".")
    where = f"{prefix}.{rel}" if prefix else rel
    value: Any = container
    for depth, part in enumerate(parts):
        if not isinstance(value, dict):
            if spec.required:
                parent = ".".join(parts[:depth])
                parent_path = f"{prefix}.{parent}" if prefix else parent
                yield (
                    parent_path,
                    (
                        NULL
                        if value is None
                        else f"{_kind(value)} where a mapping is needed (to read {rel})"
                    ),
                )
            return
        if part not in value:
            if spec.required:
                yield where, ITEM_MISSING if item else MISSING
            return
        value = value[part]
    if value is None:
        if spec.required:
            yield where, NULL
        return
    kind = spec.kind
    if kind == "scalar":
        if isinstance(value, list):
            yield where, LIST_FOR_SCALAR
        elif isinstance(value, dict):
            yield where, MAPPING_FOR_SCALAR
        elif value == "" and spec.required:
            yield where, EMPTY
    elif kind == "mapping":
        if not isinstance(value, dict):
            yield where, f"{_kind(value)}, {NOT_A_MAPPING}"
    elif kind == "list":
        if not isinstance(value, list):
            yield where, f"{_kind(value)}, {NOT_A_LIST}"
            return
        subs = tuple(getattr(spec, "item_fields", ()) or ())
        if not subs:
            return
        for j, element in enumerate(value):
            at = f"{where}[{j}]"
            if not isinstance(element, dict):
                names = ", ".join(s.path for s in subs)
                yield at, f"{_kind(element)}, but the loop reads {names} from each item"
                continue
            for sub in subs:
                yield from _check(element, _relative(sub, spec.path), at, item=True)


def _relative(sub: InputField, parent: str) -> InputField:
    """Item fields are relative to the loop item; accept ``parent.x`` spellings too."""
    if sub.path.startswith(parent + "."):
        from dataclasses import replace

        return replace(sub, path=sub.path[len(parent) + 1 :])
    return sub
