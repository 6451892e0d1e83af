"""``plotpalette models``: tiers, the price table, and one real test call."""

from __future__ import annotations

import json

import pytest

from plotpalette import cli
from plotpalette.cli import models as models_cmd
from plotpalette.config import DEFAULT_TIERS
from plotpalette.llm import LOCAL_MODEL_ID, PriceTable, Usage
from plotpalette.llm.local_files import llama_cpp_available, local_model_file
from plotpalette.llm.pricing import RATE_FIELDS


def test_models_command_is_registered():
    assert models_cmd in cli.COMMAND_MODULES


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = cli.main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def emulated_bedrock(bedrock_emulator, monkeypatch):
    """Settings that make ``make_backend`` build a real boto3 client aimed at the emulator."""
    monkeypatch.setenv("PLOTPALETTE_BEDROCK_ENDPOINT_URL", bedrock_emulator.endpoint_url)
    monkeypatch.setenv("PLOTPALETTE_REGION", "us-east-1")
    return bedrock_emulator


# -- listing -----------------------------------------------------------------------------
def test_models_lists_tiers_and_the_price_table(capsys):
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    table = PriceTable.load()
    tier_lines = [line for line in out.splitlines() if line.split()[:1] in (["cheap"], ["premium"])]
    assert len(tier_lines) == 2 and all(LOCAL_MODEL_ID in line for line in tier_lines)
    assert f"price table {table.version} (as of {table.as_of})" in out
    for price in table.models():
        assert price.model in out and price.source in out
    # under local the Bedrock ids the tiers would use are named, with the way to see them
    assert DEFAULT_TIERS["premium"] in out and "--backend bedrock" in out


def test_models_json_lists_every_tier_and_every_price_with_provenance(capsys):
    code, data = run_json(capsys, "models")
    assert code == 0
    assert data["backend"] == "local" and data["backend_source"] == "default"
    assert [t["tier"] for t in data["tiers"]] == ["cheap", "balanced", "premium"]
    assert {t["model"] for t in data["tiers"]} == {LOCAL_MODEL_ID}
    assert all(t["priced"] and t["input_per_1m"] == 0 for t in data["tiers"])
    table = PriceTable.load()
    prices = data["prices"]
    assert (prices["version"], prices["as_of"]) == (table.version, table.as_of)
    assert [m["model"] for m in prices["models"]] == [p.model for p in table.models()]
    for entry in prices["models"]:
        assert set(RATE_FIELDS) <= set(entry) and entry["source"] and entry["as_of"]
    micro = next(m for m in prices["models"] if m["model"] == "amazon.nova-micro-v1:0")
    assert micro["input"] == table.price("amazon.nova-micro-v1:0").input > 0


def test_tiers_map_to_bedrock_ids_under_bedrock_and_to_the_local_model_under_local(
    capsys, monkeypatch
):
    monkeypatch.setenv("PLOTPALETTE_TIER_CHEAP", "amazon.nova-lite-v1:0")
    _, bedrock = run_json(capsys, "models", "tiers", "--backend", "bedrock")
    assert bedrock["backend"] == "bedrock" and bedrock["backend_source"] == "argument"
    mapping = {t["tier"]: t["model"] for t in bedrock["tiers"]}
    assert mapping == {
        "cheap": "amazon.nova-lite-v1:0",  # from the environment
        "balanced": DEFAULT_TIERS["balanced"],
        "premium": DEFAULT_TIERS["premium"],
    }
    assert all(t["input_per_1m"] > 0 for t in bedrock["tiers"])
    _, local = run_json(capsys, "models", "tiers", "--backend", "local")
    assert {t["model"] for t in local["tiers"]} == {LOCAL_MODEL_ID}
    assert {t["tier"]: t["configured"] for t in local["tiers"]} == mapping
    # the flag also works before the action, and the configured backend is the default
    monkeypatch.setenv("PLOTPALETTE_BACKEND", "bedrock")
    _, configured = run_json(capsys, "models")
    assert configured["tiers"][0]["model"] == "amazon.nova-lite-v1:0"
    _, flag_first = run_json(capsys, "models", "--backend", "local", "tiers")
    assert flag_first["backend"] == "local"


def test_an_unpriced_tier_is_shown_as_unpriced(capsys, monkeypatch):
    monkeypatch.setenv("PLOTPALETTE_TIER_PREMIUM", "vendor.brand-new-v1:0")
    assert cli.main(["models", "tiers", "--backend", "bedrock"]) == 0
    out = capsys.readouterr().out
    premium = next(line for line in out.splitlines() if line.startswith("premium"))
    assert "vendor.brand-new-v1:0" in premium and "unpriced" in premium
    assert "price override" in out


def test_models_prices_shows_user_overrides(capsys, tmp_path, monkeypatch):
    overrides = tmp_path / "prices.json"
    overrides.write_text(json.dumps({"acme.model-v1:0": {"input": 0.3, "output": 0.6}}))
    monkeypatch.setenv("PLOTPALETTE_PRICE_OVERRIDES", str(overrides))
    code, data = run_json(capsys, "models", "prices")
    assert code == 0 and "+user." in data["version"]
    acme = next(m for m in data["models"] if m["model"] == "acme.model-v1:0")
    assert (acme["input"], acme["output"]) == (0.3, 0.6) and str(overrides) in acme["source"]


# -- models test ---------------------------------------------------------------------------
def test_models_test_through_the_bedrock_emulator(capsys, emulated_bedrock):
    code, data = run_json(
        capsys, "models", "test", "cheap", "--backend", "bedrock", "--max-tokens", "5"
    )
    assert code == 0
    assert data["backend"] == "bedrock" and data["requested"] == "cheap"
    assert data["model"] == DEFAULT_TIERS["cheap"]
    assert data["text"] and data["stop_reason"] in ("end_turn", "max_tokens")
    usage = data["usage"]
    assert usage["input_tokens"] > 0 and 0 < usage["output_tokens"] <= 5
    expected = PriceTable.load().cost(
        data["model"], Usage(usage["input_tokens"], usage["output_tokens"])
    )
    assert data["cost_usd"] == pytest.approx(expected) and data["cost_usd"] > 0
    assert data["latency_ms"] >= 0 and data["pricing_error"] is None
    assert emulated_bedrock.counts["requests"] == 1

    assert cli.main(["models", "test", "balanced", "--backend", "bedrock"]) == 0
    out = capsys.readouterr().out
    assert f"model:       {DEFAULT_TIERS['balanced']}" in out
    for label in ("text:", "stop reason:", "usage:", "latency:", "cost:        $"):
        assert label in out


def test_models_test_works_inside_a_running_event_loop(capsys, emulated_bedrock):
    """A notebook cell already runs a loop; the command must still make its call."""
    import asyncio

    async def from_a_notebook_cell() -> int:
        return cli.main(["models", "test", "cheap", "--backend", "bedrock", "--json"])

    assert asyncio.run(from_a_notebook_cell()) == 0
    assert json.loads(capsys.readouterr().out)["text"]


def test_models_test_reports_missing_model_access_with_its_fix(capsys, emulated_bedrock):
    emulated_bedrock.configure(no_access={DEFAULT_TIERS["cheap"]})
    code, data = run_json(capsys, "models", "test", "cheap", "--backend", "bedrock")
    assert code == 1
    assert data["error"] == "ModelAccessError" and "Model access" in data["fix"]


def test_models_test_with_an_unknown_model_is_a_model_not_found_error(capsys, emulated_bedrock):
    code, data = run_json(
        capsys, "models", "test", "vendor.no-such-model-v1:0", "--backend", "bedrock"
    )
    assert code == 1
    assert data["error"] == "ModelNotFoundError" and "vendor.no-such-model-v1:0" in data["message"]
    assert "plotpalette models" in data["fix"]
    # the local model's id is not a Bedrock model either, and nothing is sent for it
    requests = emulated_bedrock.counts["requests"]
    assert cli.main(["models", "test", LOCAL_MODEL_ID, "--backend", "bedrock"]) == 1
    assert "not a Bedrock model" in capsys.readouterr().err
    assert emulated_bedrock.counts["requests"] == requests


def test_a_model_without_a_price_still_answers_but_its_cost_is_not_guessed(
    capsys, emulated_bedrock
):
    emulated_bedrock.add_model("vendor.fresh-model-v1:0")
    code, data = run_json(
        capsys, "models", "test", "vendor.fresh-model-v1:0", "--backend", "bedrock"
    )
    assert code == 0 and data["text"] and data["usage"]["output_tokens"] > 0
    assert data["cost_usd"] is None and data["pricing_error"]["error"] == "PricingError"
    assert cli.main(["models", "test", "vendor.fresh-model-v1:0", "--backend", "bedrock"]) == 0
    assert "unpriced" in capsys.readouterr().out


def test_models_test_without_credentials_is_a_credentials_error(capsys, monkeypatch):
    monkeypatch.setenv("PLOTPALETTE_REGION", "us-east-1")  # no keys: the isolated env has none
    code, data = run_json(capsys, "models", "test", "cheap", "--backend", "bedrock")
    assert code == 1 and data["error"] == "CredentialsError" and data["fix"]
    assert cli.main(["models", "test", "cheap", "--backend", "bedrock"]) == 1
    assert "fix:" in capsys.readouterr().err


@pytest.mark.skipif(
    local_model_file() is None or not llama_cpp_available(),
    reason="embedded model not installed (plotpalette[local])",
)
def test_models_test_on_the_local_model(capsys):
    code, data = run_json(capsys, "models", "test", "premium", "--max-tokens", "4")
    assert code == 0
    assert data["backend"] == "local" and data["model"] == LOCAL_MODEL_ID
    assert data["text"] and 0 < data["usage"]["output_tokens"] <= 4
    assert data["usage"]["input_tokens"] > 0 and data["cost_usd"] == 0.0


def test_models_test_rejects_bad_arguments_before_calling(capsys):
    code, data = run_json(capsys, "models", "test", "cheap", "--max-tokens", "0")
    assert code == 1 and data["error"] == "ModelRequestError" and "--max-tokens" in data["message"]
    code, data = run_json(capsys, "models", "test", "cheap", "--prompt", "  ")
    assert code == 1 and "--prompt" in data["message"]
    code, data = run_json(capsys, "models", "test", " ")
    assert code == 1 and data["error"] == "ModelRequestError"


def test_models_check_names_tier_models_without_a_price_for_the_region(capsys, monkeypatch):
    monkeypatch.setenv("PLOTPALETTE_REGION", "eu-west-1")
    monkeypatch.setenv("PLOTPALETTE_TIER_CHEAP", "mistral.mistral-large-2402-v1:0")
    code, data = run_json(capsys, "models", "--backend", "bedrock", "--check")
    assert code == 1 and data["region"] == "eu-west-1"
    cheap, balanced, _ = data["tiers"]
    assert cheap["price"] is None and "no price in eu-west-1" in cheap["problems"][0]
    assert balanced["problems"] == [] and "eu-west-1" in balanced["warnings"][0]


def test_models_check_flags_a_retired_tier_model(capsys, monkeypatch):
    monkeypatch.setenv("PLOTPALETTE_REGION", "us-east-1")
    monkeypatch.setenv("PLOTPALETTE_TIER_PREMIUM", "anthropic.claude-3-5-haiku-20241022-v1:0")
    code, data = run_json(capsys, "models", "--backend", "bedrock", "--check")
    assert code == 1 and "end of life" in data["tiers"][2]["problems"][0]


def test_models_capabilities_lists_every_row_with_its_source(capsys):
    code, data = run_json(capsys, "models", "capabilities")
    assert code == 0 and len(data["models"]) >= 15
    assert all(row["source"] and row["as_of"] for row in data["models"])
    modes = {row["model"]: row["structured_output"] for row in data["models"]}
    assert modes["amazon.nova-micro-v1:0"] == "tool"
    assert modes["mistral.mistral-7b-instruct-v0:2"] == "prompt"
