"""Test doubles for the model layer (documented as such; never used in production paths).

* :class:`BedrockEmulator` — a local HTTP server speaking the Bedrock runtime REST
  protocol, so a real boto3 client can be tested offline (``endpoint_url=``).
* :class:`InstantBackend` — an in-process, zero-latency backend for engine tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .fakes import InstantBackend

if TYPE_CHECKING:
    from .emulator import BedrockEmulator

__all__ = ["BedrockEmulator", "InstantBackend"]


def __getattr__(name: str) -> Any:  # the emulator module is larger; load it on use
    if name == "BedrockEmulator":
        from .emulator import BedrockEmulator

        return BedrockEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
