"""The record schema: one generated row, as stored in shards and read by exports.

This module is the contract between the job runner (producer) and exports,
analytics and the UI (consumers). Both sides use :meth:`Record.to_dict` /
:meth:`Record.from_dict`; a round-trip test pins the shape.

A shard line looks like::

    {"record_id": "job-1a2b:000000007", "index": 7, "seed_index": 3, "status": "ok",
     "error": null, "flags": [], "outputs": {"question": "...", "answer": "..."},
     "steps": {"ask": {"model": "...", "input_tokens": 51, "output_tokens": 40, ...}},
     "prompts": {"ask": {"system": null, "prompt": "..."}}, "cost_usd": 0.0000123,
     "finished_at": "2026-11-26T01:02:03Z"}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["RECORD_STATUSES", "Record", "StepResult", "record_id"]

RecordStatus = Literal["ok", "failed", "filtered"]
RECORD_STATUSES: tuple[str, ...] = ("ok", "failed", "filtered")


def record_id(job_id: str, index: int) -> str:
    """Stable id of record ``index`` of a job (the same after any resume)."""
    return f"{job_id}:{index:09d}"


@dataclass
class StepResult:
    """What one step of one record cost and produced."""

    model: str
    output: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: float = 0.0
    stop_reason: str = ""
    cost_usd: float = 0.0
    attempts: int = 1
    skipped: bool = False  # its ``when`` condition was false

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        return cls(**data)


@dataclass
class Record:
    """One finished record (any status). Only finished records are ever persisted."""

    job_id: str
    index: int
    seed_index: int
    status: RecordStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepResult] = field(default_factory=dict)
    prompts: dict[str, dict[str, str | None]] = field(default_factory=dict)
    error: str | None = None
    flags: list[str] = field(default_factory=list)  # quality-check names that fired
    cost_usd: float = 0.0
    finished_at: str = ""

    @property
    def record_id(self) -> str:
        return record_id(self.job_id, self.index)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"record_id": self.record_id, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        data = dict(data)
        data.pop("record_id", None)
        steps = {k: StepResult.from_dict(v) for k, v in (data.pop("steps", None) or {}).items()}
        return cls(steps=steps, **data)
