"""Copy a whole workspace between stores and registries (local folder ↔ ``s3://``).

Objects (templates with every version, seed sets, job specs, record shards,
manifests, exports, reports) are copied with put-if-absent; registry items (jobs,
work units, budgets, quota shares, workers) and audit logs (the cost ledger, events)
with create/append. Nothing at the destination is ever overwritten: an object or item
that is already there with the same content is skipped, one with other content is a
conflict that stops the copy before anything is written. So a copy that was
interrupted can simply be run again.

Afterwards every copied object is read back and its SHA-256 compared, and every
registry item and log entry is read back and compared, so the report's counts are
verified, not assumed. Each object passes through memory once (record shards are
small; a very large export is better re-exported at the destination).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import layout
from .errors import WorkspaceError
from .store import Store
from .tables import Tables, iter_items, iter_log

__all__ = ["REGISTRY_KINDS", "REGISTRY_LOGS", "CopyReport", "copy_workspace"]

#: Item kinds and logs the job registry writes (plotpalette.jobs.registry and
#: plotpalette.jobs.coordination); tests/test_workspace_copy.py fails if the registry
#: starts writing a kind that is missing here.
REGISTRY_KINDS = ("job", "unit", "budget", "quota", "worker", "preflight")
REGISTRY_LOGS = ("ledger", "events")
_SKIPPED = (layout.WORKSPACE_MARKER, layout.REGISTRY_FILE)  # each workspace has its own


@dataclass
class CopyReport:
    """What :func:`copy_workspace` copied and verified."""

    source: str
    dest: str
    objects: int = 0  # copied
    objects_present: int = 0  # already there with the same bytes
    bytes: int = 0
    items: dict[str, int] = field(default_factory=dict)  # kind -> items copied or present
    log_entries: dict[str, int] = field(default_factory=dict)
    verified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _object_keys(store: Store) -> list[str]:
    return [k for k in store.list() if not k.startswith(_SKIPPED)]


def _running_jobs(tables: Tables) -> list[str]:
    return [i.key for i in iter_items(tables, "job") if i.data.get("state") == "RUNNING"]


def copy_workspace(
    src_store: Store,
    src_tables: Tables,
    dst_store: Store,
    dst_tables: Tables,
    *,
    allow_running: bool = False,
    progress: Callable[[str], None] | None = None,
) -> CopyReport:
    """Copy every object, registry item and log entry; verify; return the counts.

    Refuses while a job is RUNNING in the source (its records and budget would change
    under the copy) unless ``allow_running``.
    """
    say = progress or (lambda _msg: None)
    report = CopyReport(source=src_store.url, dest=dst_store.url)
    running = _running_jobs(src_tables)
    if running and not allow_running:
        raise WorkspaceError(
            f"{len(running)} job(s) are RUNNING in {src_store.url}: {', '.join(running[:5])}",
            fix="Wait for them to finish or pause them (`plotpalette pause JOB_ID`), then "
            "copy again.",
        )
    keys = _object_keys(src_store)
    _check_conflicts(src_store, dst_store, keys, src_tables, dst_tables)
    hashes: dict[str, str] = {}
    for n, key in enumerate(keys, 1):
        data = src_store.read_bytes(key)
        hashes[key] = _digest(data)
        if dst_store.create(key, data):
            report.objects += 1
            report.bytes += len(data)
        else:
            report.objects_present += 1
        if n % 500 == 0:
            say(f"objects: {n}/{len(keys)}")
    for kind in REGISTRY_KINDS:
        report.items[kind] = _copy_items(iter_items(src_tables, kind), kind, dst_tables)
    for log in REGISTRY_LOGS:
        count = 0
        for entry in iter_log(src_tables, log):
            dst_tables.append(log, entry.key, entry.data)
            count += 1
        report.log_entries[log] = count
    say("verifying")
    _verify(report, hashes, dst_store, src_tables, dst_tables)
    report.verified = True
    return report


def _copy_items(items: Iterable[Any], kind: str, dst: Tables) -> int:
    count = 0
    for item in items:
        dst.create(kind, item.key, item.data)  # None: already there (checked as the same)
        count += 1
    return count


def _check_conflicts(
    src_store: Store, dst_store: Store, keys: list[str], src: Tables, dst: Tables
) -> None:
    """Stop before writing anything if the destination holds different content."""
    present = set(_object_keys(dst_store))
    clashes = [
        k
        for k in keys
        if k in present and _digest(src_store.read_bytes(k)) != _digest(dst_store.read_bytes(k))
    ]
    for kind in REGISTRY_KINDS:
        for item in iter_items(src, kind):
            there = dst.get(kind, item.key)
            if there is not None and not _same(there.data, item.data):
                clashes.append(f"registry {kind} {item.key}")
    if clashes:
        raise WorkspaceError(
            f"{dst_store.url} already holds different content for {len(clashes)} "
            f"object(s)/item(s), e.g. {', '.join(clashes[:3])}",
            fix="Copy into an empty prefix or folder (or delete the clashing jobs there).",
        )


def _verify(
    report: CopyReport, hashes: dict[str, str], dst_store: Store, src: Tables, dst: Tables
) -> None:
    bad = [k for k, digest in hashes.items() if _digest(dst_store.read_bytes(k)) != digest]
    for kind in REGISTRY_KINDS:
        for item in iter_items(src, kind):
            there = dst.get(kind, item.key)
            if there is None or not _same(there.data, item.data):
                bad.append(f"registry {kind} {item.key}")
    for log in REGISTRY_LOGS:
        copied = {e.key: e.data for e in iter_log(dst, log)}
        bad += [
            f"{log} {e.key}"
            for e in iter_log(src, log)
            if e.key not in copied or not _same(copied[e.key], e.data)
        ]
    if bad:
        raise WorkspaceError(
            f"verification failed for {len(bad)} copied object(s)/item(s), e.g. "
            f"{', '.join(bad[:3])}",
            fix="Something changed the destination during the copy; run the copy again.",
        )
