"""Quality filters on export: decide once, then drop records while they stream past."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import layout
from ..records import RECORD_STATUSES, Record

__all__ = ["Kept", "quality_filtered", "saved_report"]


@dataclass
class Kept:
    """The records to write, and what the card and the export command say about it."""

    records: Iterable[Record]
    text: str | None = None  # the filter's text form (for the export command)
    facts: dict[str, Any] | None = None  # FilterDecision.to_dict()


def quality_filtered(
    ws: Any, job_id: str, records: Iterable[Record], where: Any, *, only_ok: bool
) -> Kept:
    """``records`` without those the quality filter ``where`` removes (``None``: all)."""
    if where is None:
        return Kept(records)
    from ..quality.filters import QualityFilter, decide

    qf = QualityFilter.parse(where)
    if not qf.active:
        return Kept(records)
    statuses = ("ok",) if only_ok else RECORD_STATUSES
    decision = decide(ws, job_id, qf, statuses=statuses)

    def keep() -> Iterator[Record]:
        for record in records:
            if decision.keeps(record.index):
                yield record

    return Kept(keep(), qf.describe(), decision.to_dict())


def saved_report(ws: Any, job_id: str) -> dict[str, Any] | None:
    """The job's saved quality report (``plotpalette quality JOB --save``), if any."""
    key = layout.quality_key(job_id, "report.json")
    if not ws.store.exists(key):
        return None
    return json.loads(ws.store.read_bytes(key))
