"""Converse requests and replies: pre-checks, one builder for every family, one parser
(for Converse replies and for collected ConverseStream events).

A step that asks for JSON is sent the way its model accepts (see
:mod:`.capabilities`): ``native`` adds ``outputConfig.textFormat``; ``tool`` forces a
tool whose input schema is the step's schema (``toolConfig`` + ``toolChoice``), and the
tool input is the answer; ``prompt`` puts the schema into the system prompt and
validates the reply. Sending ``outputConfig`` to a model without native structured
output is refused by Bedrock, so it is never done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

from ..errors import ModelRequestError, TransientModelError
from .attempts import mark_unknown
from .base import ModelRequest, ModelResponse, Usage
from .capabilities import capabilities, structured_output_mode
from .schema import check_json_schema, schema_violation
from .tokens import tokens_lower_bound

__all__ = [
    "PROMPT_SCHEMA_MARKER",
    "StreamEvent",
    "build_converse_request",
    "collect_stream",
    "parse_converse_response",
    "schema_name",
    "validate_request",
]

# The emulator recognises this phrase to play a model that follows the instruction.
PROMPT_SCHEMA_MARKER = "Reply with one JSON value that validates against this JSON Schema"
_WRAP_KEY = "value"  # tool inputs must be objects: other schemas are wrapped in one
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclasses.dataclass(frozen=True)
class StreamEvent:
    """A piece of a streamed reply; the last event carries the whole ``response``."""

    text: str
    response: ModelResponse | None = None


def validate_request(request: ModelRequest, model: str) -> None:
    """Refuse requests Bedrock would reject, naming the parameter (no call is made)."""
    if not request.messages or request.messages[0].role != "user":
        raise ModelRequestError(
            "a request must start with a user message", fix="Give the step a prompt."
        )
    for i, message in enumerate(request.messages):
        if message.role not in ("user", "assistant"):
            raise ModelRequestError(
                f"message {i} has role {message.role!r}", fix="Use 'user' or 'assistant'."
            )
        if not message.text.strip():
            raise ModelRequestError(
                f"message {i} ({message.role}) is blank",
                fix="Check that the step's prompt renders to some text.",
            )
    caps = capabilities(model)
    top = caps.max_output_tokens if caps else None
    if (
        not isinstance(request.max_tokens, int)
        or request.max_tokens < 1
        or (top is not None and request.max_tokens > top)
    ):
        allowed = f"1..{top}" if top else "at least 1"
        raise ModelRequestError(
            f"max_tokens={request.max_tokens!r} is out of range for {model} (allowed {allowed})",
            fix=f"Set the step's max_tokens to {allowed}.",
        )
    for name in ("temperature", "top_p"):
        value = getattr(request, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ModelRequestError(
                f"{name}={value} is out of range (0..1)",
                fix=f"Set the step's {name} between 0 and 1.",
            )
    if (
        caps is not None
        and not caps.temperature_with_top_p
        and request.temperature is not None
        and request.top_p is not None
    ):
        raise ModelRequestError(
            f"{model} accepts temperature or top_p, not both in one request",
            fix="Remove top_p (or temperature) from the step.",
        )
    if request.json_schema is not None:
        check_json_schema(request.json_schema)
    if caps is not None:
        least = tokens_lower_bound(request.prompt_text)
        if least + request.max_tokens > caps.context_tokens:
            raise ModelRequestError(
                f"prompt too long for {model}: at least {least:,} tokens + max_tokens "
                f"{request.max_tokens:,} exceed its context of {caps.context_tokens:,}",
                fix="Shorten the prompt (or the seed fields it includes), lower max_tokens, "
                "or use a model with a larger context.",
            )


def schema_name(schema: dict[str, Any]) -> str:
    """A name Bedrock accepts for a schema or tool, from the schema's ``title``.

    Bedrock names are letters, digits, ``_`` and ``-``, at most 64 characters; a title
    such as "Poem ideas" would be refused, so it is normalised.
    """
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(schema.get("title") or "")).strip("_")
    return name[:64] or "output"


def _tool_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    if schema.get("type") == "object":
        return schema, False
    return {"type": "object", "properties": {_WRAP_KEY: schema}, "required": [_WRAP_KEY]}, True


def prompt_schema_instruction(schema: dict[str, Any]) -> str:
    """The system-prompt text of ``prompt`` mode."""
    return (
        f"{PROMPT_SCHEMA_MARKER}, and nothing else (no prose, no code fence):\n"
        f"```json\n{json.dumps(schema, ensure_ascii=False)}\n```"
    )


def build_converse_request(
    request: ModelRequest, model: str, mode: str | None = None
) -> dict[str, Any]:
    """The Converse keyword arguments for ``request``; ``mode`` overrides the table's
    structured-output mode for ``model``."""
    system = request.system or ""
    if request.json_schema is not None:
        mode = mode or structured_output_mode(model)
        if mode == "prompt":
            system = f"{system}\n\n{prompt_schema_instruction(request.json_schema)}".strip()
    kwargs: dict[str, Any] = {
        "modelId": model,
        "messages": [{"role": m.role, "content": [{"text": m.text}]} for m in request.messages],
    }
    if system:
        kwargs["system"] = [{"text": system}]
    config: dict[str, Any] = {"maxTokens": request.max_tokens}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    kwargs["inferenceConfig"] = config
    if request.json_schema is None:
        return kwargs
    name = schema_name(request.json_schema)
    if mode == "native":
        kwargs["outputConfig"] = {
            "textFormat": {
                "type": "json_schema",
                "structure": {
                    "jsonSchema": {"schema": json.dumps(request.json_schema), "name": name}
                },
            }
        }
    elif mode == "tool":
        schema, _ = _tool_schema(request.json_schema)
        kwargs["toolConfig"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": name,
                        "description": "Record the answer; its input is the whole reply.",
                        "inputSchema": {"json": schema},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": name}},
        }
    return kwargs


def _parse_json_text(text: str) -> Any:
    """JSON from a reply: whole text, or inside one code fence; ``ValueError`` if none."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    return json.loads(fenced.group(1) if fenced else stripped)


def parse_converse_response(
    raw: dict[str, Any],
    request: ModelRequest,
    model: str,
    latency_ms: float,
    mode: str | None = None,
) -> ModelResponse:
    """A :class:`ModelResponse` from Converse output (or from collected stream events)."""
    try:
        content = raw["output"]["message"]["content"]
        stop_reason = str(raw["stopReason"])
        usage = raw["usage"]
        text = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        tool_inputs = [
            block["toolUse"].get("input")
            for block in content
            if isinstance(block, dict) and isinstance(block.get("toolUse"), dict)
        ]
        tokens = Usage(
            int(usage.get("inputTokens", 0)),
            int(usage.get("outputTokens", 0)),
            int(usage.get("cacheReadInputTokens", 0) or 0),
            int(usage.get("cacheWriteInputTokens", 0) or 0),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise mark_unknown(  # the call ran (and was billed); its usage is lost
            TransientModelError(f"{model} returned a malformed response (keys: {sorted(raw)[:6]})")
        ) from None
    schema = request.json_schema
    parsed, problem = None, None
    if schema is not None:
        mode = mode or structured_output_mode(model)
        if mode == "tool" and tool_inputs:
            parsed = tool_inputs[0]
            if _tool_schema(schema)[1] and isinstance(parsed, dict):
                parsed = parsed.get(_WRAP_KEY)
            text = json.dumps(parsed, ensure_ascii=False)
            if stop_reason == "tool_use":  # forced tool use: the answer is complete
                stop_reason = "end_turn"
        else:
            try:
                parsed = _parse_json_text(text)
            except (ValueError, RecursionError):  # malformed, or nested too deep
                problem = "not JSON"  # e.g. cut off at max_tokens: see stop_reason
        if problem is None and mode != "native":
            # native output is enforced by Bedrock; the other modes are checked here
            problem = schema_violation(parsed, schema)
        if problem is not None:
            parsed = None
    return ModelResponse(
        text=text,
        stop_reason=stop_reason,
        usage=tokens,
        latency_ms=latency_ms,
        model=model,
        parsed_json=parsed,
        structured_output=mode if schema is not None else None,
        schema_error=problem,
    )


def collect_stream(events: Any) -> Iterator[StreamEvent]:
    """Yield text deltas; return the Converse-shaped reply (text or tool input)."""
    parts: list[str] = []
    tool_json: list[str] = []
    stop_reason, usage = "end_turn", {}
    for event in events:
        if "contentBlockDelta" in event:
            delta = event["contentBlockDelta"].get("delta", {})
            text = delta.get("text", "")
            if text:
                parts.append(text)
                yield StreamEvent(text)
            if "toolUse" in delta:
                tool_json.append(delta["toolUse"].get("input", ""))
        elif "messageStop" in event:
            stop_reason = event["messageStop"].get("stopReason", stop_reason)
        elif "metadata" in event:
            usage = event["metadata"].get("usage", {})
    content: list[dict[str, Any]] = [{"text": "".join(parts)}]
    if tool_json:
        # an unparseable tool input is left out: the reply then fails its schema check
        with contextlib.suppress(ValueError):
            content.append({"toolUse": {"input": json.loads("".join(tool_json))}})
    return {"output": {"message": {"content": content}}, "stopReason": stop_reason, "usage": usage}
