"""Token counts without a model's tokenizer: one documented approximation, and bounds.

Bedrock bills the tokens its own tokenizer counts; we only see them in a response's
usage. Before a call we need estimates (for rate limiting and previews) and bounds
(for budget reservations and context checks):

* :func:`approx_tokens` — one token per word (a run of letters/digits) or punctuation
  mark, plus one more for every further 6 characters of a long word. Close to BPE
  tokenizers on English prose. The Bedrock emulator bills with exactly this rule, so
  estimates and emulated usage agree.
* :func:`tokens_upper_bound` — UTF-8 bytes, plus a per-message allowance: no
  tokenizer produces more than one token per byte, and chat templates add a few
  tokens per message.
* :func:`tokens_lower_bound` — UTF-8 bytes / 8: real tokenizers average well under 8
  bytes per token, so a prompt above the context by this measure cannot fit.
"""

from __future__ import annotations

import re

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "approx_tokens",
    "tokens_lower_bound",
    "tokens_upper_bound",
    "truncate_to_tokens",
]

_PIECE = re.compile(r"\w+|[^\w\s]")
MESSAGE_OVERHEAD_TOKENS = 8  # role markers and separators a chat template adds per message
BASE_OVERHEAD_TOKENS = 16


def _piece_tokens(piece: str) -> int:
    return 1 + (len(piece) - 1) // 6


def approx_tokens(text: str) -> int:
    """The documented approximation (see the module docstring)."""
    return sum(_piece_tokens(m.group()) for m in _PIECE.finditer(text))


def truncate_to_tokens(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut after the last whole piece within ``limit`` approximate tokens.

    Returns the kept text and whether anything was cut.
    """
    used = 0
    for m in _PIECE.finditer(text):
        used += _piece_tokens(m.group())
        if used > limit:
            return text[: m.start()].rstrip(), True
    return text, False


def tokens_upper_bound(texts: list[str] | tuple[str, ...]) -> int:
    """An upper bound on billed input tokens for these message texts."""
    return (
        sum(len(t.encode("utf-8")) for t in texts)
        + MESSAGE_OVERHEAD_TOKENS * len(texts)
        + BASE_OVERHEAD_TOKENS
    )


def tokens_lower_bound(text: str) -> int:
    """A lower bound on the tokens of ``text`` (used to refuse prompts that cannot fit)."""
    return len(text.encode("utf-8")) // 8
