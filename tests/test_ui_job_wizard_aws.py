"""The JobWizard's "run on AWS Batch" choice submits the job's workers and follows it."""

from __future__ import annotations

import pytest

from plotpalette import JobState, job_status
from plotpalette.ui import JobWizard

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


def test_the_wizard_submits_to_aws_batch_and_opens_a_console_on_the_job(batch_stack):
    wizard = JobWizard(workspace=batch_stack.workspace, template="qa", records=12, budget_usd=0.5)
    wizard.run_on.value = "AWS Batch"
    wizard.workers.value = 3
    console = wizard.launch()
    try:
        job_id = console.job_id
        info = job_status(batch_stack.workspace, job_id)
        assert info.state is JobState.QUEUED and info.spec["runtime"] == "aws"
        job = batch_stack.client("batch").describe_jobs(jobs=[info.aws["batch_job_id"]])["jobs"]
        assert job[0]["arrayProperties"]["size"] == 3
        assert job[0]["parameters"] == {"job_id": job_id}
        assert any("AWS Batch" in o.get("text", "") for o in wizard.log.outputs)
    finally:
        console.close()
