"""The backend protocol: one request shape in, one response shape out.

Every backend (Bedrock Converse, the embedded local model, the in-process fakes used
by tests and benchmarks) takes a :class:`ModelRequest` and returns a
:class:`ModelResponse`. Requests carry *resolved* model ids: tiers and template
aliases are resolved before a request is built (``Backend.resolve_model``). Backends
are called concurrently from one asyncio loop, so ``generate`` is a coroutine and must
not block the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "STOP_REASONS",
    "UNUSABLE_STOP_REASONS",
    "Backend",
    "LimiterStats",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Usage",
]

# Bedrock's stop reasons; local backends map theirs onto these.
STOP_REASONS = (
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
)
# Stop reasons that mean the reply is not a usable answer (checks flag them by name).
UNUSABLE_STOP_REASONS = (
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
)


@dataclass(frozen=True)
class Message:
    role: str  # "user" | "assistant"
    text: str


@dataclass(frozen=True)
class ModelRequest:
    """One model call. ``model`` is a concrete model or inference-profile id."""

    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    max_tokens: int = 512
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None  # structured output when set
    seed: int | None = None  # honoured where the backend supports it (local model)

    @classmethod
    def from_prompt(cls, model: str, prompt: str, **kwargs: Any) -> ModelRequest:
        return cls(model=model, messages=(Message("user", prompt),), **kwargs)

    @property
    def prompt_text(self) -> str:
        """All text the model reads (system + messages), for token bounds."""
        parts = [self.system or ""] + [m.text for m in self.messages]
        return "\n".join(parts)


@dataclass(frozen=True)
class Usage:
    """Token usage as reported by the model (never estimated from characters)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True)
class ModelResponse:
    text: str
    stop_reason: str
    usage: Usage
    latency_ms: float
    model: str  # the model that actually answered
    parsed_json: Any = None  # set when the request asked for structured output
    attempts: int = 1  # calls made, retries included
    structured_output: str | None = None  # native | tool | prompt, for JSON requests
    schema_error: str | None = None  # why the reply failed its schema (tool/prompt modes)


@dataclass
class LimiterStats:
    """Live figures of one (model, Region) rate limiter, for the job console."""

    model: str
    rpm_limit: float | None = None
    tpm_limit: float | None = None
    rpm: float = 0.0  # requests in the last 60 s
    tpm: float = 0.0  # tokens in the last 60 s
    concurrency: int = 0  # current adaptive concurrency cap
    in_flight: int = 0
    throttles: int = 0
    retries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """What the job engine needs from a model provider."""

    name: str  # "local", "bedrock", ...

    def resolve_model(self, model: str) -> str:
        """Turn a tier (``cheap``/``balanced``/``premium``) or id into a concrete id."""
        ...

    def max_input_tokens(self, request: ModelRequest) -> int:
        """An upper bound on the input tokens ``request`` can be billed for.

        The budget governor reserves against this *before* the call; real usage from
        the response settles it afterwards. It must never be below the true count.
        """
        ...

    def count_tokens(self, text: str, model: str) -> int:
        """Tokens in ``text`` for previews and estimates (exact where a tokenizer is
        available, else a documented estimate). Never used to *bill*: cost always comes
        from the usage a response reports."""
        ...

    async def generate(self, request: ModelRequest) -> ModelResponse:
        """Make the call, retrying transient failures; raise a ModelError otherwise."""
        ...

    def stats(self) -> list[LimiterStats]:
        """Live limiter figures, one entry per model used so far."""
        ...
