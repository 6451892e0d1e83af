"""Notebook access to a job's records: ``to_pandas`` and ``iter_rows``.

Same columns and values as an export (the same column plan), without writing files.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..workspace import Workspace
from .columns import ColumnPlan
from .source import job_info, open_workspace, planned_records, template_facts

__all__ = ["iter_rows", "to_pandas"]


def _frames(
    ws: Workspace,
    job_id: str,
    *,
    columns: Sequence[str] | None,
    metadata: Sequence[str] | None,
    include_prompts: bool,
    only_ok: bool,
    json_columns: Sequence[str],
    batch_rows: int,
) -> tuple[ColumnPlan, Iterator[Any]]:
    tpl = template_facts(ws, job_info(ws, job_id))
    plan, records = planned_records(
        ws,
        job_id,
        tpl,
        only_ok=only_ok,
        columns=columns,
        metadata=metadata,
        include_prompts=include_prompts,
        json_columns=json_columns,
    )

    def batches() -> Iterator[Any]:
        while chunk := list(itertools.islice(records, batch_rows)):
            yield plan.to_batch(chunk)

    return plan, batches()


def iter_rows(
    workspace: Workspace | str | Path | None,
    job_id: str,
    *,
    columns: Sequence[str] | None = None,
    metadata: Sequence[str] | None = None,
    include_prompts: bool = False,
    only_ok: bool = True,
    json_columns: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """A job's records as flat dicts with the same columns and values as an export."""
    _, batches = _frames(
        open_workspace(workspace),
        job_id,
        columns=columns,
        metadata=metadata,
        include_prompts=include_prompts,
        only_ok=only_ok,
        json_columns=json_columns,
        batch_rows=1000,
    )
    for batch in batches:
        yield from batch.to_pylist()


def to_pandas(
    workspace: Workspace | str | Path | None,
    job_id: str,
    *,
    columns: Sequence[str] | None = None,
    metadata: Sequence[str] | None = None,
    include_prompts: bool = False,
    only_ok: bool = True,
    json_columns: Sequence[str] = (),
) -> Any:
    """A job's records as a pandas DataFrame (flat columns, one dtype per column).

    This holds the whole result in memory; for large jobs export to Parquet instead.
    """
    import pyarrow as pa

    plan, batches = _frames(
        open_workspace(workspace),
        job_id,
        columns=columns,
        metadata=metadata,
        include_prompts=include_prompts,
        only_ok=only_ok,
        json_columns=json_columns,
        batch_rows=10_000,
    )
    return pa.Table.from_batches(list(batches), schema=plan.schema).to_pandas()
