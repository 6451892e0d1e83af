"""Text measures for quality reports: normalisation, lengths and lexical diversity.

- :func:`normalise` — lower case, Unicode NFKC, punctuation to spaces, one space between
  words: the form duplicates are detected on ("Hello, world!" == "hello world").
- :func:`distinct_n` — distinct n-grams / all n-grams over a corpus (Li et al. 2016).
- :func:`type_token_ratio` — distinct words / words.
- :func:`ngram_diversity` — the product of distinct-2, distinct-3 and distinct-4 (the
  "diversity" of Su et al. 2022): 1.0 when no phrase repeats, near 0 for a corpus of
  copies.

Diversity is a corpus property and costs memory per distinct n-gram, so reports measure
it on at most ``max_texts`` texts per group (a seeded sample; the report says so).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence

__all__ = [
    "distinct_n",
    "ngram_diversity",
    "normalise",
    "percentiles",
    "type_token_ratio",
    "words",
]

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """The comparison form of ``text`` (see module docstring)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _NON_WORD.sub(" ", text).strip()


def words(text: str) -> list[str]:
    """The words of ``text`` in comparison form."""
    return normalise(text).split()


def _ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return zip(*(tokens[i:] for i in range(n)), strict=False)


def distinct_n(texts: Iterable[str], n: int = 2) -> float:
    """Distinct n-grams divided by all n-grams across ``texts`` (``nan`` if none)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = words(text)
        grams = list(_ngrams(tokens, n))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else math.nan


def type_token_ratio(texts: Iterable[str]) -> float:
    """Distinct words divided by words across ``texts`` (``nan`` if no words)."""
    return distinct_n(texts, 1)


def ngram_diversity(texts: Sequence[str], orders: Sequence[int] = (2, 3, 4)) -> float:
    """Product of distinct-n over ``orders`` (``nan`` if the texts are too short)."""
    value = 1.0
    for n in orders:
        part = distinct_n(texts, n)
        if math.isnan(part):
            return math.nan
        value *= part
    return value


def percentiles(values: Sequence[float], points: Sequence[float] = (5, 50, 95)) -> list[float]:
    """Nearest-rank percentiles of ``values`` (``nan`` for an empty sequence)."""
    if not values:
        return [math.nan for _ in points]
    ordered = sorted(values)
    out = []
    for p in points:
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        out.append(float(ordered[rank - 1]))
    return out
