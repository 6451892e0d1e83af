"""The registry's data: a job as the registry shows it (:class:`JobInfo`) and a
cost-ledger entry (:class:`LedgerRow`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .states import JobState

__all__ = ["JobInfo", "LedgerRow"]


@dataclass
class JobInfo:
    """One job as the registry knows it (a snapshot; call ``get`` again to refresh)."""

    job_id: str
    name: str | None
    state: JobState
    spec: dict[str, Any]
    fingerprint: str
    template: str
    batch_id: str | None
    records_total: int
    records_ok: int
    records_failed: int
    records_filtered: int
    budget_usd: float | None
    budget_tokens: int | None
    settled_usd: float
    reserved_usd: float
    waste_usd: float
    settled_tokens: int
    reserved_tokens: int
    calls: int
    error: dict[str, Any] | None
    price_tables: list[str]  # price-table versions used, one per run that changed it
    owner: str | None
    owner_pid: int | None
    owner_host: str | None
    heartbeat: float | None
    cancel_requested: bool
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    # True while the job is paused, or asked to pause: its worker adopts the flag at its
    # next checkpoint (<= flush_seconds) and keeps the state RUNNING.
    paused: bool = False
    deleted_at: float | None = None  # set by delete_job; such a row is hidden by default
    # live workers (one dict each: worker, pid, host, heartbeat, counts, unit, in_flight,
    # rate), work units by state ({"done", "leased", "left"}) and budget leased to them
    workers: list[dict[str, Any]] = field(default_factory=list)
    units: dict[str, int] = field(default_factory=dict)
    run: int = 0  # how many times the job was started (1 + resumes)
    # set by submit_job: the AWS Batch job running its workers (batch_job_id, workers,
    # job_queue, region, submitted_at, history of every submission)
    aws: dict[str, Any] | None = None
    # set while the job waits on a Bedrock batch job (see plotpalette.jobs.batch_state):
    # step, status (Submitted, InProgress, ...), counts, arn, submitted_at
    bedrock_batch: dict[str, Any] | None = None

    @property
    def activity(self) -> str:
        """``WAITING_ON_BEDROCK`` while a RUNNING job waits on a batch job, else the state."""
        from .states import activity

        return activity(self.state, self.bedrock_batch)

    @property
    def leased_usd(self) -> float:
        """Budget leased to workers and not yet booked (the same as ``reserved_usd``)."""
        return self.reserved_usd

    @property
    def spend_usd(self) -> float:
        """Settled cost plus open reservations: never below what was really spent."""
        return self.settled_usd + self.reserved_usd

    @property
    def records_done(self) -> int:
        return self.records_ok + self.records_failed + self.records_filtered

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["state"] = self.state.value
        data["spend_usd"] = self.spend_usd
        data["records_done"] = self.records_done
        data["activity"] = self.activity
        return data


@dataclass(frozen=True)
class LedgerRow:
    """One append-only ledger entry (see the module docstring for the meaning)."""

    job_id: str
    worker: str
    kind: str  # "lease" (booked on a budget lease) | "close" | "reclaim" (a dead worker's)
    reserve_usd: float = 0.0
    settle_usd: float = 0.0
    reserve_tokens: int = 0
    settle_tokens: int = 0
    waste_usd: float = 0.0
    calls: int = 0
    note: str | None = None
    ts: float = field(default_factory=time.time)
    seq: int | None = None
