"""Per-model behaviour through a REAL boto3 client against the Bedrock emulator: what each
model accepts, how JSON is asked for, and how every Bedrock error is mapped."""

# ruff: noqa: F811 - the bedrock_emulator fixture is imported, then used as an argument

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError

from plotpalette.config import Settings
from plotpalette.errors import (
    DailyQuotaError,
    ModelAccessError,
    ModelRequestError,
    ModelRetiredError,
    ModelUnresponsiveError,
    ThrottledError,
    TransientModelError,
)
from plotpalette.llm import BedrockBackend, ModelRequest, make_backend
from plotpalette.llm.capabilities import call_deadline_s, capabilities, structured_output_mode
from plotpalette.llm.retry import RetryPolicy
from plotpalette.testing.pytest_plugin import bedrock_emulator  # noqa: F401 - fixture

FAST = RetryPolicy(base_s=0.001, cap_s=0.01, not_ready_base_s=0.001)
NOVA = "amazon.nova-micro-v1:0"
HAIKU45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
GPT_OSS = "openai.gpt-oss-20b-1:0"
SCHEMA = {
    "type": "object",
    "properties": {"ideas": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
    "required": ["ideas"],
}


def backend_for(emulator, **settings) -> BedrockBackend:
    s = Settings(backend="bedrock", bedrock_endpoint_url=emulator.endpoint_url, **settings)
    backend = make_backend(s)
    assert isinstance(backend, BedrockBackend)
    backend.retry = FAST
    return backend


def ask(backend, model=NOVA, prompt="Ideas about rivers.", **kwargs):
    return asyncio.run(backend.generate(ModelRequest.from_prompt(model, prompt, **kwargs)))


def raw_client(emulator):
    return boto3.client("bedrock-runtime", endpoint_url=emulator.endpoint_url)


# -- structured output: native, forced tool, prompt-and-validate ----------------------


@pytest.mark.parametrize(
    ("model", "mode", "field"),
    [(GPT_OSS, "native", "outputConfig"), (NOVA, "tool", "toolConfig"), (MISTRAL, "prompt", None)],
)
def test_json_is_asked_for_the_way_each_model_accepts(bedrock_emulator, model, mode, field):
    backend = backend_for(bedrock_emulator)
    response = ask(backend, model=model, max_tokens=300, json_schema=SCHEMA)
    sent = bedrock_emulator.requests[-1]
    assert response.structured_output == mode == structured_output_mode(model)
    for other in {"outputConfig", "toolConfig"} - {field}:
        assert other not in sent
    if mode == "prompt":
        assert "JSON Schema" in sent["system"][0]["text"]
    jsonschema.validate(response.parsed_json, SCHEMA)
    assert json.loads(response.text) == response.parsed_json
    assert response.stop_reason == "end_turn" and response.schema_error is None


def test_a_non_object_schema_goes_through_a_forced_tool_and_comes_back_unwrapped(
    bedrock_emulator,
):
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 3}
    response = ask(backend_for(bedrock_emulator), max_tokens=200, json_schema=schema)
    tool = bedrock_emulator.requests[-1]["toolConfig"]["tools"][0]["toolSpec"]
    assert tool["inputSchema"]["json"]["type"] == "object"  # Bedrock tools take objects
    jsonschema.validate(response.parsed_json, schema)


def test_the_emulator_refuses_what_bedrock_refuses(bedrock_emulator):
    client = raw_client(bedrock_emulator)
    msg = [{"role": "user", "content": [{"text": "hi"}]}]
    fmt = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{}"}}}}
    cases = [
        ({"modelId": NOVA, "outputConfig": fmt}, "outputConfig"),
        ({"modelId": HAIKU45, "inferenceConfig": {"temperature": 0.5, "topP": 0.9}}, "top_p"),
        ({"modelId": NOVA, "inferenceConfig": {"maxTokens": 10_001}}, "range"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(ClientError) as info:
            client.converse(messages=msg, **kwargs)
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert needle in info.value.response["Error"]["Message"]


def test_a_reply_that_ignores_the_json_instruction_is_reported_not_parsed(bedrock_emulator):
    bedrock_emulator.script_failures(["bad_json"])
    response = ask(backend_for(bedrock_emulator), model=MISTRAL, max_tokens=200, json_schema=SCHEMA)
    assert response.parsed_json is None and response.schema_error


def test_requests_bedrock_would_reject_are_refused_before_any_call(bedrock_emulator):
    backend = backend_for(bedrock_emulator)
    with pytest.raises(ModelRequestError, match="temperature or top_p"):
        ask(backend, model=HAIKU45, temperature=0.5, top_p=0.9)
    with pytest.raises(ModelRequestError, match="max_tokens"):
        ask(backend, max_tokens=capabilities(NOVA).max_output_tokens + 1)
    assert bedrock_emulator.counts["requests"] == 0
    assert ask(backend, model=HAIKU45, temperature=0.5).text  # one of them is fine


# -- access, end of life -----------------------------------------------------------------


def test_marketplace_access_denied_names_the_marketplace_permissions(bedrock_emulator):
    bedrock_emulator.configure(marketplace={GPT_OSS})
    with pytest.raises(ModelAccessError) as info:
        ask(backend_for(bedrock_emulator), model=GPT_OSS)
    assert "aws-marketplace:Subscribe" in info.value.fix
    assert "aws-marketplace:ViewSubscriptions" in info.value.fix
    assert bedrock_emulator.counts["requests"] == 1  # not retried


def test_a_retired_model_is_recognised(bedrock_emulator):
    model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    assert capabilities(model).retired()  # marked in the table (2026-06-19)
    with pytest.raises(ModelRetiredError, match="end of its life"):
        ask(backend_for(bedrock_emulator), model=model)


# -- quotas as AWS counts them -------------------------------------------------------------


def test_tokens_per_day_throttle_is_not_retried_and_does_not_cut_concurrency(bedrock_emulator):
    bedrock_emulator.configure(tpd=300)
    backend = backend_for(bedrock_emulator, concurrency=8)
    ask(backend, max_tokens=200)  # uses part of the day's quota
    with pytest.raises(DailyQuotaError) as info:
        ask(backend, max_tokens=280)  # reserves more than is left today
    assert "Resume" in info.value.fix
    assert bedrock_emulator.counts["requests"] == 2  # the daily throttle was not retried
    (stats,) = backend.stats()
    assert stats.concurrency == 8 and stats.throttles == 0


def test_the_emulator_counts_output_burndown_in_the_token_quota(bedrock_emulator):
    # A bucket of 100 tokens, refilled at 10/s. Writing 15 tokens costs Nova (1x) 15 of
    # them, Claude Haiku 4.5 (5x burndown) 75: three Nova calls fit, two Haiku calls not.
    client = raw_client(bedrock_emulator)
    msg = [{"role": "user", "content": [{"text": "hi"}]}]
    config = {"maxTokens": 15}
    bedrock_emulator.configure(tpm=600, burst_s=10.0)
    for _ in range(3):
        client.converse(modelId=NOVA, messages=msg, inferenceConfig=config)
    bedrock_emulator.configure(tpm=600, burst_s=10.0)  # fresh buckets
    client.converse(modelId=HAIKU45, messages=msg, inferenceConfig=config)
    with pytest.raises(ClientError) as info:
        client.converse(modelId=HAIKU45, messages=msg, inferenceConfig=config)
    assert info.value.response["Error"]["Code"] == "ThrottlingException"


def test_service_quota_exceeded_is_not_retried_and_keeps_concurrency(bedrock_emulator):
    bedrock_emulator.script_failures(["quota"])
    backend = backend_for(bedrock_emulator, concurrency=8)
    with pytest.raises(ThrottledError, match="service quota"):
        ask(backend)
    (stats,) = backend.stats()
    assert bedrock_emulator.counts["requests"] == 1 and stats.concurrency == 8


# -- retry classes -------------------------------------------------------------------------


def test_model_not_ready_has_its_own_schedule(bedrock_emulator):
    bedrock_emulator.script_failures(["not_ready"] * 6)
    response = ask(backend_for(bedrock_emulator))
    assert response.attempts == 7  # more than the 5 attempts of other transient errors


def test_model_error_exception_is_retried_once_only(bedrock_emulator):
    bedrock_emulator.script_failures(["model_error"] * 3)
    with pytest.raises(TransientModelError, match="could not process"):
        ask(backend_for(bedrock_emulator))
    assert bedrock_emulator.counts["requests"] == 2


def test_a_silent_service_ends_each_call_at_its_deadline(bedrock_emulator):
    bedrock_emulator.script_failures(["hang", "hang"])
    backend = backend_for(bedrock_emulator)
    backend.deadline_s = 0.3
    with pytest.raises(ModelUnresponsiveError, match="no reply"):
        ask(backend)
    assert bedrock_emulator.counts["hung"] == 2  # retried once, not five times
    assert ask(backend).text  # the next call is answered


def test_deadlines_grow_with_max_tokens_and_model_speed():
    opus = "global.anthropic.claude-opus-4-5-20251101-v1:0"
    assert call_deadline_s(NOVA, 100) < call_deadline_s(NOVA, 10_000)
    assert call_deadline_s(opus, 64_000) > 3_000  # long enough for a full-length reply
    assert call_deadline_s(opus, 1_000, 100) > call_deadline_s(NOVA, 1_000, 100)  # slower
    assert call_deadline_s(NOVA, 100, 100_000) > call_deadline_s(NOVA, 100, 100)  # long prompt


def test_a_hung_call_does_not_keep_the_process_alive(bedrock_emulator):
    code = f"""
import asyncio, threading
from plotpalette.config import Settings
from plotpalette.llm import ModelRequest, make_backend
url = {bedrock_emulator.endpoint_url!r}
backend = make_backend(Settings(backend="bedrock", bedrock_endpoint_url=url))
call = backend.generate(ModelRequest.from_prompt("cheap", "hi"))
loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_until_complete, args=(call,), daemon=True).start()
import time
for _ in range(600):  # until the call is in flight
    time.sleep(0.05)
    if backend.stats() and backend.stats()[0].in_flight:
        break
time.sleep(0.5)
print("exiting", flush=True)
"""
    bedrock_emulator.configure(failure_rate=1.0, failure_kinds=("hang",))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert bedrock_emulator.counts["hung"] == 1  # the call was in flight when it exited


# -- streaming ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"), [("stream_throttle", ThrottledError), ("stream_error", TransientModelError)]
)
def test_in_stream_errors_map_like_their_non_stream_forms(bedrock_emulator, kind, error):
    bedrock_emulator.script_failures([kind])
    backend = backend_for(bedrock_emulator)
    events = backend.stream(ModelRequest.from_prompt(NOVA, "A story.", max_tokens=80))
    with pytest.raises(error):
        texts = [e.text for e in events]
        assert texts  # never reached
    (stats,) = backend.stats()  # the stream was paced by the model's limiter
    assert stats.model == NOVA


def test_stream_respects_a_cost_cap(bedrock_emulator):
    from plotpalette.errors import BudgetExceededError
    from plotpalette.llm import PriceTable

    backend = backend_for(bedrock_emulator)
    request = ModelRequest.from_prompt(NOVA, "A story.", max_tokens=5000)
    with pytest.raises(BudgetExceededError):
        list(backend.stream(request, prices=PriceTable.load(), max_cost_usd=0.0001))
    assert bedrock_emulator.counts["requests"] == 0


@pytest.mark.parametrize("reason", ["content_filtered", "malformed_model_output"])
def test_other_stop_reasons_are_surfaced_as_such(bedrock_emulator, reason):
    bedrock_emulator.script_failures([reason])
    assert ask(backend_for(bedrock_emulator)).stop_reason == reason


# -- one limiter per model and Region ---------------------------------------------------------


def test_the_region_is_resolved_before_the_first_call(bedrock_emulator, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    backend = backend_for(bedrock_emulator)  # no region in the settings

    async def burst():
        requests = [ModelRequest.from_prompt("cheap", f"q {i}", max_tokens=10) for i in range(6)]
        return await asyncio.gather(*[backend.generate(r) for r in requests])

    asyncio.run(burst())
    (stats,) = backend.stats()  # one limiter, not one per Region guess
    assert stats.extra["region"] == "eu-west-1"
