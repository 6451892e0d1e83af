"""What the emulated Bedrock refuses, per model, with Bedrock's error shapes and words.

The rules come from the same capability table the client uses
(:mod:`plotpalette.llm.capabilities`), so a client that sends a model something it does
not accept fails in tests the way it would fail on AWS: ``outputConfig`` to a model
without native structured output, ``temperature`` with ``topP`` to a model that
refuses both, a forced ``toolChoice`` to a model without tool use, ``maxTokens`` over
the model's limit, a Marketplace model called without the Marketplace permissions, a
model past its end of life.
"""

from __future__ import annotations

import json
from typing import Any

from ..llm.capabilities import ModelCapabilities
from .protocol import RequestError

__all__ = [
    "END_OF_LIFE_MESSAGE",
    "ERRORS",
    "FAILURE_KINDS",
    "MARKETPLACE_MESSAGE",
    "NOT_READY_MESSAGE",
    "STOP_KINDS",
    "STREAM_ERRORS",
    "TOKENS_PER_DAY_MESSAGE",
    "check_capabilities",
    "forced_tool",
    "prompt_schema",
]

MARKETPLACE_MESSAGE = (
    "Model access is denied due to IAM user or service role is not authorized to perform "
    "the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, "
    "aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon "
    "Bedrock documentation for further details."
)
END_OF_LIFE_MESSAGE = (
    "This model version has reached the end of its life. Please refer to the AWS "
    "documentation for more details."
)
TOKENS_PER_DAY_MESSAGE = "Too many tokens per day, please wait before trying your request again."
NOT_READY_MESSAGE = "Model is not ready for inference. Wait and try your request again."
_PROMPT_MARKER = "Reply with one JSON value that validates against this JSON Schema"

# Replies with a stop reason other than end_turn (the text is cut short or empty).
STOP_KINDS = (
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
)
FAILURE_KINDS = (
    "500",
    "503",
    "408",
    "429",
    "reset",
    "malformed",
    "not_ready",  # ModelNotReadyException (the model is being loaded)
    "model_error",  # ModelErrorException (424)
    "quota",  # ServiceQuotaExceededException
    "hang",  # accept the call and never answer (until hang_s, then drop it)
    # the model runs the call (it is billed) but the reply is held for hang_s, past any
    # client read timeout, then dropped: the client cannot know what it cost
    "read_timeout",
    "stream_error",  # converse-stream: modelStreamErrorException after some text
    "stream_throttle",  # converse-stream: throttlingException after some text
    "bad_json",  # a prompt-and-validate reply that ignores the JSON instruction
    *STOP_KINDS,
)
ERRORS = {
    "500": (500, "InternalServerException", "The server encountered an error."),
    "503": (503, "ServiceUnavailableException", "The service is unavailable."),
    "408": (408, "ModelTimeoutException", "The request took too long to process."),
    "429": (
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying your request again.",
    ),
    "not_ready": (429, "ModelNotReadyException", NOT_READY_MESSAGE),
    "model_error": (424, "ModelErrorException", "The model could not process the request."),
    "quota": (
        400,
        "ServiceQuotaExceededException",
        "Your request exceeds the service quota for your account.",
    ),
}
STREAM_ERRORS = {
    "stream_error": ("modelStreamErrorException", "The model stream failed."),
    "stream_throttle": ("throttlingException", "Too many tokens, please wait."),
}


def check_capabilities(model: str, caps: ModelCapabilities, payload: dict[str, Any]) -> None:
    """Raise the ValidationException Bedrock answers for a field ``model`` refuses
    (``maxTokens`` is checked with the reply, for every operation)."""
    config = payload.get("inferenceConfig") or {}
    if payload.get("outputConfig") and caps.structured_output != "native":
        raise RequestError(
            400,
            "ValidationException",
            f"This model doesn't support the outputConfig.textFormat field ({model}). "
            "Remove it and try again.",
        )
    both = config.get("temperature") is not None and config.get("topP") is not None
    if both and not caps.temperature_with_top_p:
        raise RequestError(
            400,
            "ValidationException",
            "The model returned the following errors: `temperature` and `top_p` "
            "cannot both be specified for this model. Please use only one.",
        )
    tools = payload.get("toolConfig")
    if tools and not caps.tool_use:
        raise RequestError(
            400, "ValidationException", f"This model doesn't support tool use ({model})."
        )
    if tools and caps.structured_output == "prompt" and "tool" in (tools.get("toolChoice") or {}):
        raise RequestError(
            400,
            "ValidationException",
            f"This model doesn't support the toolConfig.toolChoice.tool field ({model}).",
        )


def forced_tool(payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, input schema) of the tool a request forces, if any."""
    tools = payload.get("toolConfig") or {}
    choice = (tools.get("toolChoice") or {}).get("tool")
    if not choice:
        return None
    for tool in tools.get("tools") or []:
        spec = tool.get("toolSpec") or {}
        if spec.get("name") == choice.get("name"):
            schema = (spec.get("inputSchema") or {}).get("json")
            if isinstance(schema, dict):
                return str(spec["name"]), schema
    raise RequestError(
        400, "ValidationException", "toolChoice names a tool that toolConfig.tools lacks."
    )


def prompt_schema(system: str) -> dict[str, Any] | None:
    """The schema a prompt-and-validate request put into its system prompt: the
    emulated model follows that instruction (as a capable model would)."""
    at = system.find(_PROMPT_MARKER)
    if at < 0:
        return None
    start = system.find("```json", at)
    end = system.find("```", start + 7)
    if start < 0 or end < 0:
        return None
    try:
        schema = json.loads(system[start + 7 : end])
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None
