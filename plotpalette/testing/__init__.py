"""Test doubles for the model layer (documented as such; never used in production paths).

* :class:`BedrockEmulator` — a local HTTP server speaking the Bedrock runtime REST
  protocol, so a real boto3 client can be tested offline (``endpoint_url=``).
* :class:`InstantBackend` — an in-process, zero-latency backend for engine tests.
* :func:`qa_template`, :func:`topic_seeds`, :func:`workspace_with_template`,
  :func:`worker_command`, :func:`wait_until_running`, :func:`until` — a small job to run
  in tests, benchmarks and docs (:mod:`plotpalette.testing.jobs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import jobs as _jobs
from .fakes import InstantBackend
from .jobs import __all__ as _JOB_HELPERS

if TYPE_CHECKING:
    from .emulator import BedrockEmulator

__all__ = ["BedrockEmulator", "InstantBackend", *_JOB_HELPERS]


def __getattr__(name: str) -> Any:
    if name in _JOB_HELPERS:  # the job fixtures, one list of names in .jobs.__all__
        return getattr(_jobs, name)
    if name == "BedrockEmulator":  # the emulator module is larger; load it on use
        from .emulator import BedrockEmulator

        return BedrockEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
