"""The Bedrock runtime wire formats the emulator reads and writes (request parsing,
response bodies, Bedrock-style validation errors)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..llm.capabilities import base_model_id
from .synth import SynthOutput

__all__ = [
    "RequestError",
    "converse_body",
    "converse_content",
    "invoke_body",
    "parse_converse",
    "parse_invoke",
    "usage_body",
]


class RequestError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


def usage_body(reply: SynthOutput) -> dict[str, int]:
    return {
        "inputTokens": reply.input_tokens,
        "outputTokens": reply.output_tokens,
        "totalTokens": reply.input_tokens + reply.output_tokens,
    }


def converse_content(reply: SynthOutput, tool: str | None = None) -> list[dict[str, Any]]:
    """The message content: text, or the forced tool's input (the reply's JSON)."""
    if tool is None:
        return [{"text": reply.text}]
    return [
        {
            "toolUse": {
                "toolUseId": f"tooluse_{uuid.uuid4().hex[:16]}",
                "name": tool,
                "input": json.loads(reply.text),
            }
        }
    ]


def converse_body(reply: SynthOutput, latency_ms: int, tool: str | None = None) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": converse_content(reply, tool)}},
        "stopReason": reply.stop_reason,
        "usage": usage_body(reply),
        "metrics": {"latencyMs": latency_ms},
    }


def _texts(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def parse_converse(
    payload: dict[str, Any],
) -> tuple[str, list[str], int | None, list[str], dict[str, Any] | None]:
    messages = payload.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        raise RequestError(
            400, "ValidationException", "A conversation must start with a user message."
        )
    system = "".join(part.get("text", "") for part in payload.get("system") or [])
    config = payload.get("inferenceConfig") or {}
    for name in ("temperature", "topP"):
        value = config.get(name)
        if value is not None and not 0 <= value <= 1:
            raise RequestError(
                400,
                "ValidationException",
                f"inferenceConfig.{name} must be between 0 and 1, got {value}.",
            )
    schema = None
    fmt = (payload.get("outputConfig") or {}).get("textFormat")
    if fmt:
        raw = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
        schema = _check_schema(raw)
    return (
        system,
        [_texts(m.get("content")) for m in messages],
        config.get("maxTokens"),
        list(config.get("stopSequences") or []),
        schema,
    )


def _check_schema(raw: Any) -> dict[str, Any]:
    from ..llm.schema import jsonschema_module

    jsonschema = jsonschema_module()

    try:
        schema = json.loads(raw) if isinstance(raw, str) else None
        if not isinstance(schema, dict):
            raise ValueError("the schema must be a JSON object")
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except (ValueError, jsonschema.SchemaError) as exc:
        message = getattr(exc, "message", str(exc))
        raise RequestError(
            400,
            "ValidationException",
            f"outputConfig.textFormat.structure.jsonSchema.schema is not a "
            f"valid JSON schema: {message}",
        ) from None
    return schema


def parse_invoke(payload: dict[str, Any]) -> tuple[str, list[str], int | None, list[str], None]:
    """Model-native bodies: Anthropic/Nova ``messages``, Llama/Mistral ``prompt``,
    Titan ``inputText``."""
    if "messages" in payload:
        system = payload.get("system") or ""
        if isinstance(system, list):
            system = _texts(system)
        texts = [_texts(m.get("content")) for m in payload["messages"]]
        cfg = payload.get("inferenceConfig") or {}
        max_tokens = payload.get("max_tokens") or cfg.get("maxTokens") or cfg.get("max_new_tokens")
        stop = payload.get("stop_sequences") or cfg.get("stopSequences") or []
        return system, texts, max_tokens, list(stop), None
    prompt = payload.get("prompt") or payload.get("inputText")
    if not isinstance(prompt, str):
        raise RequestError(
            400,
            "ValidationException",
            "Malformed input request: expected messages, prompt or inputText.",
        )
    cfg = payload.get("textGenerationConfig") or {}
    max_tokens = payload.get("max_gen_len") or payload.get("max_tokens") or cfg.get("maxTokenCount")
    return "", [prompt], max_tokens, list(payload.get("stop") or []), None


def invoke_body(model: str, reply: SynthOutput) -> dict[str, Any]:
    base = base_model_id(model)
    if base.startswith("anthropic."):
        stop = {"end_turn": "end_turn", "max_tokens": "max_tokens"}.get(
            reply.stop_reason, "stop_sequence"
        )
        return {
            "id": f"msg_{uuid.uuid4().hex[:12]}",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": stop,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }
    if base.startswith("amazon.nova"):
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": reply.text}]}},
            "stopReason": reply.stop_reason,
            "usage": usage_body(reply),
        }
    stop = "length" if reply.stop_reason == "max_tokens" else "stop"
    return {
        "generation": reply.text,
        "prompt_token_count": reply.input_tokens,
        "generation_token_count": reply.output_tokens,
        "stop_reason": stop,
    }
