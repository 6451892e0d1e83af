"""The deployed stack on moto's server (real template, real ``deploy``) with its
``s3://`` workspace: the starting point of every AWS Batch test.

moto's Batch API records compute environments, queues, job definitions and submitted
jobs but runs nothing (``use_docker`` off, set through moto's config endpoint);
:class:`plotpalette.testing.batch_sim.BatchSimulator` runs the submitted children.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests

from plotpalette import Workspace
from plotpalette.aws.deploy import deploy
from plotpalette.aws.moto_server import MotoServer, unique_name
from plotpalette.templates import TemplateLibrary
from plotpalette.testing import qa_template, topic_seeds
from tests.infra_support import _fix_moto_change_set_outputs, moto_template


@dataclass
class Stack:
    server: MotoServer
    outputs: dict[str, str]
    workspace: Workspace

    def client(self, service: str) -> Any:
        return self.server.client(service)


def _service_linked_role(server: MotoServer) -> str:
    """moto wants a ServiceRole on compute environments. moto's state is shared by every
    server in this process and other tests reset it, so look the role up each time."""
    iam = server.client("iam")
    path = "/aws-service-role/batch.amazonaws.com/"
    roles = iam.list_roles(PathPrefix=path)["Roles"]
    if roles:
        return roles[0]["Arn"]
    return iam.create_service_linked_role(AWSServiceName="batch.amazonaws.com")["Role"]["Arn"]


@pytest.fixture
def batch_stack(aws_env, tmp_path, isolated_env) -> Stack:
    """A fresh stack (unique name) deployed from infra/plotpalette.yaml, its outputs in
    the workspace config, and its s3:// workspace opened with a qa template saved."""
    _fix_moto_change_set_outputs()
    requests.post(
        f"{aws_env.endpoint_url}/moto-api/config", json={"batch": {"use_docker": False}}, timeout=10
    )
    template = moto_template(tmp_path / "stack.json", _service_linked_role(aws_env))
    result = deploy(
        unique_name("plotpalette-t"),
        env="dev",
        clients=aws_env.client,
        model_ids=["amazon.nova-micro-v1:0"],
        workspace=str(isolated_env),
        template=template,
        echo=lambda line: None,
        poll_s=0.05,
    )
    url = f"{result.outputs['workspace']}?table={result.outputs['table']}"
    ws = Workspace.open(url)
    TemplateLibrary(ws).save(qa_template("qa", output=False))
    return Stack(aws_env, result.outputs, ws)


SEEDS = topic_seeds(13, "t")
