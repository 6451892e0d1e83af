"""Model backends, prices and rate limits.

``make_backend(settings)`` gives the backend the settings ask for: the embedded local
model (default, no AWS account) or Amazon Bedrock through the Converse API.
Backends are imported lazily so that importing :mod:`plotpalette.llm` loads neither
boto3 nor llama.cpp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import ConfigError
from .base import Backend, LimiterStats, Message, ModelRequest, ModelResponse, Usage
from .local_files import LOCAL_MODEL_ID
from .pricing import Price, PriceTable
from .tiers import TIERS, resolve_tier

if TYPE_CHECKING:
    from .bedrock import BedrockBackend
    from .local import LocalBackend

__all__ = [
    "LOCAL_MODEL_ID",
    "TIERS",
    "Backend",
    "BedrockBackend",
    "LimiterStats",
    "LocalBackend",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Price",
    "PriceTable",
    "Usage",
    "make_backend",
    "resolve_tier",
]


def make_backend(settings: Settings, *, client: Any = None) -> Backend:
    """The backend ``settings.backend`` names.

    ``"local"`` gives :class:`LocalBackend` (the embedded SmolLM2 model); ``"bedrock"``
    gives :class:`BedrockBackend`, using ``client`` if given (any boto3
    ``bedrock-runtime`` client, e.g. one pointed at the emulator) and otherwise one
    built from the AWS chain, ``settings.region``/``aws_profile`` and
    ``settings.bedrock_endpoint_url``.
    """
    if settings.backend == "local":
        from .local import LocalBackend

        return LocalBackend(settings)
    if settings.backend == "bedrock":
        from .bedrock import BedrockBackend

        return BedrockBackend(settings, client=client)
    raise ConfigError(f"unknown backend {settings.backend!r}", fix="Use 'local' or 'bedrock'.")


def __getattr__(name: str) -> Any:  # lazy backend classes (PEP 562)
    if name == "BedrockBackend":
        from .bedrock import BedrockBackend

        return BedrockBackend
    if name == "LocalBackend":
        from .local import LocalBackend

        return LocalBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
