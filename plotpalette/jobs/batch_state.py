"""What the registry keeps about a job's Bedrock batch jobs, so any process can follow,
resume or cancel them.

One item per submitted batch, ``bedrock_batch/<job>/<step>/<seq>``, written **before**
CreateModelInvocationJob (``state: staged``, with the input and output URIs and the
``clientRequestToken``) and updated with the ARN once Bedrock answers. The token is
derived from job, step and sequence number, so a process that died between the two
writes re-submits with the same token and Bedrock returns the same job: nothing is
submitted (or paid for) twice. States: ``staged`` → ``submitted`` → ``joined`` (answers
saved in the store) or ``ended`` (Failed, Expired or Stopped: no answers).

The job item carries a copy of the latest batch's status (``bedrock_batch``) for
``status``, the JobConsole and :class:`~plotpalette.jobs.handle.JobHandle`; the job
itself stays RUNNING (see :data:`~plotpalette.jobs.states.WAITING_ON_BEDROCK`).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from ..tables import Item, iter_items, update

__all__ = [
    "BATCH",
    "active_batches",
    "batch_items",
    "client_token",
    "item_key",
    "stop_batches",
    "stop_job_batches",
]

BATCH = "bedrock_batch"
OPEN_STATES = ("staged", "submitted")


def item_key(job_id: str, step_id: str, seq: int) -> str:
    return f"{job_id}/{step_id}/{seq:04d}"


def client_token(job_id: str, step_id: str, seq: int) -> str:
    """CreateModelInvocationJob's idempotency token: the same for the same batch."""
    return "pp-" + hashlib.sha256(item_key(job_id, step_id, seq).encode()).hexdigest()[:40]


def batch_items(tables: Any, job_id: str, step_id: str | None = None) -> list[Item]:
    """The job's batch items (of one step), oldest first."""
    prefix = f"{job_id}/" if step_id is None else f"{job_id}/{step_id}/"
    return sorted(iter_items(tables, BATCH, prefix), key=lambda i: i.key)


def active_batches(tables: Any, job_id: str) -> list[Item]:
    """Batches not yet joined or ended (Bedrock may still be working on them)."""
    return [i for i in batch_items(tables, job_id) if i.data["state"] in OPEN_STATES]


def new_item(tables: Any, job_id: str, step_id: str, data: dict[str, Any]) -> Item:
    """Create the next batch item of a step (the sequence number is the first free one)."""
    seq = len(batch_items(tables, job_id, step_id))
    while True:
        body = {**data, "seq": seq, "token": client_token(job_id, step_id, seq)}
        item = tables.create(BATCH, item_key(job_id, step_id, seq), body)
        if item is not None:
            return item
        seq += 1


def change(tables: Any, key: str, **changes: Any) -> dict[str, Any]:
    return update(tables, BATCH, key, lambda d: {**d, **changes, "updated": time.time()}).data


def stop_batches(tables: Any, job_id: str, client: Any) -> list[str]:
    """StopModelInvocationJob for every open batch of the job; returns the ARNs."""
    stopped = []
    for item in active_batches(tables, job_id):
        arn = item.data.get("arn")
        if arn:
            client.stop_job(arn)
            stopped.append(arn)
    return stopped


def stop_job_batches(ws: Any, job_id: str) -> list[str]:
    """:func:`stop_batches` with a client built from the workspace's settings (cancel:
    Bedrock must not go on working, and billing, when no process of ours follows)."""
    tables = ws.registry.tables
    if not active_batches(tables, job_id):
        return []
    from ..llm.bedrock_batch import BatchClient

    return stop_batches(tables, job_id, BatchClient(ws.settings))
