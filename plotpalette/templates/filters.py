"""Filters for prompt authors, available in every template.

Deterministic filters are plain functions (the examples below call them directly).
Filters that pick at random (``random_sentence``, ``random_word``, ``random``,
``shuffle``, ``sample``) draw from the render's ``random.Random``, which is seeded by
the job's sampling seed, the record index and the step id: the same record always gets
the same prompt, and a different record gets a different pick. Examples in templates::

    {{ poem.text | truncate_tokens(200) }}
    {{ poem.text | random_sentence }}
    {{ poem.text | keywords(5) | join(', ') }}
    {{ characters | map(attribute='name') | join_natural }}

Token counts here are *estimates* (see :func:`estimate_tokens`): good for budgeting
prompt length, never used to bill.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ..errors import TemplateSecurityError
from ..llm.tokens import approx_tokens, truncate_to_tokens
from .limits import DEFAULT_LIMITS

__all__ = [
    "PROMPT_FILTERS",
    "bullet_list",
    "estimate_tokens",
    "first_sentences",
    "join_natural",
    "json_safe",
    "keywords",
    "numbered_list",
    "ordinal",
    "quote_block",
    "random_item",
    "random_sentence",
    "random_word",
    "sample",
    "sentences",
    "shuffle",
    "squash_whitespace",
    "strip_markdown",
    "truncate_tokens",
    "truncate_words",
]

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n\s*\n")
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_STOPWORDS = frozenset(
    "a about above after again against all am an and any are as at be because been before "  # noqa: SIM905
    "being below between both but by can could did do does doing down during each few for "
    "from further had has have having he her here hers herself him himself his how i if in "
    "into is it its itself just me more most my myself no nor not now of off on once only "
    "or other our ours ourselves out over own same she should so some such than that the "
    "their theirs them themselves then there these they this those through to too under "
    "until up upon very was we were what when where which while who whom why will with "
    "would you your yours yourself yourselves o oh thee thou thy thine ye shall may might "
    "must let like".split()
)


def _cap(text: str) -> str:
    limit = DEFAULT_LIMITS.max_string_chars
    if len(text) > limit:
        raise TemplateSecurityError(
            f"a filter result would be {len(text):,} characters, over the limit of {limit:,}"
        )
    return text


def _cap_bound(size: int) -> None:
    """Refuse before building: ``_cap`` alone would first build the huge text."""
    if size > DEFAULT_LIMITS.max_string_chars:
        raise TemplateSecurityError(
            f"a filter result would be {size:,} characters or more, over the limit of "
            f"{DEFAULT_LIMITS.max_string_chars:,}"
        )


def _tick() -> None:
    """Check the running render's deadline (a no-op outside a render)."""
    from .guards import current_state

    state = current_state()
    if state is not None:
        state.tick()


def _rng() -> Any:
    from .guards import current_rng

    return current_rng()


def estimate_tokens(text: Any) -> int:
    """Estimated token count, by the project's one documented approximation
    (:func:`plotpalette.llm.tokens.approx_tokens`: a token per word or punctuation mark,
    plus one per further 6 characters of a long word).

    >>> estimate_tokens("The moon, unhurried.")
    6
    """
    return approx_tokens(str(text))


def truncate_tokens(text: Any, n: int, end: str = "…") -> str:
    """Cut ``text`` to at most ``n`` estimated tokens, at a token boundary.

    >>> truncate_tokens("one two three four five", 3)
    'one two three…'
    >>> truncate_tokens("short", 10)
    'short'
    """
    kept, cut = truncate_to_tokens(str(text), max(int(n), 0))
    return kept + end if cut else kept


def truncate_words(text: Any, n: int, end: str = "…") -> str:
    """Keep the first ``n`` words.

    >>> truncate_words("a lantern on the quiet water", 3)
    'a lantern on…'
    """
    words = str(text).split()
    return str(text).strip() if len(words) <= n else " ".join(words[:n]) + end


def sentences(text: Any) -> list[str]:
    """Split text into sentences (and blank-line separated stanzas).

    >>> sentences("Rain fell. The river rose! Did it?")
    ['Rain fell.', 'The river rose!', 'Did it?']
    """
    parts = (p.strip() for p in _SENTENCE_END.split(str(text)))
    return [" ".join(p.split()) for p in parts if p]


def first_sentences(text: Any, n: int = 1) -> str:
    """The first ``n`` sentences, joined by spaces.

    >>> first_sentences("Rain fell. The river rose. Night came.", 2)
    'Rain fell. The river rose.'
    """
    return " ".join(sentences(text)[:n])


def random_sentence(text: Any) -> str:
    """One sentence of ``text``, picked with the render's seeded RNG ('' if none)."""
    found = sentences(text)
    return _rng().choice(found) if found else ""


def random_word(text: Any, min_length: int = 4) -> str:
    """One word of at least ``min_length`` letters, picked with the seeded RNG."""
    words = _WORD.findall(str(text))
    long_words = [w for w in words if len(w) >= min_length] or words
    return _rng().choice(long_words) if long_words else ""


def random_item(seq: Iterable[Any]) -> Any:
    """Seeded replacement for Jinja's ``random`` filter: one item of ``seq``."""
    items = list(seq)
    return _rng().choice(items) if items else ""


def shuffle(seq: Iterable[Any]) -> list[Any]:
    """A shuffled copy of ``seq`` (seeded RNG)."""
    items = list(seq)
    _rng().shuffle(items)
    return items


def sample(seq: Iterable[Any], k: int = 1) -> list[Any]:
    """``k`` distinct items of ``seq`` (fewer if it is shorter), seeded RNG."""
    items = list(seq)
    return _rng().sample(items, min(max(k, 0), len(items)))


def keywords(text: Any, n: int = 5) -> list[str]:
    """The ``n`` most frequent non-stopwords (lower-case; ties keep first appearance).

    >>> keywords("The tide, the tide returns; salt and tide and stone and salt.", 3)
    ['tide', 'salt', 'returns']
    """
    words = [w.lower().strip("'’-") for w in _WORD.findall(str(text))]
    counts = Counter(w for w in words if len(w) > 2 and w not in _STOPWORDS)
    first = {w: i for i, w in reversed(list(enumerate(words)))}
    ranked = sorted(counts, key=lambda w: (-counts[w], first[w]))
    return ranked[: max(n, 0)]


# Every rule runs in linear time on any input (seed text may be hostile): a character
# class never includes the delimiter that ends it, so a run of openers with no closer
# (`[[[[`, `*****`, ` *a *a *a`) is scanned once, not once per opener.
_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"```[^`\n]*\n(.*?)```", re.DOTALL), r"\1"),  # fenced code -> its text
    (re.compile(r"!\[([^\[\]\n]*)\]\([^()\n]*\)"), r"\1"),  # images -> alt text
    (re.compile(r"\[([^\[\]\n]+)\]\([^()\n]*\)"), r"\1"),  # links -> text
    (re.compile(r"<[^<>\n]{1,200}>"), ""),  # inline html tags
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]*", re.MULTILINE), ""),  # headings
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE), ""),  # block quotes
    (re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+", re.MULTILINE), ""),  # list markers
    (re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$", re.MULTILINE), ""),  # rules
    (re.compile(r"\*\*([^*\n]+)\*\*"), r"\1"),  # bold
    (re.compile(r"__([^_\n]+)__"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])"), r"\1"),  # italics
    (re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])"), r"\1"),
    (re.compile(r"~~([^~\n]+)~~"), r"\1"),  # strike-through
    (re.compile(r"`([^`]+)`"), r"\1"),  # inline code
    (re.compile(r"\n{3,}"), "\n\n"),
)


def strip_markdown(text: Any) -> str:
    """Plain text from Markdown: no headings, emphasis, links, code marks or list bullets.

    >>> strip_markdown("## Tide\\n\\n**Salt** and *stone*, see [notes](http://x).")
    'Tide\\n\\nSalt and stone, see notes.'
    """
    out = str(text)
    for pattern, repl in _MD_RULES:
        out = pattern.sub(repl, out)
        _tick()  # a long input stops at the render's deadline between rules
    return out.strip()


def json_safe(value: Any) -> str:
    """Text escaped for use *inside* a JSON string literal (no surrounding quotes).

    >>> json_safe('She said "go"\\nthen left')
    'She said \\\\"go\\\\"\\\\nthen left'
    """
    return json.dumps(str(value), ensure_ascii=False)[1:-1]


def squash_whitespace(text: Any) -> str:
    """Collapse runs of whitespace (newlines too) to single spaces.

    >>> squash_whitespace("  a\\n\\n  b   c ")
    'a b c'
    """
    return " ".join(str(text).split())


def bullet_list(items: Iterable[Any], bullet: str = "- ") -> str:
    """One item per line, each prefixed by ``bullet``.

    >>> bullet_list(["salt", "stone"])
    '- salt\\n- stone'
    """
    items = list(items)
    _cap_bound(len(str(bullet)) * len(items))
    return _cap("\n".join(f"{bullet}{item}" for item in items))


def numbered_list(items: Iterable[Any], start: int = 1) -> str:
    """One item per line, numbered.

    >>> numbered_list(["salt", "stone"])
    '1. salt\\n2. stone'
    """
    return _cap("\n".join(f"{i}. {item}" for i, item in enumerate(items, start)))


def join_natural(items: Iterable[Any], conjunction: str = "and") -> str:
    """Join as in prose.

    >>> join_natural(["Ada", "Brook", "Cy"])
    'Ada, Brook and Cy'
    >>> join_natural(["Ada"])
    'Ada'
    """
    words = [str(i) for i in items]
    if len(words) <= 1:
        return "".join(words)
    return _cap(f"{', '.join(words[:-1])} {conjunction} {words[-1]}")


def quote_block(text: Any, prefix: str = "> ") -> str:
    """Prefix every line (Markdown quote by default).

    >>> quote_block("line one\\nline two")
    '> line one\\n> line two'
    """
    lines = str(text).splitlines()
    _cap_bound(len(str(prefix)) * len(lines))
    return _cap("\n".join(prefix + line for line in lines))


def ordinal(n: Any) -> str:
    """``1`` -> ``1st``, ``12`` -> ``12th``, ``23`` -> ``23rd``.

    >>> [ordinal(i) for i in (1, 2, 3, 11, 22)]
    ['1st', '2nd', '3rd', '11th', '22nd']
    """
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


PROMPT_FILTERS: dict[str, Any] = {
    "truncate_tokens": truncate_tokens,
    "truncate_words": truncate_words,
    "token_count": estimate_tokens,
    "sentences": sentences,
    "first_sentences": first_sentences,
    "random_sentence": random_sentence,
    "random_word": random_word,
    "random": random_item,
    "shuffle": shuffle,
    "sample": sample,
    "keywords": keywords,
    "strip_markdown": strip_markdown,
    "json_safe": json_safe,
    "squash_whitespace": squash_whitespace,
    "bullet_list": bullet_list,
    "numbered_list": numbered_list,
    "join_natural": join_natural,
    "quote_block": quote_block,
    "ordinal": ordinal,
}
