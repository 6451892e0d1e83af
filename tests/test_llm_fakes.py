"""InstantBackend (the in-process test double) and the make_backend factory."""

from __future__ import annotations

import asyncio

import jsonschema
import pytest

from plotpalette.config import Settings
from plotpalette.errors import (
    ConfigError,
    ModelAccessError,
    ModelNotFoundError,
    ModelRequestError,
    TransientModelError,
)
from plotpalette.llm import Backend, BedrockBackend, LocalBackend, ModelRequest, make_backend
from plotpalette.testing import InstantBackend


def run(backend, prompt="Hello there.", model="cheap", **kwargs):
    return asyncio.run(backend.generate(ModelRequest.from_prompt(model, prompt, **kwargs)))


def test_instant_backend_is_a_deterministic_backend():
    backend = InstantBackend()
    assert isinstance(backend, Backend)
    a, b = run(backend), run(backend)
    assert a.text == b.text and a.model == "amazon.nova-micro-v1:0"
    assert a.usage.output_tokens == backend.count_tokens(a.text, a.model)
    assert (
        backend.max_input_tokens(ModelRequest.from_prompt("m", "Hello there."))
        >= a.usage.input_tokens
    )
    assert backend.call_count == 2
    assert backend.stats()[0].rpm == 2


def test_instant_backend_structured_output_and_limits():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    out = run(InstantBackend(), json_schema=schema)
    jsonschema.validate(out.parsed_json, schema)
    short = run(InstantBackend(output_tokens=50), max_tokens=4)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens <= 4
    with pytest.raises(ModelRequestError):
        run(InstantBackend(), max_tokens=0)


def test_instant_backend_failures_by_script_rate_and_model():
    scripted = InstantBackend(failures=[None, TransientModelError("boom")])
    assert run(scripted).text
    with pytest.raises(TransientModelError, match="boom"):
        run(scripted)
    assert run(scripted).text  # the script is over
    always = InstantBackend(failure_rate=1.0)
    with pytest.raises(TransientModelError):
        run(always)
    with pytest.raises(ModelNotFoundError):
        run(InstantBackend(models=["a"]), model="b")
    with pytest.raises(ModelAccessError):
        run(InstantBackend(no_access=["x"]), model="x")
    by_call = InstantBackend(
        failures=lambda req, i: ModelRequestError("no") if "bad" in req.prompt_text else None
    )
    assert run(by_call, "good").text
    with pytest.raises(ModelRequestError):
        run(by_call, "bad")


def test_make_backend_picks_the_configured_backend():
    assert isinstance(make_backend(Settings(backend="local")), LocalBackend)
    bedrock = make_backend(Settings(backend="bedrock", region="us-east-1"))
    assert isinstance(bedrock, BedrockBackend)
    assert bedrock.resolve_model("premium") == "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    custom = make_backend(Settings(backend="bedrock", tiers={"cheap": "x.y-v1"}))
    assert custom.resolve_model("cheap") == "x.y-v1"
    assert custom.resolve_model("us.amazon.nova-lite-v1:0") == "us.amazon.nova-lite-v1:0"


def test_make_backend_uses_an_injected_client():
    sentinel = object()
    backend = make_backend(Settings(backend="bedrock"), client=sentinel)
    assert backend.client is sentinel


def test_bedrock_without_region_is_a_config_error(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    backend = make_backend(Settings(backend="bedrock"))
    with pytest.raises(ConfigError, match="Region"):
        run(backend)


def test_unknown_backend_is_refused():
    with pytest.raises(ConfigError):
        make_backend(Settings.load(backend="openai"))
