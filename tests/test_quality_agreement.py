"""Agreement statistics against worked textbook examples."""

from __future__ import annotations

import math

import pytest

from plotpalette.errors import QualityError
from plotpalette.quality import cohen_kappa, spearman, trust_verdict


def _table(yes_yes: int, yes_no: int, no_yes: int, no_no: int):
    a = ["yes"] * (yes_yes + yes_no) + ["no"] * (no_yes + no_no)
    b = ["yes"] * yes_yes + ["no"] * yes_no + ["yes"] * no_yes + ["no"] * no_no
    return a, b


def test_kappa_matches_the_worked_example():
    # Wikipedia, "Cohen's kappa", simple example: 50 proposals, two readers;
    # p_o = 0.7, p_e = 0.5, kappa = 0.4.
    a, b = _table(20, 5, 10, 15)
    k = cohen_kappa(a, b)
    assert k.value == pytest.approx(0.4)
    # Cohen's (1960) standard error sqrt(p_o (1-p_o) / (n (1-p_e)^2)) = 0.1296
    assert (k.low, k.high) == pytest.approx((0.1460, 0.6540), abs=1e-4)
    assert k.n == 50


def test_kappa_second_worked_example_with_low_chance_corrected_agreement():
    # Wikipedia's second example: same 60% observed agreement, different marginals:
    # 45/15/25/15 gives kappa = 0.1304; 25/35/5/35 gives kappa = 0.2593.
    assert cohen_kappa(*_table(45, 15, 25, 15)).value == pytest.approx(0.1304, abs=1e-4)
    assert cohen_kappa(*_table(25, 35, 5, 35)).value == pytest.approx(0.2593, abs=1e-4)


def test_perfect_and_undefined_kappa():
    assert cohen_kappa([True, False, True], [True, False, True]).value == pytest.approx(1.0)
    same = cohen_kappa([True] * 5, [True] * 5)
    assert math.isnan(same.value) and "single" in same.note
    assert "label more" in trust_verdict(same)


def test_spearman_matches_the_worked_example():
    # Wikipedia, "Spearman's rank correlation coefficient": IQ against hours of TV per
    # week for ten people, rho = -29/165 = -0.175757...
    iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
    tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]
    rho = spearman(iq, tv)
    assert rho.value == pytest.approx(-29 / 165)
    assert rho.low < rho.value < rho.high


def test_spearman_with_ties_matches_scipys_documented_example():
    # scipy.stats.spearmanr docs: spearmanr([1,2,3,4,5], [5,6,7,8,7]) -> 0.8207826816681233
    rho = spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])
    assert rho.value == pytest.approx(0.8207826816681233)


def test_intervals_narrow_with_more_pairs_and_widen_with_confidence():
    a, b = _table(20, 5, 10, 15)
    small, large = cohen_kappa(a, b), cohen_kappa(a * 4, b * 4)
    assert large.value == pytest.approx(small.value)
    assert (large.high - large.low) < (small.high - small.low)
    wide = cohen_kappa(a, b, confidence=0.99)
    assert wide.low < small.low and wide.high > small.high
    x = list(range(20))
    y = [v + (3 if v % 4 == 0 else 0) for v in x]
    assert (spearman(x * 3, y * 3).high - spearman(x * 3, y * 3).low) < (
        spearman(x, y).high - spearman(x, y).low
    )


def test_trust_verdicts():
    strong = cohen_kappa(*_table(200, 5, 5, 200))
    assert strong.low >= 0.6 and trust_verdict(strong).startswith("trust")
    chance = cohen_kappa(*_table(100, 100, 100, 100))
    assert chance.high < 0.4 and trust_verdict(chance).startswith("do not trust")
    assert trust_verdict(cohen_kappa(*_table(4, 1, 2, 3))).startswith("undecided")


def test_mismatched_lengths_and_bad_confidence_name_the_fix():
    with pytest.raises(QualityError, match="one rating per item"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(QualityError, match="confidence"):
        spearman([1, 2, 3, 4], [1, 2, 3, 4], confidence=1.5)
