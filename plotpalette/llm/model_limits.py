"""Context windows and output limits of the Bedrock models we know, for pre-checks.

Used to refuse a request *before* paying for it when its ``max_tokens`` is out of the
model's range or its prompt cannot fit in the context. Models not listed are not
pre-checked (Bedrock's own ValidationException is mapped instead). Inference-profile
ids (``us.``/``eu.``/``apac.``/``global.`` prefixes) share their base model's limits.
Figures from the Bedrock model cards (as of 2026-11).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MODEL_LIMITS", "PROFILE_PREFIXES", "ModelLimits", "base_model_id", "model_limits"]

PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")


@dataclass(frozen=True)
class ModelLimits:
    context_tokens: int  # input + output must fit
    max_output_tokens: int  # the largest maxTokens the model accepts
    requires_profile: bool = False  # on-demand needs an inference profile id


MODEL_LIMITS: dict[str, ModelLimits] = {
    "amazon.nova-micro-v1:0": ModelLimits(128_000, 10_000),
    "amazon.nova-lite-v1:0": ModelLimits(300_000, 10_000),
    "amazon.nova-pro-v1:0": ModelLimits(300_000, 10_000),
    "meta.llama3-1-8b-instruct-v1:0": ModelLimits(128_000, 2_048),
    "meta.llama3-1-70b-instruct-v1:0": ModelLimits(128_000, 2_048),
    "mistral.mistral-7b-instruct-v0:2": ModelLimits(32_000, 8_192),
    "anthropic.claude-3-haiku-20240307-v1:0": ModelLimits(200_000, 4_096),
    "anthropic.claude-3-5-haiku-20241022-v1:0": ModelLimits(200_000, 8_192),
    "anthropic.claude-haiku-4-5-20251001-v1:0": ModelLimits(200_000, 64_000, True),
}


def base_model_id(model_id: str) -> str:
    """The foundation-model id behind an inference-profile id (itself otherwise)."""
    for prefix in PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def model_limits(model_id: str) -> ModelLimits | None:
    """Limits of ``model_id`` or of the model behind a profile id; ``None`` if unknown."""
    return MODEL_LIMITS.get(model_id) or MODEL_LIMITS.get(base_model_id(model_id))
