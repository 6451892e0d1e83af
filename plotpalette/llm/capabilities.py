"""What each Bedrock model accepts: the capability table (``capabilities.json``).

One row per foundation-model id, each naming its ``source`` and ``as_of`` date:
context and output limits, how a JSON schema is enforced (``native`` structured output,
forced ``tool`` use, or ``prompt``-and-validate), whether ``temperature`` and ``top_p``
may be sent together, the output-token burndown against the token quotas, batch
support, an end-of-life date and a slow-day generation speed for per-call deadlines.
Inference-profile ids (``us.``/``eu.``/``apac.``/``global.``/...) share their base row.

The request builder, the pre-checks, the rate limiter, the pre-flight check, the docs
and the test emulator all read this one table, so they cannot disagree.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = [
    "PROFILE_PREFIXES",
    "STRUCTURED_MODES",
    "ModelCapabilities",
    "base_model_id",
    "call_deadline_s",
    "capabilities",
    "capability_table",
    "json_output_mode",
    "quota_usage",
    "structured_output_mode",
]

PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
STRUCTURED_MODES = ("native", "tool", "prompt")
# Deadline allowance on top of generation time: connection and queueing in the
# service; reading the prompt is added at a slow-day rate.
DEADLINE_BASE_S = 30.0
PROMPT_TOKENS_PER_S = 10_000.0


@dataclass(frozen=True)
class ModelCapabilities:
    """One model's row; the first three fields keep the old ``ModelLimits`` order."""

    context_tokens: int  # input + output must fit
    max_output_tokens: int  # the largest maxTokens the model accepts
    requires_profile: bool = False  # on-demand calls need an inference-profile id
    structured_output: str = "native"  # native | tool | prompt
    tool_use: bool = True
    temperature_with_top_p: bool = True  # False: the model refuses both in one request
    tpm_burndown: int = 1  # output tokens count this many times against token quotas
    batch: bool = False  # offered by Bedrock batch inference
    end_of_life: str | None = None  # ISO date Bedrock stopped serving it
    min_tokens_per_s: float = 20.0  # slow-day output speed (per-call deadlines)
    model: str = ""
    family: str = ""
    source: str = ""
    as_of: str = ""

    def retired(self, today: _dt.date | None = None) -> bool:
        """True once the end-of-life date has passed."""
        if not self.end_of_life:
            return False
        return (today or _dt.date.today()) >= _dt.date.fromisoformat(self.end_of_life)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@functools.cache
def capability_table() -> dict[str, ModelCapabilities]:
    """Every row of the bundled table, by foundation-model id (read once)."""
    raw = json.loads(resources.files(__package__).joinpath("capabilities.json").read_text("utf-8"))
    table: dict[str, ModelCapabilities] = {}
    for row in raw["models"]:
        caps = ModelCapabilities(**row)
        if caps.structured_output not in STRUCTURED_MODES:
            raise ValueError(f"capabilities.json: {caps.model}: bad structured_output")
        table[caps.model] = caps
    return table


def base_model_id(model_id: str) -> str:
    """The foundation-model id behind an inference-profile id (itself otherwise)."""
    for prefix in PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def capabilities(model_id: str) -> ModelCapabilities | None:
    """The row of ``model_id`` or of the model behind a profile id; ``None`` if unknown."""
    table = capability_table()
    return table.get(model_id) or table.get(base_model_id(model_id))


def structured_output_mode(model_id: str) -> str:
    """How a JSON schema is enforced for ``model_id``: ``native``, ``tool`` or ``prompt``.

    Unknown models get ``prompt`` (schema in the prompt, reply validated): it works on
    every model, where sending ``outputConfig`` to a model without it is refused.
    """
    caps = capabilities(model_id)
    return caps.structured_output if caps else "prompt"


def json_output_mode(backend: str, model_id: str) -> str:
    """How a JSON step runs on ``backend``: Bedrock by the capability table; the local
    model constrains its output with a grammar (``native``)."""
    return structured_output_mode(model_id) if backend == "bedrock" else "native"


def quota_usage(model_id: str, input_tokens: int, output_tokens: int, cache_write: int = 0) -> int:
    """Tokens a call takes from the per-minute and per-day token quotas, as AWS counts
    them: input + cache writes + output × the model's burndown (cache reads are free)."""
    caps = capabilities(model_id)
    burn = caps.tpm_burndown if caps else 1
    return input_tokens + cache_write + output_tokens * burn


def call_deadline_s(model_id: str, max_tokens: int, input_tokens: int | None = None) -> float:
    """How long one call may take before it is given up: a fixed allowance, reading
    ``input_tokens`` (default: as much as the context leaves), and writing
    ``max_tokens`` at the model's slow-day speed. Unknown models are assumed slow
    (10 tokens/s, a 128k context)."""
    caps = capabilities(model_id)
    speed = caps.min_tokens_per_s if caps else 10.0
    if input_tokens is None:
        input_tokens = max(0, (caps.context_tokens if caps else 128_000) - max_tokens)
    reading = input_tokens / PROMPT_TOKENS_PER_S
    return DEADLINE_BASE_S + reading + max(1, max_tokens) / max(1.0, speed)
