"""The IAM pieces of Bedrock batch inference: the service role Bedrock assumes, the
submitters' PassRole, and `plotpalette deploy` writing batch_role_arn/batch_s3_uri."""

from __future__ import annotations

import ast
import json

import pytest

from plotpalette.config import Settings

from .infra_support import USER_POLICIES, load_template
from .test_infra_deploy import deploy_dev

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")
R = load_template()["Resources"]
BATCH_ACTIONS = {
    "bedrock:CreateModelInvocationJob",
    "bedrock:GetModelInvocationJob",
    "bedrock:ListModelInvocationJobs",
    "bedrock:StopModelInvocationJob",
}


def statements(resource: dict) -> list[dict]:
    return [s for p in resource["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_the_batch_role_reads_only_the_input_prefix_and_writes_only_the_output_prefix():
    by_action: dict[str, list[str]] = {}
    for s in statements(R["BedrockBatchRole"]):
        assert s["Effect"] == "Allow"
        for action in as_list(s["Action"]):
            by_action.setdefault(action, []).append(json.dumps(s["Resource"]))
    assert set(by_action) == {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}
    assert by_action["s3:GetObject"] == [
        '{"Fn::Sub": "${WorkspaceBucket.Arn}/workspace/batch/input/*"}'
    ]
    assert by_action["s3:PutObject"] == [
        '{"Fn::Sub": "${WorkspaceBucket.Arn}/workspace/batch/output/*"}'
    ]
    (listing,) = [s for s in statements(R["BedrockBatchRole"]) if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [
        "workspace/batch/input/*",
        "workspace/batch/output/*",
    ]


def test_workers_may_run_batch_jobs_and_pass_only_the_batch_role_only_to_bedrock():
    worker = statements(R["WorkerRole"])
    (jobs,) = [s for s in worker if BATCH_ACTIONS & set(as_list(s["Action"]))]
    assert set(jobs["Action"]) == BATCH_ACTIONS
    assert "model-invocation-job/*" in json.dumps(jobs["Resource"])
    assert "foundation-model/*" not in json.dumps(jobs["Resource"])  # configured models only
    (passing,) = [s for s in worker if "iam:PassRole" in as_list(s["Action"])]
    assert passing["Resource"] == {"Fn::GetAtt": ["BedrockBatchRole", "Arn"]}
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}
    }


def test_the_users_policy_passes_the_batch_role_only_to_bedrock():
    policy = load_template(USER_POLICIES)["Resources"]["UsePolicy"]["Properties"]
    use = policy["PolicyDocument"]["Statement"]
    assert any(set(as_list(s["Action"])) >= BATCH_ACTIONS for s in use)
    (passing,) = [s for s in use if "BedrockBatchRole" in json.dumps(s.get("Resource"))]
    assert passing["Action"] == "iam:PassRole"
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == "bedrock.amazonaws.com"


def test_deploy_writes_the_batch_role_and_staging_prefix_into_the_settings(
    infra_aws, moto_stack_template, isolated_env
):
    result, lines = deploy_dev(infra_aws, moto_stack_template, isolated_env)
    settings = Settings.load()
    assert settings.batch_role_arn == result.outputs["bedrock_batch_role_arn"]
    assert settings.batch_role_arn.startswith("arn:aws:iam::")
    bucket = result.outputs["bucket"]
    assert settings.batch_s3_uri == f"s3://{bucket}/workspace/batch/"
    assert any("batch_role_arn, batch_s3_uri written to" in line for line in lines)
    # the role Bedrock assumes reads exactly where the settings stage the input
    iam = infra_aws("iam")
    name = settings.batch_role_arn.rsplit("/", 1)[1]
    (policy,) = iam.list_role_policies(RoleName=name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
    if isinstance(document, str):  # moto returns the template's mapping as Python text
        document = ast.literal_eval(document)
    reads = [s["Resource"] for s in document["Statement"] if s["Action"] == "s3:GetObject"]
    prefix = settings.batch_s3_uri.removeprefix("s3://")
    assert reads == [f"arn:aws:s3:::{prefix}input/*"]
