"""A call the provider ran but never answered within the client's read timeout is booked
at its worst case: the emulator bills it, the job's ledger covers the bill, and the
provider's bill stays within the budget."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from plotpalette.jobs import JobSpec, JobState, RunOptions, job_status, run_job
from plotpalette.llm import PriceTable
from plotpalette.llm.bedrock import BedrockBackend
from plotpalette.testing import qa_template, topic_seeds, workspace_with_template
from plotpalette.testing.billing import BillingMeter

MODEL = "amazon.nova-micro-v1:0"


def _backend(ws, emulator):
    """The production backend with a client whose socket read timeout is 1 s."""
    settings = ws.settings.replace(
        backend="bedrock", region="us-east-1", bedrock_endpoint_url=emulator.endpoint_url
    )
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=emulator.endpoint_url,
        config=Config(read_timeout=1, connect_timeout=5, retries={"total_max_attempts": 1}),
    )
    return BedrockBackend(settings, client=client)


@pytest.mark.parametrize("budget_records", [4.0, 1000.0])
def test_read_timeouts_are_billed_and_booked_at_worst_case(
    tmp_path, bedrock_emulator, budget_records
):
    ws = workspace_with_template(tmp_path / "ws", qa_template("qa_rt", output=False))
    # every third call is run and billed, then its reply is held past the read timeout.
    # One call at a time: a record's retry is then always the next call (billed and
    # answered), so no record can draw two timeouts and be left unsettled, which made
    # the COMPLETED case flaky with two calls in flight.
    bedrock_emulator.configure(hang_s=3.0)
    bedrock_emulator.script_failures([None, None, "read_timeout"] * 6)
    meter = BillingMeter.attach(bedrock_emulator)
    price = PriceTable.load().price(MODEL)
    budget = budget_records * 150 * (price.input + price.output) / 1e6
    result = run_job(
        ws,
        JobSpec(
            template="qa_rt",
            seeds=topic_seeds(6, "t"),
            records=8,
            budget_usd=budget,
            backend="bedrock",
            error_threshold=1.0,
        ),
        backend=_backend(ws, bedrock_emulator),
        options=RunOptions(concurrency=1, flush_seconds=0.05, grace_s=10),
    )
    info = job_status(ws, result.job_id)
    billed = meter.report()
    assert bedrock_emulator.counts["timed_out"] > 0  # the fault really happened
    assert billed["lost_calls"] == bedrock_emulator.counts["timed_out"]
    assert billed["billed_usd"] <= budget + 1e-12  # the provider's bill
    assert ws.registry.ledger_spend(result.job_id) >= billed["billed_usd"] - 1e-12
    assert info.waste_usd >= billed["lost_usd"] - 1e-12  # shown as waste
    assert info.spend_usd <= budget + 1e-12
    if budget_records < 100:
        assert result.state is JobState.BUDGET_EXCEEDED
    else:
        assert result.state is JobState.COMPLETED and info.records_ok == 8
