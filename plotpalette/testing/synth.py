"""Deterministic fake model output: prose derived from the prompt, JSON from a schema.

Shared by the Bedrock emulator and :class:`~plotpalette.testing.fakes.InstantBackend`
so both answer the same request with the same text and the same usage figures
(counted with :func:`plotpalette.llm.tokens.approx_tokens`). This is a test double:
the text is word salad from a fixed vocabulary, seeded by a hash of the request.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from ..llm.tokens import approx_tokens, truncate_to_tokens

__all__ = ["SynthOutput", "synth_json", "synth_reply", "synth_text"]

# Short words only: each is exactly one approximate token.
_WORDS = [
    "amber",
    "autumn",
    "bird",
    "bright",
    "calm",
    "cedar",
    "cloud",
    "coral",
    "dawn",
    "deep",
    "drift",
    "dune",
    "ember",
    "field",
    "fern",
    "frost",
    "glade",
    "gold",
    "grass",
    "green",
    "harbor",
    "hazel",
    "hill",
    "honey",
    "ink",
    "iris",
    "ivory",
    "jade",
    "lake",
    "leaf",
    "light",
    "lilac",
    "linen",
    "maple",
    "marsh",
    "meadow",
    "mist",
    "moon",
    "moss",
    "night",
    "ocean",
    "olive",
    "pearl",
    "pine",
    "plum",
    "quiet",
    "rain",
    "reed",
    "river",
    "robin",
    "rose",
    "rust",
    "sage",
    "salt",
    "sand",
    "shade",
    "shore",
    "silver",
    "sky",
    "slate",
    "snow",
    "song",
    "spark",
    "spruce",
    "star",
    "stone",
    "storm",
    "sun",
    "swift",
    "thorn",
    "tide",
    "timber",
    "valley",
    "velvet",
    "violet",
    "wave",
    "wheat",
    "willow",
    "wind",
    "winter",
    "wren",
    "yarrow",
]


def _rng(*parts: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def synth_text(seed_text: str, n_tokens: int | None = None) -> str:
    """Sentences of vocabulary words; about ``n_tokens`` approximate tokens long.

    Without ``n_tokens`` the length (20–120 tokens) is drawn from the seed too.
    """
    rng = _rng("text", seed_text)
    target = n_tokens if n_tokens is not None else rng.randint(20, 120)
    words: list[str] = []
    used = 0
    while used < target:
        sentence_len = min(rng.randint(4, 12), max(1, target - used - 1))
        sentence = [rng.choice(_WORDS) for _ in range(sentence_len)]
        sentence[0] = sentence[0].capitalize()
        words.append(" ".join(sentence) + ".")
        used += sentence_len + 1
    return " ".join(words)


def synth_json(schema: dict[str, Any], seed_text: str) -> Any:
    """A JSON value that satisfies ``schema`` (the common JSON Schema keywords)."""
    return _value(schema, _rng("json", seed_text), schema, depth=0)


def _resolve_ref(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _value(schema: Any, rng: random.Random, root: dict[str, Any], depth: int) -> Any:
    if schema is True or schema == {} or not isinstance(schema, dict):
        return "value"
    if "$ref" in schema:
        return _value(_resolve_ref(schema["$ref"], root), rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _value(schema[key][0], rng, root, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            for k, v in part.items():
                if k in ("properties",) and k in merged:
                    merged[k] = {**merged[k], **v}
                elif k == "required" and k in merged:
                    merged[k] = [*merged[k], *v]
                else:
                    merged[k] = v
        return _value(merged, rng, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        # Optional properties too (deterministically), unless nesting gets deep.
        return {
            name: _value(sub, rng, root, depth + 1)
            for name, sub in props.items()
            if name in required or depth < 3
        }
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 3)))
        count = rng.randint(low, max(low, min(high, low + 3)))
        items = schema.get("items", {})
        return [_value(items, rng, root, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100))
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            low = low + 1
        if "exclusiveMaximum" in schema and "maximum" not in schema:
            high = high - 1
        value = rng.randint(int(-(-low // 1)), max(int(-(-low // 1)), int(high // 1)))
        return value if kind == "integer" else float(value)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    # string
    low = int(schema.get("minLength", 1))
    high = int(schema.get("maxLength", max(low, 40)))
    text = " ".join(rng.choice(_WORDS) for _ in range(max(1, low // 4 + 2)))
    while len(text) < low:
        text += " " + rng.choice(_WORDS)
    return text[:high]


class SynthOutput:
    """One reply: ``text``, ``stop_reason`` and token counts, all consistent."""

    __slots__ = ("input_tokens", "output_tokens", "stop_reason", "text")

    def __init__(self, text: str, stop_reason: str, input_tokens: int) -> None:
        self.text = text
        self.stop_reason = stop_reason
        self.input_tokens = input_tokens
        self.output_tokens = approx_tokens(text)


def synth_reply(
    *,
    model: str,
    system: str,
    messages: list[str],
    max_tokens: int,
    stop: list[str] | tuple[str, ...] = (),
    json_schema: dict[str, Any] | None = None,
    output_tokens: int | None = None,
) -> SynthOutput:
    """The emulated model's answer to one request.

    Input tokens are the approximation over the system prompt and every message text.
    The reply is cut at ``max_tokens`` (``max_tokens`` stop reason) or before the first
    stop sequence (``stop_sequence``). ``output_tokens`` fixes the reply length.
    """
    seed = "\x1e".join([model, system, *messages])
    input_tokens = approx_tokens(system) + sum(approx_tokens(m) for m in messages)
    if json_schema is not None:
        text = json.dumps(synth_json(json_schema, seed), ensure_ascii=False)
    else:
        text = synth_text(seed, output_tokens)
    stop_reason = "end_turn"
    cut_at = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    if cut_at >= 0:
        text, stop_reason = text[:cut_at].rstrip(), "stop_sequence"
    text, truncated = truncate_to_tokens(text, max_tokens)
    if truncated:
        stop_reason = "max_tokens"
    return SynthOutput(text, stop_reason, input_tokens)
