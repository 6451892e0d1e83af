"""Generation jobs: budget-safe, resumable, concurrent.

The verbs (:func:`create_job`, :func:`run_job`, :func:`resume_job`,
:func:`cancel_job`, :func:`pause_job`, :func:`unpause_job`, :func:`delete_job`,
:func:`job_status`, :func:`list_jobs`, :func:`estimate_job`),
:class:`JobHandle` for a job in a background thread, parameter sweeps (:func:`run_sweep`), and
:func:`iter_records` to read what a job produced.
"""

from __future__ import annotations

from .api import JobResult, cancel_job, create_job, job_status, list_jobs, resume_job, run_job
from .estimate import Estimate, estimate_job
from .events import JobControls, JobEvent
from .handle import JobHandle
from .manage import DeletedJob, delete_job, pause_job, unpause_job
from .registry import JobInfo, LedgerRow, Registry, SQLiteRegistry, open_registry
from .remote import Submitted, submit_job
from .runner import RunOptions
from .shards import iter_records, read_manifest, scan_shards
from .spec import JobSpec, fingerprint
from .states import JobState
from .sweep import SweepResult, compare_sweep, run_sweep, sweep_specs

__all__ = [
    "DeletedJob",
    "Estimate",
    "JobControls",
    "JobEvent",
    "JobHandle",
    "JobInfo",
    "JobResult",
    "JobSpec",
    "JobState",
    "LedgerRow",
    "Registry",
    "RunOptions",
    "SQLiteRegistry",
    "Submitted",
    "SweepResult",
    "cancel_job",
    "compare_sweep",
    "create_job",
    "delete_job",
    "estimate_job",
    "fingerprint",
    "iter_records",
    "job_status",
    "list_jobs",
    "open_registry",
    "pause_job",
    "read_manifest",
    "resume_job",
    "run_job",
    "run_sweep",
    "scan_shards",
    "submit_job",
    "sweep_specs",
    "unpause_job",
]
