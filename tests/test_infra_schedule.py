"""Scheduled notebook runs: EventBridge Scheduler (moto stores schedules, never fires
them) targeting AWS Batch, and the papermill step a run executes on the worker."""

from __future__ import annotations

import json

import nbformat
import pytest

from plotpalette.aws.deploy import deploy
from plotpalette.aws.schedule import (
    create_schedule,
    delete_schedule,
    list_schedules,
    parse_params,
    run_scheduled,
    scheduler_cron,
)
from plotpalette.cli import main
from plotpalette.config import Settings
from plotpalette.errors import ConfigError, InfraError

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0 2 * * *", "cron(0 2 * * ? *)"),
        ("30 6 * * 1-5", "cron(30 6 ? * 2-6 *)"),  # crontab Mon-Fri -> EventBridge 2-6
        ("0 0 * * 0", "cron(0 0 ? * 1 *)"),  # Sunday
        ("0 3 1 * *", "cron(0 3 1 * ? *)"),
        ("0 2 * * ? *", "cron(0 2 * * ? *)"),
        ("cron(15 10 ? * MON *)", "cron(15 10 ? * MON *)"),
    ],
)
def test_cron_expressions_become_eventbridge_syntax(given, expected):
    assert scheduler_cron(given) == expected


@pytest.mark.parametrize("bad", ["0 2 * *", "0 2 1 * 1", "0 2 1 * 1 *"])
def test_bad_cron_expressions_say_how_to_fix_them(bad):
    with pytest.raises(ConfigError) as err:
        scheduler_cron(bad)
    assert "*" in err.value.fix


def test_parameters_are_read_as_yaml_scalars():
    assert parse_params(["records=50", "budget_usd=1.5", "tier=cheap", "headless=true"]) == {
        "records": 50,
        "budget_usd": 1.5,
        "tier": "cheap",
        "headless": True,
    }
    with pytest.raises(ConfigError):
        parse_params(["records"])


def small_notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("records = 2")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('records', records * 10)")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


@pytest.fixture
def deployed(infra_aws, moto_stack_template, isolated_env):
    result = deploy(
        "plotpalette-dev",
        env="dev",
        clients=infra_aws,
        model_ids=["amazon.nova-micro-v1:0"],
        workspace=str(isolated_env),
        template=moto_stack_template,
        echo=lambda _: None,
        poll_s=0.05,
    )
    return result.outputs


def test_a_schedule_submits_a_papermill_run_of_the_uploaded_notebook(infra_aws, deployed, tmp_path):
    nb = small_notebook(tmp_path / "nightly.ipynb")
    info = create_schedule(
        nb, cron="0 2 * * *", aws=deployed, clients=infra_aws, params={"records": 50}
    )
    assert info["name"] == "plotpalette-nightly"
    bucket = deployed["bucket"]
    stored = infra_aws("s3").get_object(
        Bucket=bucket, Key="workspace/schedules/plotpalette-nightly/input.ipynb"
    )
    assert stored["Body"].read() == nb.read_bytes()

    sched = infra_aws("scheduler").get_schedule(Name="plotpalette-nightly", GroupName="default")
    assert sched["ScheduleExpression"] == "cron(0 2 * * ? *)"
    target = sched["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:batch:submitJob"
    assert target["RoleArn"] == deployed["scheduler_role_arn"]
    submit = json.loads(target["Input"])
    assert submit["JobQueue"] == deployed["job_queue"]
    assert submit["JobDefinition"] == deployed["job_definition"]
    command = submit["ContainerOverrides"]["Command"]
    # The job definition's own bootstrap (wheelhouse install, exec), then papermill.
    definition = infra_aws("batch").describe_job_definitions(
        jobDefinitions=[deployed["job_definition"]]
    )["jobDefinitions"][0]
    assert command[:4] == definition["containerProperties"]["command"][:4]
    assert command[4:9] == ["python", "-m", "plotpalette.aws.schedule", "run", info["notebook"]]
    assert json.loads(command[-1]) == {"records": 50}

    listed = list_schedules(clients=infra_aws)
    assert [(s["name"], s["notebook"], s["params"]) for s in listed] == [
        ("plotpalette-nightly", info["notebook"], '{"records": 50}')
    ]
    assert delete_schedule("nightly", clients=infra_aws) == "plotpalette-nightly"
    assert list_schedules(clients=infra_aws) == []
    with pytest.raises(InfraError, match="no schedule named plotpalette-nightly"):
        delete_schedule("nightly", clients=infra_aws)


def test_scheduling_needs_a_deployed_stack(infra_aws, tmp_path):
    with pytest.raises(InfraError, match=r"aws\.bucket") as err:
        create_schedule(
            small_notebook(tmp_path / "n.ipynb"), cron="0 2 * * *", aws={}, clients=infra_aws
        )
    assert "plotpalette deploy" in err.value.fix


def test_cli_schedule_create_list_delete(infra_aws, deployed, tmp_path, capsys):
    assert Settings.load().aws["scheduler_role_arn"] == deployed["scheduler_role_arn"]
    nb = small_notebook(tmp_path / "report.ipynb")
    code = main(["schedule", str(nb), "--cron", "0 6 * * 1", "-p", "records=5", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["expression"] == "cron(0 6 ? * 2 *)"
    assert main(["schedule", "list", "--json"]) == 0
    assert [s["name"] for s in json.loads(capsys.readouterr().out)] == ["plotpalette-report"]
    assert main(["schedule", "delete", "report"]) == 0
    assert "deleted plotpalette-report" in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_executes_the_notebook_with_papermill_and_keeps_the_report(tmp_path):
    nb = small_notebook(tmp_path / "in.ipynb")
    report = run_scheduled(str(nb), str(tmp_path / "runs"), {"records": 7})
    executed = nbformat.read(report, as_version=4)
    outputs = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
    assert "records 70\n" in outputs
