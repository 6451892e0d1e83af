"""Shared pieces of the infra tests: the parsed template, and moto's threaded server
(real HTTP) with boto3 pointed at it through ``AWS_ENDPOINT_URL``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plotpalette.aws.diagram import load_template as _load

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "plotpalette.yaml"
USER_POLICIES = ROOT / "infra" / "user-policies.yaml"

# Resource types moto's CloudFormation cannot create. The tests assert their
# properties on the parsed template instead (test_infra_template.py).
MOTO_MISSING = {
    "AWS::Backup::BackupVault",
    "AWS::Backup::BackupPlan",
    "AWS::Backup::BackupSelection",
}


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return _load(path)


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def moto_template(dest: Path, service_role_arn: str) -> Path:
    """The real template minus what moto cannot create, plus the ``ServiceRole`` moto
    insists on for Batch compute environments (AWS itself uses its service-linked
    role when it is absent). Nothing else changes."""
    t = load_template()
    dropped = [k for k, v in t["Resources"].items() if v["Type"] in MOTO_MISSING]
    for k in dropped:
        del t["Resources"][k]
    for k in [k for k, v in t["Outputs"].items() if any(d in json.dumps(v) for d in dropped)]:
        del t["Outputs"][k]
    for ce in resources(t, "AWS::Batch::ComputeEnvironment").values():
        ce["Properties"]["ServiceRole"] = service_role_arn
    dest.write_text(json.dumps(t), encoding="utf-8")
    return dest


def _fix_moto_change_set_outputs() -> None:
    """moto 5.2 executes a change set without computing the stack's outputs (its
    ``create_stack`` does compute them). The server runs in this process, so fix the
    emulator here rather than bend the deploy code around it."""
    from moto.cloudformation.models import CloudFormationBackend

    if getattr(CloudFormationBackend.execute_change_set, "_pp_fixed", False):
        return
    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: Any = None) -> None:
        original(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack.name == stack_name or stack.stack_id == stack_name:
                stack._parse_template()
                stack.output_map = stack._create_output_map()

    execute_change_set._pp_fixed = True  # type: ignore[attr-defined]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def infra_moto_url():
    """One moto server for the session (state is reset for each test)."""
    from moto.server import ThreadedMotoServer

    _fix_moto_change_set_outputs()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    yield url
    server.stop()


@pytest.fixture
def infra_aws(infra_moto_url, monkeypatch):
    """boto3 (and the CLI) talk to the moto server; returns a client factory."""
    import boto3
    import requests

    requests.post(f"{infra_moto_url}/moto-api/reset", timeout=10)
    requests.post(
        f"{infra_moto_url}/moto-api/config", json={"batch": {"use_docker": False}}, timeout=10
    )
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": infra_moto_url,
    }.items():
        monkeypatch.setenv(name, value)
    cache: dict[str, Any] = {}

    def client(name: str) -> Any:
        if name not in cache:
            cache[name] = boto3.client(name, region_name="us-east-1", endpoint_url=infra_moto_url)
        return cache[name]

    return client


@pytest.fixture
def moto_stack_template(infra_aws, tmp_path):
    """The moto-ready template file (needs the Batch service-linked role to exist)."""
    arn = infra_aws("iam").create_service_linked_role(AWSServiceName="batch.amazonaws.com")["Role"][
        "Arn"
    ]
    return moto_template(tmp_path / "stack.json", arn)


def subscribed_queue(infra_aws: Any, topic_name: str) -> tuple[str, str]:
    """An SNS topic on moto with a fresh SQS queue subscribed: ``(topic arn, queue url)``."""
    sns, sqs = infra_aws("sns"), infra_aws("sqs")
    topic = sns.create_topic(Name=topic_name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{topic_name}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    return topic, queue
