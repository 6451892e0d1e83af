"""A job submitted from a notebook (papermill, then the kernel exits) is followed to
COMPLETED from another process while the Batch simulator runs its workers."""

from __future__ import annotations

from pathlib import Path

import papermill
import pytest

from plotpalette import JobState, list_jobs
from plotpalette.cli import main
from plotpalette.testing.batch_sim import BatchSimulator

NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "09_run_on_aws.ipynb"
pytestmark = [pytest.mark.filterwarnings("ignore:Tried to parse AWS::"), pytest.mark.slow]


def test_a_notebook_submits_and_exits_and_the_job_is_followed_to_completed(
    batch_stack, bedrock_emulator, tmp_path, capsys
):
    ws = batch_stack.workspace.location
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "run.ipynb"),
        parameters={"workspace": ws, "records": 20, "workers": 2, "headless": True},
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )
    (job,) = list_jobs(ws)
    assert job.state is JobState.QUEUED and job.aws["workers"] == 2

    BatchSimulator(
        batch_stack.client("batch"),
        job.aws["batch_job_id"],
        env={"PLOTPALETTE_BEDROCK_ENDPOINT_URL": bedrock_emulator.endpoint_url},
    ).run(timeout_s=300)

    # followed from this (another) process through the shared registry, as the CLI does
    capsys.readouterr()
    assert main(["--workspace", ws, "--json", "status", job.job_id]) == 0
    assert '"state": "COMPLETED"' in capsys.readouterr().out
