"""The registry's data: a job's row (:class:`JobInfo`), a cost-ledger entry
(:class:`LedgerRow`), and the :class:`Registry` interface the engine needs.

SQLite implements it now (:mod:`plotpalette.jobs.registry`); a DynamoDB registry comes
with the AWS deployment, so every operation is one conditional write on one job plus
appended rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from .states import JobState

__all__ = ["CheckpointReply", "JobInfo", "LedgerRow", "Registry"]


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
        return data


@dataclass(frozen=True)
class LedgerRow:
    """One append-only ledger entry (see the module docstring for the meaning)."""

    job_id: str
    worker: str
    kind: str  # "reserve" | "settle" | "recover"
    reserve_usd: float = 0.0
    settle_usd: float = 0.0
    reserve_tokens: int = 0
    settle_tokens: int = 0
    waste_usd: float = 0.0
    calls: int = 0
    note: str | None = None
    ts: float = field(default_factory=time.time)
    seq: int | None = None


class CheckpointReply(NamedTuple):
    """What a checkpoint tells the worker about requests from other processes."""

    owner_ok: bool  # False: another worker took the job over (or it was deleted)
    cancel_requested: bool
    paused: bool  # the pause state the worker must adopt now


class Registry(Protocol):
    """What the job engine needs from a registry (SQLite now, DynamoDB later)."""

    def create_job(
        self,
        job_id: str,
        *,
        spec: dict[str, Any],
        fingerprint: str,
        template: str,
        records_total: int,
        name: str | None = None,
        batch_id: str | None = None,
    ) -> JobInfo: ...
    def get(self, job_id: str, *, include_deleted: bool = False) -> JobInfo: ...
    def list(
        self,
        *,
        state: str | None = None,
        batch_id: str | None = None,
        limit: int | None = None,
        include_deleted: bool = False,
    ) -> list[JobInfo]: ...
    def transition(
        self,
        job_id: str,
        new: JobState,
        *,
        expected: Iterable[JobState],
        error: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> JobInfo: ...
    def acquire(
        self,
        job_id: str,
        worker: str,
        *,
        lease_s: float = 30.0,
        budget_usd: float | None = ...,
        budget_tokens: int | None = ...,
        price_table: str | None = None,
    ) -> JobInfo: ...
    def reserve(self, job_id: str, worker: str, usd: float, tokens: int) -> bool: ...
    def checkpoint(
        self,
        job_id: str,
        worker: str,
        *,
        ledger: LedgerRow | None = None,
        progress: dict[str, int] | None = None,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
        paused: bool | None = None,
        published_paused: bool = False,
    ) -> CheckpointReply: ...
    def request_cancel(self, job_id: str) -> None: ...
    def request_pause(self, job_id: str, paused: bool) -> JobInfo: ...
    def mark_deleted(self, job_id: str, *, lease_s: float = 30.0) -> JobInfo: ...
    def ledger(self, job_id: str) -> list[LedgerRow]: ...
    def add_event(self, job_id: str, kind: str, data: dict[str, Any]) -> None: ...
    def events(
        self, job_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, float, str, dict[str, Any]]]: ...
