"""Quality checks run on every step's output, each with a policy.

Checks: ``empty`` (nothing but whitespace), ``repetition`` (degenerate loops such as
the same phrase over and over), ``refusal`` (the model declined), ``truncated`` (it
stopped at ``max_tokens``), ``invalid_json`` (a ``format: json`` step that did not
return JSON), and one check per Bedrock stop reason that means no usable answer
(``guardrail_intervened``, ``content_filtered``, ``malformed_model_output``,
``malformed_tool_use``, ``model_context_window_exceeded``). Policies: ``filter`` (the
record is kept as *filtered*, later steps are skipped), ``fail`` (kept as *failed*),
``keep`` (only flagged). Flags are stored on the record either way, so exports and the
quality review can see them.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from ..llm.base import UNUSABLE_STOP_REASONS

__all__ = ["CheckOutcome", "parse_json_output", "run_checks"]

_REFUSALS = (
    "i'm sorry, but i can",
    "i am sorry, but i can",
    "i'm sorry, i can",
    "i cannot help",
    "i can't help",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i won't be able",
    "i am unable to",
    "i'm unable to",
    "as an ai language model",
    "i cannot fulfill",
    "i can't fulfill",
    "i must decline",
)
_REFUSAL = re.compile("|".join(re.escape(p) for p in _REFUSALS))
_MAX_SCAN = 20_000  # characters examined for loops (bounds the cost per output)


@dataclass
class CheckOutcome:
    """Which checks fired on one output and what the policies make of it."""

    flags: list[str] = field(default_factory=list)
    verdict: str = "ok"  # "ok" | "filtered" | "failed"
    parsed_json: Any = None
    reason: str | None = None


def _repetitive(text: str) -> bool:
    """Linear-time loop detection (a backtracking regex was 100x slower).

    Word loops ("the cat sat. the cat sat. ...") leave few distinct word trigrams;
    loops without spaces compress to almost nothing.
    """
    text = text[:_MAX_SCAN]
    words = text.split()
    if len(words) >= 12:
        trigrams = set(zip(words, words[1:], words[2:], strict=False))
        if len(trigrams) / (len(words) - 2) < 0.3:
            return True
    if len(text) >= 200:
        data = text.encode()
        return len(zlib.compress(data, 1)) / len(data) < 0.08
    return False


def _refusal(text: str) -> bool:
    head = text[:240].lower().replace("’", "'")
    return _REFUSAL.search(head) is not None


def parse_json_output(text: str) -> tuple[bool, Any]:
    """Parse a JSON answer, tolerating a Markdown code fence around it."""
    candidate = text.strip()
    # String operations, not a regex: a fence pattern with `\s*` around a lazy group
    # backtracks cubically on a reply of whitespace (minutes for 5,000 spaces).
    if len(candidate) >= 6 and candidate.startswith("```") and candidate.endswith("```"):
        inner = candidate[3:-3]
        candidate = (inner[4:] if inner.startswith("json") else inner).strip()
    try:
        return True, json.loads(candidate)
    except (ValueError, RecursionError):  # malformed, or nested too deep
        return False, None


def run_checks(
    text: str,
    *,
    stop_reason: str,
    policies: dict[str, str],
    json_expected: bool = False,
    parsed_json: Any = None,
) -> CheckOutcome:
    """Run every check on ``text`` and combine the policies of those that fired.

    ``fail`` beats ``filter`` beats ``keep``. A ``parsed_json`` from the backend
    (structured output) is trusted; otherwise JSON is parsed from the text.
    """
    out = CheckOutcome(parsed_json=parsed_json)
    if not text.strip():
        out.flags.append("empty")
    else:
        if _repetitive(text):
            out.flags.append("repetition")
        if _refusal(text):
            out.flags.append("refusal")
    if stop_reason == "max_tokens":
        out.flags.append("truncated")
    elif stop_reason in UNUSABLE_STOP_REASONS:
        out.flags.append(stop_reason)  # guardrail, content filter, malformed output...
    if json_expected and parsed_json is None:
        ok, value = parse_json_output(text)
        if ok:
            out.parsed_json = value
        else:
            out.flags.append("invalid_json")
    for flag in out.flags:
        policy = policies.get(flag, "keep")
        if policy == "fail":
            out.verdict, out.reason = "failed", f"check {flag!r} failed (policy fail)"
            break
        if policy == "filter" and out.verdict == "ok":
            out.verdict, out.reason = "filtered", f"check {flag!r} fired (policy filter)"
    return out
