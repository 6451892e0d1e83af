"""Submitting jobs to AWS Batch: what reached Batch (moto records it), the stack it
runs on, and cancel/status/delete across the fleet. The simulator runs are in
test_aws_batch_sim.py."""

from __future__ import annotations

import json

import pytest

from plotpalette import JobSpec, JobState, cancel_job, job_status, run_job, submit_job
from plotpalette.cli import main
from plotpalette.errors import ConfigError
from tests.batch_fixtures import SEEDS

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


def _spec(**kw):
    kw.setdefault("template", "qa")
    kw.setdefault("seeds", SEEDS)
    kw.setdefault("records", 40)
    kw.setdefault("budget_usd", 1.0)
    return JobSpec(**kw)


def _submitted(stack, batch_job_id):
    return stack.client("batch").describe_jobs(jobs=[batch_job_id])["jobs"][0]


def test_submit_sends_one_array_job_of_n_workers_on_the_stacks_queue(batch_stack):
    stack = batch_stack
    done = submit_job(stack.workspace, _spec(runtime="aws", workers=4))

    job = _submitted(stack, done.batch_job_id)
    assert job["arrayProperties"]["size"] == 4
    assert job["jobQueue"] == stack.outputs["job_queue"]
    assert job["jobDefinition"] == stack.outputs["job_definition"]
    assert job["parameters"] == {"job_id": done.job_id}
    env = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert env["PLOTPALETTE_JOB_ID"] == done.job_id
    assert env["PLOTPALETTE_WORKSPACE"] == stack.workspace.location
    assert env["AWS_REGION"] == "us-east-1"
    # no credentials travel with the job: the task role provides them
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)

    # the job is in the shared registry, QUEUED until a worker joins, with its Batch id
    info = job_status(stack.workspace.location, done.job_id)
    assert info.state is JobState.QUEUED
    assert info.aws["batch_job_id"] == done.batch_job_id and info.aws["workers"] == 4
    assert info.spec["runtime"] == "aws" and info.spec["backend"] == "bedrock"


def test_the_job_definition_runs_the_worker_and_retries_only_interruptions(batch_stack):
    stack = batch_stack
    batch = stack.client("batch")
    done = submit_job(stack.workspace, _spec(), workers=2)
    definition = batch.describe_job_definitions(
        jobDefinitions=[_submitted(stack, done.batch_job_id)["jobDefinition"]]
    )["jobDefinitions"][0]
    container = definition["containerProperties"]
    # the wheelhouse bootstrap `exec`s the worker, so SIGTERM reaches Python (PID 1)
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert container["command"][2].rstrip().endswith('exec "$@"')
    assert container["command"][-3:] == ["-m", "plotpalette.jobs.worker", "Ref::job_id"]
    env = {e["name"] for e in container["environment"]}
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & env
    rules = definition["retryStrategy"]["evaluateOnExit"]
    actions = [(r.get("onExitCode"), r.get("onStatusReason"), r["action"].upper()) for r in rules]
    assert ("5", None, "RETRY") in actions  # the worker's "interrupted" exit code
    assert (None, "Your Spot Task was interrupted*", "RETRY") in actions
    assert rules[-1].get("onReason") == "*" and rules[-1]["action"].upper() == "EXIT"
    assert definition["retryStrategy"]["attempts"] >= 3

    # Fargate Spot first in the queue
    queue = batch.describe_job_queues(jobQueues=[stack.outputs["job_queue"]])["jobQueues"][0]
    order = sorted(queue["computeEnvironmentOrder"], key=lambda o: o["order"])
    first = order[0]["computeEnvironment"]
    first = batch.describe_compute_environments(computeEnvironments=[first])
    assert first["computeEnvironments"][0]["computeResources"]["type"] == "FARGATE_SPOT"


def test_one_worker_is_a_single_job_not_an_array(batch_stack):
    done = submit_job(batch_stack.workspace, _spec())
    job = _submitted(batch_stack, done.batch_job_id)
    assert not job.get("arrayProperties", {}).get("size")
    assert done.workers == 1


def test_submit_from_the_cli_returns_at_once_and_status_shows_the_batch_job(
    batch_stack, capsys, tmp_path
):
    ws = batch_stack.workspace.location
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"template": "qa", "seeds": "sample:poetry", "records": 10}))
    assert main(["--workspace", ws, "--json", "submit", str(spec), "--workers", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workers"] == 3
    job = _submitted(batch_stack, out["batch_job_id"])
    assert job["arrayProperties"]["size"] == 3 and job["parameters"]["job_id"] == out["job_id"]

    assert main(["--workspace", ws, "status", out["job_id"]]) == 0
    text = capsys.readouterr().out
    assert f"Batch job {out['batch_job_id']}, 3 worker(s)" in text


def test_cancel_terminates_the_batch_job_and_cancels_the_job(batch_stack):
    from plotpalette.aws.session import request_counts, reset_request_counts

    done = submit_job(batch_stack.workspace, _spec(), workers=2)
    reset_request_counts()
    info = cancel_job(batch_stack.workspace, done.job_id)
    assert info.state is JobState.CANCELLED
    assert request_counts().get("batch.TerminateJob") == 1
    events = [e for e in batch_stack.workspace.registry.events(done.job_id) if e[1] == "terminated"]
    assert events and events[0][2]["batch_job_ids"] == [done.batch_job_id]


def test_runtime_aws_is_refused_by_run_job_and_needs_an_s3_workspace(batch_stack, workspace):
    with pytest.raises(ConfigError, match="submit_job"):
        run_job(batch_stack.workspace, _spec(runtime="aws"))
    with pytest.raises(ConfigError, match="s3:// workspace"):
        submit_job(workspace, _spec(runtime="aws"))


def test_submit_without_a_deployed_stack_names_deploy(aws_env, s3_bucket):
    from plotpalette import Workspace
    from plotpalette.aws.dynamo import create_table
    from plotpalette.aws.moto_server import unique_name

    table = unique_name("pp-registry")
    create_table(aws_env.client("dynamodb"), table)
    ws = Workspace.open(f"s3://{s3_bucket}/ws?table={table}")
    with pytest.raises(ConfigError, match="plotpalette deploy"):
        submit_job(ws, JobSpec(template="qa", seeds="sample:poetry"))
