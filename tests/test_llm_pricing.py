"""Prices: cost from reported usage, batch rates, unknown models, user overrides."""

from __future__ import annotations

import json

import pytest

from plotpalette.errors import PricingError
from plotpalette.llm import PriceTable, Usage


@pytest.fixture
def prices() -> PriceTable:
    return PriceTable.load()


def test_bundled_table_is_versioned_and_every_entry_has_source_and_date(prices):
    assert prices.version and prices.as_of
    entries = prices.models()
    assert len(entries) >= 8
    for p in entries:
        assert p.source and p.as_of, p.model


def test_cost_uses_input_and_output_rates(prices):
    # nova micro: $0.035 in / $0.14 out per 1M tokens
    assert prices.cost("amazon.nova-micro-v1:0", Usage(1_000_000, 0)) == pytest.approx(0.035)
    assert prices.cost("amazon.nova-micro-v1:0", Usage(2000, 500)) == pytest.approx(
        2000 * 0.035e-6 + 500 * 0.14e-6
    )


def test_batch_rates_are_per_model_and_missing_ones_are_an_error(prices):
    usage = Usage(1_000_000, 1_000_000)
    assert prices.cost(
        "global.anthropic.claude-haiku-4-5-20251001-v1:0", usage, batch=True
    ) == pytest.approx(0.50 + 2.50)
    assert prices.cost("us.anthropic.claude-haiku-4-5-20251001-v1:0", usage) == pytest.approx(
        1.10 + 5.50
    )
    with pytest.raises(PricingError, match="no batch price"):
        prices.cost("mistral.mistral-7b-instruct-v0:2", usage, batch=True)


def test_cache_tokens_are_priced_or_refused(prices):
    usage = Usage(0, 0, cache_read_tokens=1_000_000, cache_write_tokens=1_000_000)
    assert prices.cost("anthropic.claude-3-5-haiku-20241022-v1:0", usage) == pytest.approx(
        0.08 + 1.00
    )
    with pytest.raises(PricingError, match="cache_read"):
        prices.cost("meta.llama3-1-8b-instruct-v1:0", Usage(cache_read_tokens=10))


def test_unknown_model_is_an_error_never_another_models_price(prices):
    with pytest.raises(PricingError) as info:
        prices.price("amazon.nova-micro-v1:1")  # a near miss of a priced id
    assert "price_overrides" in info.value.fix
    with pytest.raises(PricingError):
        prices.cost("acme.unknown-model", Usage(10, 10))


def test_local_models_cost_nothing_but_tokens_still_count(prices):
    usage = Usage(5000, 7000)
    assert prices.cost("local/smollm2-135m-instruct", usage) == 0.0
    assert usage.total_tokens == 12000


def test_worst_case_prices_every_token_at_full_rate(prices):
    assert prices.worst_case("amazon.nova-lite-v1:0", 1_000_000, 1_000_000) == pytest.approx(
        0.06 + 0.24
    )


def test_override_dict_adds_a_model_and_changes_the_version(prices):
    table = PriceTable.load({"acme.model-v1": {"input": 1.0, "output": 2.0}})
    assert table.cost("acme.model-v1", Usage(1_000_000, 1_000_000)) == pytest.approx(3.0)
    assert table.price("acme.model-v1").source.startswith("user override")
    assert table.version.startswith(prices.version + "+user.")
    assert table.cost("amazon.nova-micro-v1:0", Usage(1_000_000, 0)) == pytest.approx(0.035)


def test_override_file_beats_the_bundled_price(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "models": [
                    {
                        "model": "amazon.nova-micro-v1:0",
                        "input": 0.01,
                        "output": 0.02,
                        "source": "my contract",
                        "as_of": "2026-10-01",
                    }
                ]
            }
        )
    )
    table = PriceTable.load(str(path))
    assert table.cost("amazon.nova-micro-v1:0", Usage(1_000_000, 0)) == pytest.approx(0.01)
    assert table.price("amazon.nova-micro-v1:0").source == "my contract"


def test_yaml_override_and_region_specific_entry(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "models:\n  - {model: amazon.nova-lite-v1:0, region: eu-west-1, "
        "input: 0.07, output: 0.28}\n"
    )
    table = PriceTable.load(path)
    assert table.price("amazon.nova-lite-v1:0", "eu-west-1").input == 0.07
    assert table.price("amazon.nova-lite-v1:0", "us-east-1").input == 0.06


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"m": {"input": 1.0}}, "missing 'output'"),
        ({"m": {"input": -1, "output": 1}}, "non-negative"),
        ({"m": {"input": "cheap", "output": 1}}, "non-negative"),
        ({"m": {"input": 1, "output": 1, "colour": 3}}, "unknown field"),
        ({"m": 3}, "must map to its rates"),
    ],
)
def test_bad_overrides_are_clear_errors(bad, match):
    with pytest.raises(PricingError, match=match):
        PriceTable.load(bad)


def test_missing_or_broken_override_file(tmp_path):
    with pytest.raises(PricingError, match="not found"):
        PriceTable.load(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(PricingError, match="cannot be parsed"):
        PriceTable.load(broken)


def test_geo_profiles_resolve_to_the_rows_that_list_them(prices):
    lite = prices.price("amazon.nova-lite-v1:0")
    for profile in ("us.", "eu.", "apac."):
        assert prices.price(f"{profile}amazon.nova-lite-v1:0") == lite
    with pytest.raises(PricingError):  # global profiles are priced on their own rows only
        prices.price("global.amazon.nova-lite-v1:0")
    # Claude 4.5 geo profiles cost more than the global one: their own rows win
    haiku = "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert prices.price(f"us.{haiku}").input > prices.price(f"global.{haiku}").input


def test_the_region_of_the_table_prices_every_call(tmp_path):
    override = {
        "models": [
            {"model": "amazon.nova-micro-v1:0", "region": "eu-west-1", "input": 1.0, "output": 2.0}
        ]
    }
    usage = Usage(1_000_000, 0)
    in_eu = PriceTable.load(override, region="eu-west-1")
    in_us = PriceTable.load(override, region="us-east-1")
    assert in_eu.cost("amazon.nova-micro-v1:0", usage) == pytest.approx(1.0)
    assert in_us.cost("amazon.nova-micro-v1:0", usage) == pytest.approx(0.035)
    assert in_eu.worst_case("amazon.nova-micro-v1:0", 1_000_000, 0) == pytest.approx(1.0)
    with pytest.raises(PricingError, match="in eu-west-1"):
        in_eu.price("vendor.unknown-v1:0")


def test_profiles_must_name_geo_prefixes():
    bad = {"models": [{"model": "x.y-v1:0", "input": 1, "output": 1, "profiles": ["global."]}]}
    with pytest.raises(PricingError, match="profiles"):
        PriceTable.load(bad)
