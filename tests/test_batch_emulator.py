"""The batch control-plane emulator through a real boto3 ``bedrock`` client (real HTTP)
with moto's S3 server, and plotpalette's BatchClient on top of it."""

from __future__ import annotations

import json

import boto3
import botocore.exceptions
import pytest

from plotpalette.config import Settings
from plotpalette.errors import BatchInferenceError, ConfigError
from plotpalette.llm.bedrock_batch import BatchClient, split_s3_uri
from plotpalette.testing.batch_emulator import BatchEmulator

ROLE = "arn:aws:iam::123456789012:role/batch"
MODEL = "amazon.nova-micro-v1:0"


@pytest.fixture
def emu(aws_env):
    bucket = aws_env.bucket()
    with BatchEmulator(aws_env.client("s3"), error_rate=0.25) as emu:
        emu.bucket = bucket
        emu.bedrock = boto3.client(
            "bedrock", region_name="us-east-1", endpoint_url=emu.endpoint_url
        )
        yield emu


def _stage(aws_env, bucket, n=12, key="in/records.jsonl"):
    lines = [
        {
            "recordId": f"r{i}",
            "modelInput": {
                "messages": [{"role": "user", "content": [{"text": f"Say something about {i}"}]}],
                "inferenceConfig": {"maxTokens": 30},
            },
        }
        for i in range(n)
    ]
    body = "".join(json.dumps(x) + "\n" for x in lines).encode()
    aws_env.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def _create(emu, input_uri, token="tok-1", name="job-1"):
    return emu.bedrock.create_model_invocation_job(
        jobName=name,
        roleArn=ROLE,
        clientRequestToken=token,
        modelId=MODEL,
        modelInvocationType="Converse",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{emu.bucket}/out/"}},
    )["jobArn"]


def test_lifecycle_output_and_manifest(emu, aws_env):
    arn = _create(emu, _stage(aws_env, emu.bucket))
    assert _create(emu, _stage(aws_env, emu.bucket)) == arn  # same token, same job
    seen = []
    for _ in range(6):
        seen.append(emu.bedrock.get_model_invocation_job(jobIdentifier=arn)["status"])
        emu.advance()
    assert seen[:5] == ["Submitted", "Validating", "Scheduled", "InProgress", "PartiallyCompleted"]
    job = emu.bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["modelInvocationType"] == "Converse"
    assert job["totalRecordCount"] == 12 and job["errorRecordCount"] > 0
    assert job["successRecordCount"] + job["errorRecordCount"] == 12
    folder = f"out/{arn.rsplit('/', 1)[-1]}"
    s3 = aws_env.client("s3")
    out = s3.get_object(Bucket=emu.bucket, Key=f"{folder}/records.jsonl.out")["Body"].read()
    lines = [json.loads(x) for x in out.decode().splitlines()]
    ids = [x["recordId"] for x in lines]
    assert sorted(ids) == sorted(f"r{i}" for i in range(12)) and ids != sorted(
        ids, key=lambda s: int(s[1:])
    )
    errors = [x for x in lines if "error" in x]
    assert len(errors) == job["errorRecordCount"]
    assert all(set(x["error"]) == {"errorCode", "errorMessage"} for x in errors)
    ok = [x for x in lines if "modelOutput" in x]
    assert all(x["modelOutput"]["usage"]["outputTokens"] > 0 for x in ok)
    manifest = json.loads(
        s3.get_object(Bucket=emu.bucket, Key=f"{folder}/manifest.json.out")["Body"].read()
    )
    assert manifest["successRecordCount"] == len(ok)
    assert manifest["outputTokenCount"] == sum(
        x["modelOutput"]["usage"]["outputTokens"] for x in ok
    )
    assert emu.billed_records == len(ok) and emu.billed_usd > 0


def test_list_and_stop(emu, aws_env):
    uri = _stage(aws_env, emu.bucket)
    first = _create(emu, uri, "a", "first")
    second = _create(emu, uri, "b", "second")
    names = {
        j["jobName"] for j in emu.bedrock.list_model_invocation_jobs()["invocationJobSummaries"]
    }
    assert names == {"first", "second"}
    found = emu.bedrock.list_model_invocation_jobs(nameContains="sec")["invocationJobSummaries"]
    assert [j["jobArn"] for j in found] == [second]
    emu.bedrock.stop_model_invocation_job(jobIdentifier=first)
    assert emu.bedrock.get_model_invocation_job(jobIdentifier=first)["status"] == "Stopping"
    emu.advance(first)
    assert emu.bedrock.get_model_invocation_job(jobIdentifier=first)["status"] == "Stopped"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        emu.bedrock.stop_model_invocation_job(jobIdentifier=first)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert emu.billed_usd == 0  # a stopped job answered nothing here


@pytest.mark.parametrize("outcome", ["Failed", "Expired"])
def test_failed_and_expired(emu, aws_env, outcome):
    emu.outcome = outcome
    arn = _create(emu, _stage(aws_env, emu.bucket))
    emu.finish(arn)
    job = emu.bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == outcome and job["message"]


def test_missing_input_fails_validation(emu):
    arn = _create(emu, f"s3://{emu.bucket}/nothing-here.jsonl")
    emu.advance(arn)
    job = emu.bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Failed" and "not found" in job["message"]


def test_refuses_bad_requests(emu, aws_env):
    uri = _stage(aws_env, emu.bucket)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        emu.bedrock.create_model_invocation_job(
            jobName="x",
            roleArn="not-a-role",
            modelId=MODEL,
            modelInvocationType="Converse",
            inputDataConfig={"s3InputDataConfig": {"s3Uri": uri}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{emu.bucket}/out/"}},
        )
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        emu.bedrock.get_model_invocation_job(jobIdentifier="nope")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_batch_client_round_trip(emu, aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", emu.endpoint_url)
    client = BatchClient(Settings(backend="bedrock", region="us-east-1"))
    uri = f"s3://{emu.bucket}/stage/in.jsonl"
    client.put_jsonl(
        uri,
        [
            {
                "recordId": "1",
                "modelInput": {
                    "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                    "inferenceConfig": {"maxTokens": 5},
                },
            }
        ],
    )
    arn = client.create_job(
        name="rt",
        model=MODEL,
        role_arn=ROLE,
        input_uri=uri,
        output_uri=f"s3://{emu.bucket}/stage/out/",
        token="t",
    )
    emu.error_rate = 0.0
    emu.finish(arn)
    status = client.get_job(arn)
    assert status.terminal and status.status == "Completed"
    assert status.counts == {"total": 1, "processed": 1, "success": 1, "error": 0}
    lines, manifest = client.read_output(status, uri)
    assert [x["recordId"] for x in lines] == ["1"] and manifest["totalRecordCount"] == 1
    client.stop_job(arn)  # already ended: nothing to do, no error
    assert client.list_jobs("rt")[0]["jobArn"] == arn
    with pytest.raises(BatchInferenceError) as exc:
        client.get_job("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/nope")
    assert exc.value.code == "PP411"


def test_s3_uri_errors_name_the_setting():
    assert split_s3_uri("s3://b/p/q/") == ("b", "p/q")
    with pytest.raises(ConfigError, match="batch_s3_uri"):
        split_s3_uri("/tmp/x")
    with pytest.raises(ConfigError, match="batch_s3_uri"):
        Settings.load(batch_s3_uri="bucket/prefix")
    with pytest.raises(ConfigError, match="batch_min_records"):
        Settings.load(batch_min_records="many")
    with pytest.raises(ConfigError, match="batch_min_records"):
        Settings.load(batch_min_records=0)
