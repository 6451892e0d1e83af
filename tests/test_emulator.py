"""The Bedrock emulator speaks the runtime protocol a real boto3 client expects."""

# ruff: noqa: F811 - the bedrock_emulator fixture is imported, then used as an argument

from __future__ import annotations

import json

import boto3
import jsonschema
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from plotpalette.llm.tokens import approx_tokens
from plotpalette.testing import BedrockEmulator
from plotpalette.testing.eventstream import encode_event
from plotpalette.testing.pytest_plugin import bedrock_emulator  # noqa: F401 - fixture

NOVA = "amazon.nova-micro-v1:0"
NATIVE = "openai.gpt-oss-20b-1:0"  # a model with native structured output
MSG = [{"role": "user", "content": [{"text": "Describe a lighthouse."}]}]


def client_for(emulator):
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=emulator.endpoint_url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def test_converse_is_deterministic_and_usage_is_consistent(bedrock_emulator):
    client = client_for(bedrock_emulator)
    first = client.converse(modelId=NOVA, messages=MSG)
    again = client.converse(modelId=NOVA, messages=MSG)
    text = first["output"]["message"]["content"][0]["text"]
    assert text == again["output"]["message"]["content"][0]["text"]
    usage = first["usage"]
    assert usage["inputTokens"] == approx_tokens("Describe a lighthouse.")
    assert usage["outputTokens"] == approx_tokens(text)
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    other = client.converse(
        modelId=NOVA, messages=[{"role": "user", "content": [{"text": "Other."}]}]
    )
    assert other["output"]["message"]["content"][0]["text"] != text


def test_max_tokens_and_stop_sequences(bedrock_emulator):
    client = client_for(bedrock_emulator)
    cut = client.converse(modelId=NOVA, messages=MSG, inferenceConfig={"maxTokens": 3})
    assert cut["stopReason"] == "max_tokens" and cut["usage"]["outputTokens"] <= 3
    full = client.converse(modelId=NOVA, messages=MSG)["output"]["message"]["content"][0]["text"]
    word = full.split()[2]
    stopped = client.converse(modelId=NOVA, messages=MSG, inferenceConfig={"stopSequences": [word]})
    assert stopped["stopReason"] == "stop_sequence"
    assert word not in stopped["output"]["message"]["content"][0]["text"]


def test_json_schema_output_satisfies_the_schema(bedrock_emulator):
    schema = {
        "type": "object",
        "required": ["items", "kind"],
        "properties": {
            "kind": {"enum": ["a", "b"]},
            "items": {
                "type": "array",
                "minItems": 2,
                "maxItems": 4,
                "items": {"$ref": "#/$defs/item"},
            },
        },
        "$defs": {
            "item": {
                "type": "object",
                "required": ["n", "ok"],
                "properties": {
                    "n": {"type": "number", "minimum": 3, "maximum": 9},
                    "ok": {"type": "boolean"},
                    "note": {"type": ["string", "null"], "maxLength": 12},
                },
            }
        },
    }
    client = client_for(bedrock_emulator)
    out = client.converse(
        modelId=NATIVE,
        messages=MSG,
        outputConfig={
            "textFormat": {
                "type": "json_schema",
                "structure": {"jsonSchema": {"schema": json.dumps(schema)}},
            }
        },
    )
    jsonschema.validate(json.loads(out["output"]["message"]["content"][0]["text"]), schema)


def test_invalid_schema_is_a_validation_exception(bedrock_emulator):
    client = client_for(bedrock_emulator)
    with pytest.raises(ClientError) as info:
        client.converse(
            modelId=NATIVE,
            messages=MSG,
            outputConfig={
                "textFormat": {
                    "type": "json_schema",
                    "structure": {"jsonSchema": {"schema": '{"type": 5}'}},
                }
            },
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "not a valid JSON schema" in info.value.response["Error"]["Message"]


def test_converse_stream_is_decoded_by_botocore(bedrock_emulator):
    client = client_for(bedrock_emulator)
    events = list(client.converse_stream(modelId=NOVA, messages=MSG)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    assert events[-1]["metadata"]["usage"]["outputTokens"] == approx_tokens(text)


def test_eventstream_frame_layout():
    import struct
    import zlib

    frame = encode_event("messageStop", {"stopReason": "end_turn"})
    total, headers_len = struct.unpack(">II", frame[:8])
    assert total == len(frame)
    assert struct.unpack(">I", frame[8:12])[0] == zlib.crc32(frame[:8])
    assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(frame[:-4])
    assert json.loads(frame[12 + headers_len : -4]) == {"stopReason": "end_turn"}


def test_invoke_model_answers_in_the_family_format(bedrock_emulator):
    client = client_for(bedrock_emulator)
    body = json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "Hi there"}],
        }
    )
    out = json.loads(
        client.invoke_model(modelId="us.anthropic.claude-haiku-4-5-20251001-v1:0", body=body)[
            "body"
        ].read()
    )
    assert out["stop_reason"] == "max_tokens" and out["usage"]["output_tokens"] <= 8
    llama = json.loads(
        client.invoke_model(
            modelId="meta.llama3-1-8b-instruct-v1:0", body=json.dumps({"prompt": "Hi"})
        )["body"].read()
    )
    assert llama["generation"] and llama["prompt_token_count"] == 1


def test_rpm_quota_answers_throttling_exception(bedrock_emulator):
    bedrock_emulator.configure(rpm=60, burst_s=2)  # a bucket of 2 requests
    client = client_for(bedrock_emulator)
    client.converse(modelId=NOVA, messages=MSG)
    client.converse(modelId=NOVA, messages=MSG)
    with pytest.raises(ClientError) as info:
        client.converse(modelId=NOVA, messages=MSG)
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    # quotas are per model
    client.converse(modelId="amazon.nova-lite-v1:0", messages=MSG)


def test_tpm_quota_reserves_max_tokens(bedrock_emulator):
    bedrock_emulator.configure(tpm=600, burst_s=1)  # a bucket of 10 tokens
    client = client_for(bedrock_emulator)
    client.converse(modelId=NOVA, messages=MSG, inferenceConfig={"maxTokens": 200})  # full
    with pytest.raises(ClientError, match="ThrottlingException"):
        client.converse(modelId=NOVA, messages=MSG, inferenceConfig={"maxTokens": 5})


@pytest.mark.parametrize(
    "kind, code",
    [
        ("500", "InternalServerException"),
        ("503", "ServiceUnavailableException"),
        ("408", "ModelTimeoutException"),
    ],
)
def test_scripted_http_failures(bedrock_emulator, kind, code):
    bedrock_emulator.script_failures([kind])
    client = client_for(bedrock_emulator)
    with pytest.raises(ClientError) as info:
        client.converse(modelId=NOVA, messages=MSG)
    assert info.value.response["Error"]["Code"] == code
    assert client.converse(modelId=NOVA, messages=MSG)["stopReason"]  # script consumed


def test_connection_reset_and_malformed_body(bedrock_emulator):
    from botocore.exceptions import ConnectionClosedError

    bedrock_emulator.script_failures(["reset", "malformed"])
    client = client_for(bedrock_emulator)
    with pytest.raises(ConnectionClosedError):
        client.converse(modelId=NOVA, messages=MSG)
    assert "output" not in client.converse(modelId=NOVA, messages=MSG)


def test_failure_rate_is_seeded(bedrock_emulator):
    bedrock_emulator.configure(failure_rate=0.5, failure_kinds=("500",), seed=3)
    client = client_for(bedrock_emulator)
    outcomes = []
    for _ in range(20):
        try:
            client.converse(modelId=NOVA, messages=MSG)
            outcomes.append("ok")
        except ClientError:
            outcomes.append("500")
    assert 3 < outcomes.count("500") < 17


def test_unknown_model_no_access_and_unsigned_requests(bedrock_emulator):
    import urllib.request

    client = client_for(bedrock_emulator)
    with pytest.raises(ClientError, match="model identifier is invalid"):
        client.converse(modelId="acme.nothing", messages=MSG)
    bedrock_emulator.configure(no_access={NOVA})
    with pytest.raises(ClientError, match="AccessDeniedException"):
        client.converse(modelId=NOVA, messages=MSG)
    request = urllib.request.Request(
        f"{bedrock_emulator.endpoint_url}/model/x/converse", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 403


def test_latency_is_applied_and_configure_rejects_unknown_names():
    with BedrockEmulator(latency_median_s=0.05) as emulator:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=emulator.endpoint_url,
            aws_access_key_id="a",
            aws_secret_access_key="b",
        )
        reply = client.converse(modelId=NOVA, messages=MSG)
        assert reply["metrics"]["latencyMs"] >= 50  # the injected latency, as Bedrock reports it
        with pytest.raises(TypeError, match="unknown emulator setting"):
            emulator.configure(latency=1)
        with pytest.raises(ValueError, match="unknown failure kind"):
            emulator.script_failures(["boom"])
