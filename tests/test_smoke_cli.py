"""``plotpalette smoke`` end to end: deploy the real template on moto's server, run the
smoke notebook through the CLI with the Bedrock emulator; the Batch workers are local
processes (``--simulate-batch``: moto records Batch jobs but runs nothing)."""

from __future__ import annotations

import nbformat
import pytest

from plotpalette import JobState, list_jobs
from plotpalette.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


def _smoke(ws: str, emulator_url: str, report, *extra: str) -> int:
    return main(
        [
            "--workspace",
            ws,
            "smoke",
            "--simulate-batch",
            "--bedrock-endpoint-url",
            emulator_url,
            "--output",
            str(report),
            *extra,
        ]
    )


@pytest.mark.slow
def test_smoke_passes_on_a_deployed_stack_and_writes_the_report(
    batch_stack, bedrock_emulator, tmp_path, capsys
):
    ws = batch_stack.workspace.location
    report = tmp_path / "reports" / "smoke.ipynb"
    assert _smoke(ws, bedrock_emulator.endpoint_url, report) == 0
    assert "smoke test passed" in capsys.readouterr().out

    (job,) = list_jobs(ws)
    assert job.state is JobState.COMPLETED and job.records_ok == 20
    assert job.aws["workers"] == 2
    executed = nbformat.read(report, as_version=4)
    text = "".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "smoke test passed" in text and "20 rows" in text


@pytest.mark.slow
def test_a_budget_too_small_fails_with_the_step_named(
    batch_stack, bedrock_emulator, tmp_path, capsys
):
    ws = batch_stack.workspace.location
    report = tmp_path / "smoke.ipynb"
    assert _smoke(ws, bedrock_emulator.endpoint_url, report, "--budget", "0.000001") == 1
    err = capsys.readouterr().err
    assert "smoke test failed at step 'workers'" in err
    assert str(report) in err and report.is_file()


def test_a_local_workspace_fails_at_the_workspace_step(tmp_path, capsys):
    report = tmp_path / "smoke.ipynb"
    code = main(["--workspace", str(tmp_path / "ws"), "smoke", "--output", str(report)])
    assert code == 1
    err = capsys.readouterr().err
    assert "step 'workspace'" in err and "plotpalette outputs" in err
