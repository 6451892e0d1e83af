"""`plotpalette deploy / stack / outputs / teardown` against moto's server (real HTTP)."""

from __future__ import annotations

import json
import zipfile

import pytest
import yaml

from plotpalette.aws.deploy import deploy, read_outputs
from plotpalette.aws.stack_ops import stack_status, teardown
from plotpalette.cli import main
from plotpalette.config import Settings
from plotpalette.errors import StackError, TeardownRefusedError

# moto warns about each resource type its CloudFormation skips; test_infra_template
# asserts those resources on the template itself.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")

MODELS = ["amazon.nova-micro-v1:0", "global.anthropic.claude-haiku-4-5-20251001-v1:0"]


def fake_wheelhouse(folder, version="9.9.9"):
    """A folder with a (minimal, valid zip) plotpalette wheel and one dependency."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (f"plotpalette-{version}-py3-none-any.whl", "tqdm-4.66.0-py3-none-any.whl"):
        with zipfile.ZipFile(folder / name, "w") as zf:
            zf.writestr("METADATA", name)
    return folder


def deploy_dev(infra_aws, template, workspace, **kw):
    lines = []
    result = deploy(
        "plotpalette-dev",
        env="dev",
        clients=infra_aws,
        model_ids=MODELS,
        workspace=str(workspace),
        template=template,
        echo=lines.append,
        poll_s=0.05,
        **kw,
    )
    return result, lines


def test_deploy_shows_the_change_set_applies_it_and_writes_outputs(
    infra_aws, moto_stack_template, isolated_env, tmp_path
):
    seen = []
    result, lines = deploy_dev(
        infra_aws,
        moto_stack_template,
        isolated_env,
        confirm=lambda plan: seen.append(plan) or True,
        wheelhouse=fake_wheelhouse(tmp_path / "wh"),
    )
    assert result.applied and result.status == "CREATE_COMPLETE"
    # The change set was shown before it was applied, listing the stack's resources.
    assert seen and seen[0].kind == "CREATE"
    shown = {row["resource"] for row in seen[0].rows}
    assert {"WorkspaceBucket", "RegistryTable", "JobQueue", "WorkerJobDefinition"} <= shown
    assert lines.index(seen[0].table()) < next(
        i for i, line in enumerate(lines) if line.startswith("applying")
    )
    # Progress: the stack's events were echoed while it was created.
    assert any("CREATE_COMPLETE" in line and "plotpalette-dev" in line for line in lines)

    # Outputs land in the local workspace config; Settings reads them back.
    settings = Settings.load()
    assert settings.aws["table"] == result.outputs["table"]
    assert settings.aws["job_queue"].startswith("arn:aws:batch:us-east-1:")
    assert settings.aws["region"] == "us-east-1" and settings.aws["stack"] == "plotpalette-dev"
    # ... and in the bucket's workspace/config.yaml, for s3:// workspaces and the workers.
    bucket = result.outputs["bucket"]
    remote = yaml.safe_load(
        infra_aws("s3").get_object(Bucket=bucket, Key="workspace/config.yaml")["Body"].read()
    )
    assert remote["aws"]["table"] == result.outputs["table"]

    # The table is the registry's: pk/sk keys, on demand.
    table = infra_aws("dynamodb").describe_table(TableName=result.outputs["table"])["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    # The wheelhouse was uploaded with a manifest.
    keys = {
        o["Key"]
        for o in infra_aws("s3").list_objects_v2(Bucket=bucket, Prefix="wheelhouse/")["Contents"]
    }
    assert "wheelhouse/plotpalette-9.9.9-py3-none-any.whl" in keys
    manifest = json.loads(
        infra_aws("s3").get_object(Bucket=bucket, Key="wheelhouse/manifest.json")["Body"].read()
    )
    assert len(manifest["wheels"]) == 2

    # The job definition: Fargate, x86_64, retry on exit code 5 and Spot reclaims.
    jd = infra_aws("batch").describe_job_definitions(
        jobDefinitions=[result.outputs["job_definition"]]
    )
    jd = jd["jobDefinitions"][0]
    assert jd["containerProperties"]["runtimePlatform"]["cpuArchitecture"] == "X86_64"
    rules = [
        {k: str(v).upper() for k, v in r.items()} for r in jd["retryStrategy"]["evaluateOnExit"]
    ]
    assert {"onExitCode": "5", "action": "RETRY"} in rules
    assert rules[-1] == {"onReason": "*", "action": "EXIT"}


def test_a_second_deploy_uploads_new_wheels_and_removes_stale_ones(
    infra_aws, moto_stack_template, isolated_env, tmp_path
):
    deploy_dev(
        infra_aws, moto_stack_template, isolated_env, wheelhouse=fake_wheelhouse(tmp_path / "a")
    )
    result, _ = deploy_dev(
        infra_aws,
        moto_stack_template,
        isolated_env,
        wheelhouse=fake_wheelhouse(tmp_path / "b", version="9.9.10"),
    )
    bucket = result.outputs["bucket"]
    keys = {
        o["Key"]
        for o in infra_aws("s3").list_objects_v2(Bucket=bucket, Prefix="wheelhouse/")["Contents"]
    }
    assert "wheelhouse/plotpalette-9.9.10-py3-none-any.whl" in keys
    assert "wheelhouse/plotpalette-9.9.9-py3-none-any.whl" not in keys


def test_declining_the_change_set_changes_nothing(infra_aws, moto_stack_template, isolated_env):
    result, lines = deploy_dev(
        infra_aws, moto_stack_template, isolated_env, confirm=lambda plan: False
    )
    assert not result.applied
    assert "not applied; the change set was deleted" in lines
    stacks = infra_aws("cloudformation").list_stacks()["StackSummaries"]
    assert all(
        s["StackStatus"] == "REVIEW_IN_PROGRESS"
        for s in stacks
        if s["StackName"] == "plotpalette-dev"
    )
    assert infra_aws("s3").list_buckets()["Buckets"] == []


def test_stack_names_outside_the_policies_scope_are_refused(infra_aws, moto_stack_template):
    with pytest.raises(StackError, match="does not start with 'plotpalette'") as err:
        deploy(
            "my-stack", env="dev", clients=infra_aws, model_ids=MODELS, template=moto_stack_template
        )
    assert "plotpalette-dev" in err.value.fix


def test_status_lists_jobs_and_teardown_refuses_while_they_run(
    infra_aws, moto_stack_template, isolated_env
):
    result, _ = deploy_dev(infra_aws, moto_stack_template, isolated_env)
    out = result.outputs
    job_id = infra_aws("batch").submit_job(
        jobName="pp-job-1", jobQueue=out["job_queue"], jobDefinition=out["job_definition"]
    )["jobId"]
    # moto's Batch (no Docker) marks every job SUCCEEDED at once; put this one back to
    # RUNNING, as a real worker would be (the server runs in this process).
    from moto.batch.models import batch_backends

    batch_backends["123456789012"]["us-east-1"].get_job_by_id(job_id).status = "RUNNING"
    status = stack_status("plotpalette-dev", clients=infra_aws)
    assert status["status"] == "CREATE_COMPLETE"
    assert [j["name"] for j in status["jobs"]] == ["pp-job-1"]
    with pytest.raises(TeardownRefusedError, match="pp-job-1"):
        teardown("plotpalette-dev", clients=infra_aws, echo=lambda _: None, poll_s=0.05)
    # Refused means untouched.
    assert read_outputs(infra_aws("cloudformation"), "plotpalette-dev")["table"] == out["table"]


def test_teardown_keeps_a_bucket_with_data_and_deletes_the_unprotected_table(
    infra_aws, moto_stack_template, isolated_env
):
    result, _ = deploy_dev(infra_aws, moto_stack_template, isolated_env)
    bucket, table = result.outputs["bucket"], result.outputs["table"]
    report = teardown("plotpalette-dev", clients=infra_aws, echo=lambda _: None, poll_s=0.05)
    assert any(k.startswith(f"bucket {bucket}") for k in report.kept)  # holds config.yaml
    assert any(k.startswith("KMS key") for k in report.kept)
    assert f"table {table} (deletion protection off)" in report.deleted
    assert bucket in {b["Name"] for b in infra_aws("s3").list_buckets()["Buckets"]}
    assert table not in infra_aws("dynamodb").list_tables()["TableNames"]
    assert stack_status("plotpalette-dev", clients=infra_aws)["status"] == "NOT_DEPLOYED"


def test_teardown_deletes_an_empty_bucket(infra_aws, moto_stack_template, isolated_env):
    result, _ = deploy_dev(infra_aws, moto_stack_template, isolated_env)
    bucket = result.outputs["bucket"]
    s3 = infra_aws("s3")
    for v in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    report = teardown("plotpalette-dev", clients=infra_aws, echo=lambda _: None, poll_s=0.05)
    assert f"bucket {bucket} (empty)" in report.deleted
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_cli_deploy_outputs_stack_and_teardown(
    infra_aws, moto_stack_template, isolated_env, capsys
):
    code = main(
        [
            "deploy",
            "--yes",
            "--no-wheelhouse",
            "--template",
            str(moto_stack_template),
            "--model",
            MODELS[0],
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "CREATE_COMPLETE"
    assert main(["stack", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["stack"] == "plotpalette-dev" and status["jobs"] == []
    assert main(["outputs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"]["table"] == out["outputs"]["table"]
    assert main(["teardown", "--yes", "--json"]) == 0
    gone = json.loads(capsys.readouterr().out)
    assert gone["deleted"][0] == "stack plotpalette-dev"


def test_cli_deploy_without_a_terminal_asks_for_yes(infra_aws, moto_stack_template, capsys):
    code = main(["deploy", "--no-wheelhouse", "--template", str(moto_stack_template)])
    err = capsys.readouterr().err
    assert code == 1 and "--yes" in err


def test_worker_bootstrap_fetches_the_wheelhouse_and_execs_the_entrypoint(
    infra_aws, infra_moto_url, tmp_path
):
    """Run the job definition's real command: wheel download from (moto's) S3, the
    offline install (already satisfied here, so the venv is left alone) and `exec`."""
    import os
    import subprocess
    import sys

    from plotpalette.aws.wheelhouse import upload_wheelhouse

    from .infra_support import load_template

    s3 = infra_aws("s3")
    s3.create_bucket(Bucket="plotpalette-dev-bucket")
    upload_wheelhouse(
        fake_wheelhouse(tmp_path / "wh"),
        "s3://plotpalette-dev-bucket/wheelhouse/",
        s3=s3,
        echo=lambda _: None,
    )
    command = load_template()["Resources"]["WorkerJobDefinition"]["Properties"][
        "ContainerProperties"
    ]["Command"]
    shell, flag, script, name = command[:4]
    bindir = os.path.dirname(sys.executable)
    env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "PLOTPALETTE_WHEELHOUSE": "s3://plotpalette-dev-bucket/wheelhouse/",
        "PIP_NO_INDEX": "1",  # never reach a package index from a test
        "PIP_DRY_RUN": "1",
        "AWS_ENDPOINT_URL": infra_moto_url,
    }
    proc = subprocess.Popen(
        [shell, flag, script, name, "python", "-c", "import os; print(os.getpid())"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    # exec: the entrypoint replaced the shell, so it has the shell's process id and
    # receives SIGTERM itself.
    assert out.strip().splitlines()[-1] == str(proc.pid)
    fetched = sorted(p.name for p in (tmp_path / "wh").iterdir())
    assert fetched == ["plotpalette-9.9.9-py3-none-any.whl", "tqdm-4.66.0-py3-none-any.whl"]


def test_a_failed_stack_is_explained_root_cause_first():
    from plotpalette.aws.stack_support import explain_failure

    # DescribeStackEvents order: newest first.
    events = [
        {
            "LogicalResourceId": "plotpalette-dev",
            "ResourceType": "AWS::CloudFormation::Stack",
            "ResourceStatus": "ROLLBACK_COMPLETE",
        },
        {
            "LogicalResourceId": "JobQueue",
            "ResourceType": "AWS::Batch::JobQueue",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "Resource creation cancelled",
        },
        {
            "LogicalResourceId": "WorkerRole",
            "ResourceType": "AWS::IAM::Role",
            "ResourceStatus": "CREATE_FAILED",
            "ResourceStatusReason": "User: arn:aws:iam::1:user/ann is not authorized to perform: "
            "iam:CreateRole on resource: plotpalette-dev-WorkerRole",
        },
        {
            "LogicalResourceId": "plotpalette-dev",
            "ResourceType": "AWS::CloudFormation::Stack",
            "ResourceStatus": "CREATE_IN_PROGRESS",
        },
        {
            "LogicalResourceId": "OldThing",
            "ResourceType": "AWS::S3::Bucket",
            "ResourceStatus": "DELETE_FAILED",
            "ResourceStatusReason": "from an earlier run",
        },
    ]
    causes = explain_failure(events, "plotpalette-dev")
    assert [c["resource"] for c in causes] == ["WorkerRole", "JobQueue"]
    assert causes[0]["root_cause"] == "yes" and "PlotPaletteDeploy" in causes[0]["fix"]
    assert causes[1]["root_cause"] == "no"


@pytest.mark.slow
def test_the_wheelhouse_holds_a_wheel_of_this_source_tree(tmp_path):
    from plotpalette.aws.wheelhouse import build_wheelhouse

    wheels = build_wheelhouse(tmp_path / "wh", with_deps=False, isolated=False)
    [wheel] = wheels
    assert wheel.name.startswith("plotpalette-")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "plotpalette/jobs/worker.py" in names and "plotpalette/aws/schedule.py" in names
    assert not any(n.startswith("tests/") for n in names)
