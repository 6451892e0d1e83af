"""generate_seeds: model-written seed rows, charged against a budget (offline doubles)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from plotpalette.errors import BudgetExceededError, SeedError
from plotpalette.seeds import generate_seeds, load_seeds
from plotpalette.testing import InstantBackend

FIELDS = {"topic": "a poem topic", "author.name": "a poet's name"}


class RepeatingBackend(InstantBackend):
    """Answers every call with the same fixed reply (a model stuck in a rut)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    async def generate(self, request):
        reply = await super().generate(request)
        return dataclasses.replace(reply, text=self.text, parsed_json=None)


def test_generates_the_rows_asked_for_with_nested_fields():
    backend = InstantBackend()
    seeds = generate_seeds("poem ideas", FIELDS, 23, budget_usd=0.05, backend=backend, per_call=10)
    assert len(seeds) == 23 and seeds.format == "generated"
    assert seeds.fields() == ["author.name", "topic"]
    assert all(row["topic"] and row["author"]["name"] for row in seeds)
    gen = seeds.generation
    assert gen.complete and gen.calls == backend.call_count == 3
    assert 0 < gen.cost_usd <= 0.05
    # every request asked for structured rows with exactly the named fields
    schema = backend.requests[0].json_schema
    assert schema["properties"]["rows"]["items"]["required"] == ["topic", "author.name"]
    # a generated set is an ordinary seed set: same hash when loaded back
    assert load_seeds(seeds.rows).sha256 == seeds.sha256


def test_budget_too_small_for_one_call():
    backend = InstantBackend()
    with pytest.raises(BudgetExceededError, match="may cost up to") as info:
        generate_seeds("poem ideas", FIELDS, 5, budget_usd=0.0, backend=backend)
    assert backend.call_count == 0  # refused before spending anything
    assert "budget_usd" in info.value.fix


def test_budget_stops_early_and_keeps_what_was_made():
    backend = InstantBackend()
    seeds = generate_seeds(
        "poem ideas", ["topic"], 200, budget_usd=0.0002, backend=backend, per_call=5
    )
    gen = seeds.generation
    assert not gen.complete and gen.stopped_by == "budget"
    assert 0 < len(seeds) < 200
    assert gen.cost_usd <= 0.0002


def test_duplicates_and_malformed_rows_are_discarded_and_the_loop_ends():
    backend = RepeatingBackend('{"rows": [{"topic": "rain"}, {"topic": ""}, {"nope": 1}]}')
    seeds = generate_seeds("poem ideas", ["topic"], 4, budget_usd=0.05, backend=backend, per_call=2)
    assert seeds.rows == [{"topic": "rain"}]
    gen = seeds.generation
    assert gen.stopped_by == "attempts" and not gen.complete
    assert gen.discarded > 0 and gen.calls == backend.call_count


def test_a_model_that_never_answers_in_json():
    backend = RepeatingBackend("Sure! Here are some poem topics: rain, sea.")
    with pytest.raises(SeedError, match="no usable seed rows"):
        generate_seeds("poem ideas", ["topic"], 3, budget_usd=0.05, backend=backend)


def test_bad_arguments():
    with pytest.raises(SeedError, match="at least one field"):
        generate_seeds("x", [], 3, budget_usd=1, backend=InstantBackend())
    with pytest.raises(SeedError, match="must be positive"):
        generate_seeds("x", ["topic"], 0, budget_usd=1, backend=InstantBackend())


def test_works_inside_a_running_event_loop():
    # Jupyter runs cells inside an event loop; the call must not fail there.
    async def cell():
        return generate_seeds("poem ideas", ["topic"], 2, budget_usd=0.05, backend=InstantBackend())

    assert len(asyncio.run(cell())) == 2
