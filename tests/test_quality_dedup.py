"""Near-duplicate detection on constructed corpora with known duplicate pairs."""

from __future__ import annotations

import random

import pytest

from plotpalette.errors import QualityError
from plotpalette.quality import DEFAULT_THRESHOLD, find_duplicates, normalise
from plotpalette.testing.synth import synth_text

VOCAB = [
    "the",
    "a",
    "poem",
    "river",
    "light",
    "winter",
    "stone",
    "memory",
    "garden",
    "voice",
    "silence",
    "morning",
    "road",
    "house",
    "window",
    "bird",
    "field",
    "sea",
    "star",
    "night",
    "hand",
    "heart",
    "door",
    "grass",
    "fire",
    "rain",
    "wind",
    "song",
    "mother",
    "city",
    "bridge",
    "shadow",
    "leaf",
    "return",
    "distance",
    "road",
    "candle",
    "letter",
    "promise",
    "harbour",
]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(words)).capitalize() + "."


def _edit(rng: random.Random, text: str, edits: int) -> str:
    words = text.split()
    for _ in range(edits):
        i = rng.randrange(len(words))
        kind = rng.random()
        if kind < 0.4:
            words[i] = rng.choice(VOCAB)
        elif kind < 0.7 and len(words) > 10:
            del words[i]
        else:
            words.insert(i, rng.choice(VOCAB))
    return " ".join(words)


def _corpus(seed: int = 0):
    """1500 unrelated texts, then 150 edited copies (3 word edits) and 100 copies that
    differ only in case, punctuation and spacing. Returns items and {copy: original}."""
    rng = random.Random(seed)
    originals = [_sentence(rng, rng.randint(40, 70)) for _ in range(1000)]
    originals += [synth_text(f"other {i}", 60) for i in range(500)]
    items = list(enumerate(originals))
    copies: dict[int, int] = {}
    for _ in range(150):
        src = rng.randrange(len(originals))
        copies[len(items)] = src
        items.append((len(items), _edit(rng, originals[src], 3)))
    exact: dict[int, int] = {}
    for _ in range(100):
        src = rng.randrange(len(originals))
        exact[len(items)] = src
        items.append((len(items), "  " + originals[src].upper().replace(" ", "  ") + "!!"))
    return items, copies, exact


def test_default_threshold_finds_edited_and_exact_copies_and_nothing_else():
    items, edited, exact = _corpus()
    found = find_duplicates(items)
    assert found.threshold == DEFAULT_THRESHOLD
    planted = {**edited, **exact}
    hits = found.duplicates & set(planted)
    recall = len(hits) / len(planted)
    precision = len(hits) / len(found.duplicates)
    assert recall >= 0.95, recall
    assert precision >= 0.99, precision
    # every exact (normalised) copy is reported as exact, and only those
    assert set(found.exact_of) == set(exact)
    for copy, original in exact.items():
        assert found.near_of[copy] == found.near_of.get(original, original)


def test_the_first_text_represents_its_cluster():
    items = [(10, "alpha beta gamma delta"), (3, "alpha beta gamma delta"), (7, "unrelated")]
    found = find_duplicates(items)
    assert found.near_of == {3: 10} and found.exact_of == {3: 10}
    assert found.clusters() == {10: [10, 3]}


def test_a_higher_threshold_finds_fewer_near_duplicates():
    items, _, _ = _corpus(1)
    loose = find_duplicates(items, threshold=0.4)
    strict = find_duplicates(items, threshold=0.95)
    assert len(strict.duplicates) < len(find_duplicates(items).duplicates)
    assert len(find_duplicates(items).duplicates) <= len(loose.duplicates)
    assert set(strict.exact_of) == set(loose.exact_of)


def test_empty_texts_are_only_duplicates_of_each_other():
    found = find_duplicates([(0, ""), (1, "some words here"), (2, "  "), (3, "!")])
    assert found.near_of == {2: 0, 3: 0}


def test_normalised_form_ignores_case_punctuation_and_spacing():
    assert normalise("  Hello,   WORLD!! ") == normalise("hello world")


@pytest.mark.parametrize("threshold", [0, 1.5, -0.1])
def test_bad_threshold_names_the_fix(threshold):
    with pytest.raises(QualityError, match="threshold"):
        find_duplicates([(0, "x")], threshold=threshold)
