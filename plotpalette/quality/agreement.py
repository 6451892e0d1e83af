"""Agreement between a human reviewer and the judge, with confidence intervals.

Two statistics, each an :class:`Estimate` (value and a normal-approximation interval):

- :func:`cohen_kappa` for accept/reject: chance-corrected agreement (Cohen 1960),
  ``kappa = (p_o - p_e) / (1 - p_e)``, with Cohen's large-sample standard error
  ``sqrt(p_o (1 - p_o) / (n (1 - p_e)^2))``.
- :func:`spearman` for scores: the rank correlation (average ranks for ties, Pearson
  on the ranks), with a Fisher-z interval using the Bonett-Wright (2000) standard error
  ``sqrt((1 + rho^2 / 2) / (n - 3))``, which stays honest with tied 1-5 scores.

Pure Python (no SciPy), so the core stays light.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from ..errors import QualityError

__all__ = ["Estimate", "cohen_kappa", "spearman", "trust_verdict"]


@dataclass(frozen=True)
class Estimate:
    """A statistic with its confidence interval (``nan`` where it is undefined)."""

    value: float
    low: float
    high: float
    n: int
    confidence: float = 0.95
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        if math.isnan(self.value):
            return f"undefined (n={self.n}{'; ' + self.note if self.note else ''})"
        if math.isnan(self.low):
            return f"{self.value:.3f} (n={self.n}; too few pairs for an interval)"
        return (
            f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] "
            f"({self.confidence:.0%} CI, n={self.n})"
        )


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise QualityError(
            f"confidence must be between 0 and 1, got {confidence!r}",
            fix="Pass e.g. confidence=0.95.",
        )
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _pairs(a: Sequence[Any], b: Sequence[Any], what: str) -> int:
    if len(a) != len(b):
        raise QualityError(
            f"{what}: the two raters have {len(a)} and {len(b)} ratings",
            fix="Pass one rating per item from each rater, in the same order.",
        )
    return len(a)


def cohen_kappa(
    a: Sequence[Hashable], b: Sequence[Hashable], *, confidence: float = 0.95
) -> Estimate:
    """Cohen's kappa of two raters' labels (any hashable categories)."""
    n = _pairs(a, b, "cohen_kappa")
    z = _z(confidence)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, confidence, "no pairs")
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[c] * cb[c] for c in ca.keys() | cb.keys()) / (n * n)
    if p_e >= 1.0:
        note = "both raters used a single, identical category"
        return Estimate(math.nan, math.nan, math.nan, n, confidence, note)
    kappa = (p_o - p_e) / (1 - p_e)
    se = math.sqrt(p_o * (1 - p_o) / (n * (1 - p_e) ** 2))
    return Estimate(kappa, max(-1.0, kappa - z * se), min(1.0, kappa + z * se), n, confidence)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # ties share their average rank
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95) -> Estimate:
    """Spearman's rank correlation of paired scores, with a Fisher-z interval."""
    n = _pairs(x, y, "spearman")
    z = _z(confidence)
    if n < 2:
        return Estimate(math.nan, math.nan, math.nan, n, confidence, "needs two pairs")
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((p - mx) * (q - my) for p, q in zip(rx, ry, strict=True))
    sxx = sum((p - mx) ** 2 for p in rx)
    syy = sum((q - my) ** 2 for q in ry)
    if sxx == 0 or syy == 0:
        note = "one rater gave every item the same score"
        return Estimate(math.nan, math.nan, math.nan, n, confidence, note)
    rho = max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
    if n < 4 or abs(rho) >= 1.0:
        return Estimate(rho, math.nan, math.nan, n, confidence, "interval needs n >= 4")
    se = math.sqrt((1 + rho * rho / 2) / (n - 3))
    centre = math.atanh(rho)
    return Estimate(rho, math.tanh(centre - z * se), math.tanh(centre + z * se), n, confidence)


def trust_verdict(kappa: Estimate) -> str:
    """Plain words for a kappa interval (bands after Landis & Koch 1977)."""
    if math.isnan(kappa.value):
        return "no verdict yet: label more records (both accepts and rejects)"
    if math.isnan(kappa.low):
        return "no verdict yet: label more records"
    if kappa.low >= 0.6:
        return "trust the judge: agreement is at least substantial"
    if kappa.high < 0.4:
        return "do not trust the judge: agreement is at most fair"
    return "undecided: the interval is too wide; label more records"
