"""``SeedSet``: loaded seed rows with their content hash, and their home in a workspace."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .. import layout
from ..errors import SeedError, SeedFormatError, WorkspaceError
from .canonical import canonical_line, field_paths, flatten_row

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..templates.inputs import InputSchema
    from ..workspace import Workspace

__all__ = ["SeedSet", "build_seedset"]

RowUnit = Literal["line", "row"]


class SeedSet:
    """Seed rows (JSON objects) plus where they came from and a content hash.

    - ``rows``: the rows as nested dicts, in file order (held in memory).
    - ``sha256``: hash of the canonical JSONL form of the rows, so the same rows from a
      CSV, a JSONL file or a DataFrame have the same hash; it names the stored copy.
    - ``format`` / ``source``: how and from where they were loaded.
    - ``row_numbers[i]``: the number the user sees for ``rows[i]`` in the source, a
      physical line (``unit == "line"``: JSONL, CSV) or a 1-based row (``"row"``).
    """

    def __init__(
        self,
        rows: list[dict[str, Any]],
        *,
        sha256: str,
        format: str,
        source: str,
        row_numbers: Sequence[int] | None = None,
        unit: RowUnit = "row",
    ) -> None:
        self.rows = rows
        self.sha256 = sha256
        self.format = format
        self.source = source
        self.row_numbers = (
            list(row_numbers) if row_numbers is not None else list(range(1, len(rows) + 1))
        )
        self.unit: RowUnit = unit
        # set by generate_seeds: how the rows were made (a SeedGeneration), else None
        self.generation: Any = None

    # -- sequence-like -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]

    def __repr__(self) -> str:
        return (
            f"SeedSet({len(self)} rows, format={self.format!r}, "
            f"sha256={self.sha256[:12]}…, source={self.source!r})"
        )

    def where(self, index: int) -> str:
        """How the user finds ``rows[index]`` in the source, e.g. ``"line 7"``."""
        return f"{self.unit} {self.row_numbers[index]}"

    # -- views ---------------------------------------------------------------------
    def fields(self) -> list[str]:
        """Sorted dotted paths seen in any row (``author.name``; ``lines[].speaker``)."""
        seen: set[str] = set()
        for row in self.rows:
            field_paths(row, out=seen)
        return sorted(seen)

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame with one dotted column per leaf (``author.name``); lists stay cells.

        Loading that DataFrame again gives back the same rows and the same hash.
        """
        import pandas as pd

        return pd.DataFrame([flatten_row(row) for row in self.rows])

    def canonical_lines(self) -> Iterator[bytes]:
        """The canonical JSONL lines whose hash is ``sha256``."""
        for index, row in enumerate(self.rows):
            yield canonical_line(
                row, unit=self.unit, number=self.row_numbers[index], source=self.source
            )

    def subset(self, indices: Iterable[int]) -> SeedSet:
        """A new seed set with the rows at ``indices`` (its own hash, same row numbers)."""
        keep = list(indices)
        pairs = ((self.row_numbers[i], self.rows[i]) for i in keep)
        return build_seedset(pairs, format=self.format, source=self.source, unit=self.unit)

    def validate(self, schema: InputSchema, *, on_invalid: str = "raise") -> SeedSet:
        """Check every row against ``schema``; ``on_invalid`` is ``"raise"`` or ``"drop"``.

        ``"raise"`` raises :class:`~plotpalette.errors.SeedValidationError` listing the
        problems; ``"drop"`` returns the valid rows only (an error if none are left).
        """
        from .validate import validate_rows

        return validate_rows(self, schema).resolve(on_invalid)

    # -- workspace -----------------------------------------------------------------
    def save_to(self, workspace: Workspace) -> str:
        """Store the rows as canonical JSONL under ``seeds/<sha256>.jsonl``; returns the key.

        Content-addressed and created only if absent, so saving twice (or two processes
        saving the same rows) writes once.
        """
        key = layout.seed_key(self.sha256, "jsonl")
        if not workspace.store.exists(key):
            workspace.store.create(key, b"".join(self.canonical_lines()))
        return key

    @classmethod
    def from_workspace(cls, workspace: Workspace, sha256: str) -> SeedSet:
        """Load a stored seed set by its hash (or a unique prefix of at least 8 characters)."""
        key = _resolve_key(workspace, sha256)
        data = workspace.store.read_bytes(key)
        digest = hashlib.sha256(data).hexdigest()
        if not key.endswith(f"/{digest}.jsonl"):
            raise WorkspaceError(
                f"stored seed set {key} is damaged (its content hashes to {digest[:12]}…)",
                fix="Delete it and import the seed file again with `plotpalette seeds import`.",
            )
        rows = [json.loads(line) for line in data.splitlines() if line]
        return cls(rows, sha256=digest, format="jsonl", source=f"workspace:{key}", unit="line")


def _resolve_key(workspace: Workspace, sha256: str) -> str:
    wanted = sha256.strip().lower()
    if len(wanted) < 8 or any(c not in "0123456789abcdef" for c in wanted):
        raise SeedError(
            f"{sha256!r} is not a seed set hash",
            fix="Use the sha256 printed by `plotpalette seeds import` (at least 8 hex characters).",
        )
    prefix = layout.seed_key(wanted, "jsonl").rsplit("/", 1)[0] + "/"
    matches = [
        k
        for k in workspace.store.list(prefix)
        if k.rsplit("/", 1)[-1].startswith(wanted) and k.endswith(".jsonl")
    ]
    if not matches:
        raise SeedError(
            f"no seed set {wanted[:12]}… in workspace {workspace.location}",
            fix="Import it first: load_seeds(path).save_to(workspace) or "
            "`plotpalette seeds import FILE`.",
        )
    if len(matches) > 1:
        raise SeedError(
            f"seed hash prefix {wanted!r} matches {len(matches)} seed sets",
            fix="Use more characters of the hash.",
        )
    return matches[0]


def build_seedset(
    pairs: Iterable[tuple[int, dict[str, Any]]],
    *,
    format: str,
    source: str,
    unit: RowUnit,
    limit: int | None = None,
) -> SeedSet:
    """Consume ``(row number, row)`` pairs into a SeedSet, hashing each row as it arrives.

    The hash is built incrementally from canonical lines, so it never needs the whole
    file in memory; the rows themselves are kept (a SeedSet is an in-memory object).
    """
    digest = hashlib.sha256()
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    for number, row in pairs:
        digest.update(canonical_line(row, unit=unit, number=number, source=source))
        rows.append(row)
        numbers.append(number)
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise SeedFormatError(
            f"{source} contains no seed rows",
            fix="Add at least one row (a JSON object or a CSV line).",
        )
    return SeedSet(
        rows,
        sha256=digest.hexdigest(),
        format=format,
        source=source,
        row_numbers=numbers,
        unit=unit,
    )
