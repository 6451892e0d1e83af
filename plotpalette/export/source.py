"""Reading a job for export: its registry entry, pinned template and typed records.

The column plan is fixed from the template snapshot and the first ``INFER_ROWS``
records (read ahead, then replayed), so the rest of the job streams through once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import layout
from ..errors import TemplateError
from ..jobs import JobInfo, iter_records
from ..records import Record
from ..workspace import Workspace
from .columns import ColumnPlan, plan_columns

__all__ = [
    "INFER_ROWS",
    "TemplateFacts",
    "job_info",
    "open_workspace",
    "planned_records",
    "template_facts",
]

INFER_ROWS = 1000  # records read ahead to fix the column types


@dataclass
class TemplateFacts:
    ref: str
    hash: str | None
    category: str = "general"
    description: str = ""
    outputs: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)


def open_workspace(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)


def job_info(ws: Workspace, job_id: str) -> JobInfo:
    return ws.registry.get(job_id)


def template_facts(ws: Workspace, info: JobInfo) -> TemplateFacts:
    """Output columns and step ids from the job's pinned template snapshot."""
    facts = TemplateFacts(ref=info.template, hash=info.spec.get("template_hash"))
    key = layout.template_snapshot_key(info.job_id)
    try:
        text = ws.store.read_bytes(key).decode()
    except KeyError:
        return facts  # columns then come from the records alone
    from ..templates import parse_template

    try:
        tpl = parse_template(text, source=key)
    except TemplateError:
        return facts
    facts.category, facts.description = tpl.category, tpl.description
    facts.outputs = list(tpl.output)
    facts.steps = [s.id for s in tpl.steps]
    facts.hash = facts.hash or tpl.content_hash
    return facts


def planned_records(
    ws: Workspace, job_id: str, tpl: TemplateFacts, *, only_ok: bool, **options: Any
) -> tuple[ColumnPlan, Iterator[Record]]:
    """The column plan and the full record stream (``ok`` only unless ``only_ok=False``).

    Reads ahead ``INFER_ROWS`` records to type the columns; they are replayed first.
    """
    records = iter_records(ws, job_id, status="ok" if only_ok else None)
    sample = list(itertools.islice(records, INFER_ROWS))
    plan = plan_columns(sample, output_columns=tpl.outputs, steps=tpl.steps, **options)
    return plan, itertools.chain(sample, records)
