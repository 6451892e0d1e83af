"""The workspace layout: the single owner of every storage key.

Producers and consumers (job runner, exporter, UI, a worker on ECS) import these
functions instead of formatting paths themselves, so they can never disagree on a
key. The layout is the same in a local folder and under ``s3://bucket/prefix``::

    config.yaml                          optional workspace settings
    workspace.json                       marker with the layout version
    registry.sqlite                      job registry (local workspaces)
    templates/<name>/v000001.yaml        immutable template versions
    seeds/<sha256>.<ext>                 seed sets by content hash
    jobs/<job_id>/template.yaml          resolved template snapshot the job pins
    jobs/<job_id>/records/<shard>.jsonl  finished records, small immutable shards
    jobs/<job_id>/manifest.json          shard list and counts
    jobs/<job_id>/exports/...            exported datasets and dataset cards
    jobs/<job_id>/report.ipynb           executed notebook of a papermill run
    jobs/<job_id>/quality/...            judge links, review labels, saved quality report
    jobs/<job_id>/batch/<step>/...       Bedrock batch answers kept for a resume
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "LAYOUT_VERSION",
    "REGISTRY_FILE",
    "WORKSPACE_MARKER",
    "batch_answers_prefix",
    "export_prefix",
    "job_prefix",
    "manifest_key",
    "quality_key",
    "record_shard_key",
    "records_prefix",
    "report_key",
    "seed_key",
    "spec_key",
    "template_prefix",
    "template_snapshot_key",
    "template_version_key",
    "validate_name",
]

LAYOUT_VERSION = 1
WORKSPACE_MARKER = "workspace.json"
REGISTRY_FILE = "registry.sqlite"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def validate_name(kind: str, name: str) -> str:
    """Names become key segments: lower-case letters, digits, ``_ . -``; 1-64 chars."""
    from .errors import WorkspaceError

    if not _NAME.match(name) or ".." in name:
        raise WorkspaceError(
            f"invalid {kind} name {name!r}",
            fix="Use 1-64 lower-case letters, digits, '_', '.' or '-', starting with a "
            "letter or digit.",
        )
    return name


def template_prefix(name: str) -> str:
    return f"templates/{validate_name('template', name)}/"


def template_version_key(name: str, version: int) -> str:
    return f"{template_prefix(name)}v{version:06d}.yaml"


def seed_key(sha256: str, ext: str) -> str:
    return f"seeds/{sha256}.{ext.lstrip('.')}"


def job_prefix(job_id: str) -> str:
    return f"jobs/{validate_name('job', job_id)}/"


def spec_key(job_id: str) -> str:
    """Legacy: jobs made before the spec lived only in the registry item have this
    copy of it. Nothing writes or reads it now; deleting the job removes it."""
    return job_prefix(job_id) + "spec.json"


def template_snapshot_key(job_id: str) -> str:
    return job_prefix(job_id) + "template.yaml"


def records_prefix(job_id: str) -> str:
    return job_prefix(job_id) + "records/"


def record_shard_key(job_id: str, shard: str) -> str:
    """``shard`` is chosen by the writer (e.g. ``000000120-w1``); keys sort by it."""
    return records_prefix(job_id) + f"{shard}.jsonl"


def manifest_key(job_id: str) -> str:
    return job_prefix(job_id) + "manifest.json"


def export_prefix(job_id: str) -> str:
    return job_prefix(job_id) + "exports/"


def report_key(job_id: str) -> str:
    return job_prefix(job_id) + "report.ipynb"


def quality_key(job_id: str, name: str) -> str:
    """Quality data of a job: ``judges/<judge_job>.json``, ``labels/...``, ``report.json``."""
    return job_prefix(job_id) + f"quality/{name}"


def batch_answers_prefix(job_id: str, step_id: str) -> str:
    """Answers of one step run in batch mode (batch joins and their on-demand re-runs)."""
    if not _NAME.match(step_id) or ".." in step_id:  # e.g. upper case: a stable hash
        step_id = "s-" + hashlib.sha256(step_id.encode()).hexdigest()[:16]
    return job_prefix(job_id) + f"batch/{step_id}/"
