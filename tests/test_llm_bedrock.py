"""BedrockBackend through a REAL boto3 client against the local Bedrock emulator."""

# ruff: noqa: F811 - the bedrock_emulator fixture is imported, then used as an argument

from __future__ import annotations

import asyncio

import boto3
import pytest
from botocore.stub import Stubber

from plotpalette.config import Settings
from plotpalette.errors import (
    CredentialsError,
    ModelAccessError,
    ModelNotFoundError,
    ModelRequestError,
    ThrottledError,
    TransientModelError,
)
from plotpalette.llm import BedrockBackend, ModelRequest, make_backend
from plotpalette.llm.retry import RetryPolicy
from plotpalette.testing.pytest_plugin import bedrock_emulator  # noqa: F401 - fixture

FAST_RETRY = RetryPolicy(base_s=0.001, cap_s=0.01)
NOVA = "amazon.nova-micro-v1:0"


def backend_for(emulator, **settings) -> BedrockBackend:
    s = Settings(
        backend="bedrock",
        region="us-east-1",
        bedrock_endpoint_url=emulator.endpoint_url,
        **settings,
    )
    backend = make_backend(s)
    assert isinstance(backend, BedrockBackend)
    backend.retry = FAST_RETRY
    return backend


def ask(backend, prompt="Tell me about rivers.", model="cheap", **kwargs):
    return asyncio.run(backend.generate(ModelRequest.from_prompt(model, prompt, **kwargs)))


def test_converse_success_reports_usage_and_model(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    response = ask(backend, max_tokens=400)
    assert response.model == NOVA  # the cheap tier
    assert response.text and response.stop_reason == "end_turn"
    assert response.usage.input_tokens == 5  # 4 words + "." in the emulator's count
    assert response.usage.output_tokens == backend.count_tokens(response.text, NOVA)
    assert response.attempts == 1
    sent = bedrock_emulator.requests[-1]
    assert sent["inferenceConfig"] == {"maxTokens": 400}
    assert sent["messages"] == [{"role": "user", "content": [{"text": "Tell me about rivers."}]}]


def test_system_prompt_parameters_and_max_tokens_stop(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    response = asyncio.run(
        backend.generate(
            ModelRequest.from_prompt(
                "balanced",
                "Go on.",
                system="Be terse.",
                max_tokens=5,
                temperature=0.2,
                top_p=0.9,
                stop=("zzz",),
            )
        )
    )
    assert response.stop_reason == "max_tokens" and response.usage.output_tokens <= 5
    sent = bedrock_emulator.requests[-1]
    assert sent["system"] == [{"text": "Be terse."}]
    assert sent["inferenceConfig"] == {
        "maxTokens": 5,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["zzz"],
    }


def test_structured_output_through_output_config(bedrock_emulator):
    import jsonschema

    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
        "required": ["title", "rating", "tags"],
    }
    backend = backend_for(bedrock_emulator)
    response = ask(backend, "Review a book.", model="premium", json_schema=schema)
    jsonschema.validate(response.parsed_json, schema)
    assert response.model == "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    fmt = bedrock_emulator.requests[-1]["outputConfig"]["textFormat"]
    assert fmt["type"] == "json_schema"


def test_streaming_yields_text_then_the_full_response(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    events = list(
        backend.stream(ModelRequest.from_prompt("cheap", "Stream a story.", max_tokens=60))
    )
    pieces, final = [e.text for e in events[:-1]], events[-1].response
    assert len(pieces) > 1 and final is not None
    assert "".join(pieces) == final.text
    assert final.usage.output_tokens == backend.count_tokens(final.text, NOVA)


def test_throttling_storm_still_completes_every_call(bedrock_emulator):
    bedrock_emulator.configure(rpm=1200, burst_s=0.5)  # 20/s, bucket of 10
    backend = backend_for(bedrock_emulator, concurrency=16)
    backend.retry = RetryPolicy(base_s=0.02, cap_s=0.2)

    async def run():
        return await asyncio.gather(
            *[
                backend.generate(ModelRequest.from_prompt("cheap", f"item {i}", max_tokens=20))
                for i in range(40)
            ]
        )

    responses = asyncio.run(run())
    assert len(responses) == 40 and all(r.text for r in responses)
    assert bedrock_emulator.counts["throttled"] > 0
    assert sum(r.attempts for r in responses) == bedrock_emulator.counts["requests"]
    stats = {s.model: s for s in backend.stats()}[NOVA]
    assert stats.throttles == bedrock_emulator.counts["throttled"]


def test_transient_failures_are_retried(bedrock_emulator):
    bedrock_emulator.script_failures(["500", "503", "408", "reset", "malformed", "429"])
    backend = backend_for(bedrock_emulator)
    backend.retry = RetryPolicy(max_attempts=8, base_s=0.001)
    response = ask(backend)
    assert response.attempts == 7 and response.text
    assert bedrock_emulator.counts["requests"] == 7


def test_botocore_retries_are_pinned_off_so_attempts_do_not_multiply(bedrock_emulator):
    bedrock_emulator.script_failures(["500", "500", "500"])
    backend = backend_for(bedrock_emulator)
    backend.retry = RetryPolicy(max_attempts=2, base_s=0.001)
    assert backend.client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    with pytest.raises(TransientModelError) as info:
        ask(backend)
    assert info.value.attempts == 2
    assert bedrock_emulator.counts["requests"] == 2


def test_persistent_throttling_ends_in_a_throttled_error(bedrock_emulator):
    bedrock_emulator.script_failures(["429"])
    backend = backend_for(bedrock_emulator)
    backend.retry = RetryPolicy(throttle_wait_s=0.0, base_s=0.001)
    with pytest.raises(ThrottledError) as info:
        ask(backend)
    assert "quota" in info.value.fix


def test_wrong_model_id_fails_once_with_a_clear_error(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelNotFoundError, match=r"acme\.nope-v1"):
        ask(backend, model="acme.nope-v1")
    assert bedrock_emulator.counts["requests"] == 1  # not retried


def test_model_that_needs_an_inference_profile(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelNotFoundError) as info:
        ask(backend, model="anthropic.claude-haiku-4-5-20251001-v1:0")
    assert "us.anthropic.claude-haiku-4-5" in info.value.fix


def test_model_without_access(bedrock_emulator):
    bedrock_emulator.configure(no_access={"amazon.nova-lite-v1:0"})
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelAccessError) as info:
        ask(backend, model="balanced")
    assert "Model access" in info.value.fix and "us-east-1" in info.value.message


def test_region_without_the_model(bedrock_emulator):
    bedrock_emulator.configure(region="eu-north-1", not_in_region={NOVA})
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelNotFoundError, match="not available"):
        ask(backend)


def test_no_credentials(bedrock_emulator, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    backend = backend_for(bedrock_emulator)
    with pytest.raises(CredentialsError) as info:
        ask(backend)
    assert "aws configure" in info.value.fix
    assert bedrock_emulator.counts["requests"] == 0  # refused before sending


def test_expired_token_from_the_service(bedrock_emulator):
    bedrock_emulator.configure(credentials="expired")
    backend = backend_for(bedrock_emulator)
    with pytest.raises(CredentialsError, match="expired") as info:
        ask(backend)
    assert "sso login" in info.value.fix


@pytest.mark.parametrize(
    "code, message, error, text",
    [
        (
            "ExpiredTokenException",
            "The security token included in the request is expired",
            CredentialsError,
            "expired",
        ),
        (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            CredentialsError,
            "rejected",
        ),
        ("ServiceQuotaExceededException", "quota", ThrottledError, "quota"),
        ("ValidationException", "maxTokens must be at most 10", ModelRequestError, "max_tokens"),
    ],
)
def test_error_mapping_with_stubber(code, message, error, text):
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    backend = BedrockBackend(
        Settings(backend="bedrock", region="us-east-1"), client=client, retry=FAST_RETRY
    )
    with Stubber(client) as stub:
        stub.add_client_error(
            "converse", service_error_code=code, service_message=message, http_status_code=400
        )
        with pytest.raises(error, match=text):
            ask(backend)


def test_prompt_larger_than_the_context(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelRequestError, match="prompt too long"):  # pre-checked
        ask(backend, "word " * 60_000, model="mistral.mistral-7b-instruct-v0:2")
    bedrock_emulator.add_model("acme.tiny-v1:0", context_tokens=50, max_output_tokens=40)
    with pytest.raises(ModelRequestError, match="prompt too long"):  # from the service
        ask(backend, "word " * 30, model="acme.tiny-v1:0", max_tokens=30)
    assert bedrock_emulator.counts["requests"] == 1


def test_invalid_json_schema(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelRequestError, match="json_schema") as info:
        ask(backend, json_schema={"type": "objekt"})
    assert "type" in info.value.message
    with pytest.raises(ModelRequestError, match="json_schema must be a mapping"):
        ask(backend, json_schema=["not", "a", "schema"])
    assert bedrock_emulator.counts["requests"] == 0


@pytest.mark.parametrize("max_tokens", [0, -5, 10_001])
def test_max_tokens_out_of_range(bedrock_emulator, max_tokens):
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelRequestError, match=r"max_tokens=.*\(allowed 1\.\.10000\)"):
        ask(backend, max_tokens=max_tokens)


def test_max_tokens_rejected_by_the_service_names_the_parameter(bedrock_emulator):
    bedrock_emulator.add_model("acme.small-v1:0", context_tokens=10_000, max_output_tokens=100)
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelRequestError, match="max_tokens"):
        ask(backend, model="acme.small-v1:0", max_tokens=500)


def test_temperature_out_of_range_and_blank_prompt(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelRequestError, match="temperature"):
        ask(backend, temperature=1.5)
    with pytest.raises(ModelRequestError, match="blank"):
        ask(backend, "   ")


def test_local_model_id_is_refused_by_bedrock(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelNotFoundError, match="embedded local model"):
        backend.resolve_model("local/smollm2-135m-instruct")


def test_max_input_tokens_is_an_upper_bound_of_billed_input(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    request = ModelRequest.from_prompt(
        "cheap", "Ünïcödé prompt, with punctuation!!", system="System text."
    )
    response = asyncio.run(backend.generate(request))
    assert backend.max_input_tokens(request) >= response.usage.input_tokens


def test_works_inside_moto_mock_aws(bedrock_emulator):
    from moto import mock_aws

    with mock_aws():
        backend = backend_for(bedrock_emulator)
        assert ask(backend).text


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Poem ideas", "Poem_ideas"),
        (None, "output"),
        ("  ", "output"),
        ("a" * 80, "a" * 64),
        ("ideas-v2_ok", "ideas-v2_ok"),
        ("Idées: liste!", "Id_es_liste"),
    ],
)
def test_structured_output_schema_names_are_valid_bedrock_names(title, expected):
    from plotpalette.llm.bedrock import build_converse_request

    schema = {"type": "object", **({"title": title} if title is not None else {})}
    request = ModelRequest.from_prompt("openai.gpt-oss-20b-1:0", "hi", json_schema=schema)
    sent = build_converse_request(request, request.model)["outputConfig"]["textFormat"]["structure"]
    assert sent["jsonSchema"]["name"] == expected
