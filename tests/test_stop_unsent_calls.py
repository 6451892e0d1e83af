"""A job that stops while its calls wait for the client-side rate limit (nothing sent
yet) cancels them at once: no further request reaches the provider, nothing is booked as
waste, and a resume finishes the job with every record exactly once."""

from __future__ import annotations

import threading

from plotpalette.jobs import (
    JobControls,
    JobSpec,
    JobState,
    RunOptions,
    job_status,
    run_job,
    scan_shards,
)
from plotpalette.llm import make_backend
from plotpalette.testing import qa_template, topic_seeds, until, workspace_with_template
from plotpalette.testing.billing import BillingMeter


def test_a_stop_cancels_calls_waiting_for_the_rate_limit_and_books_no_waste(
    tmp_path, bedrock_emulator
):
    ws = workspace_with_template(tmp_path / "ws", qa_template("qa_stop", steps=1, output=False))
    bedrock_emulator.configure(latency_median_s=0.2, latency_jitter=0.0)
    meter = BillingMeter.attach(bedrock_emulator)
    settings = ws.settings.replace(
        backend="bedrock", region="us-east-1", bedrock_endpoint_url=bedrock_emulator.endpoint_url
    )
    spec = JobSpec(
        template="qa_stop",
        seeds=topic_seeds(6, "t"),
        records=8,
        backend="bedrock",
        rate_limits={"*": {"rpm": 120}},  # two calls a second: the other records queue
    )
    controls = JobControls()
    results = []
    runner = threading.Thread(
        target=lambda: results.append(
            run_job(
                ws,
                spec,
                backend=make_backend(settings),
                controls=controls,
                options=RunOptions(concurrency=8, flush_seconds=0.05, grace_s=30),
                handle_signals=False,
            )
        )
    )
    runner.start()
    until(lambda: bedrock_emulator.counts["ok"] >= 2, timeout=30)
    sent_at_stop = bedrock_emulator.counts["requests"]
    controls.interrupt("a Spot interruption")
    runner.join(30)
    assert not runner.is_alive()
    (stopped,) = results
    assert stopped.state is JobState.INTERRUPTED
    # the queued calls were never sent (at most one was starting as the stop came);
    # waiting for their turn would have sent the other 5 or 6
    assert bedrock_emulator.counts["requests"] - sent_at_stop <= 1
    assert job_status(ws, stopped.job_id).waste_usd == 0.0
    assert meter.report()["lost_calls"] == 0

    again = run_job(
        ws,
        stopped.job_id,
        backend=make_backend(settings),
        options=RunOptions(concurrency=8, flush_seconds=0.05),
        handle_signals=False,
    )
    assert again.state is JobState.COMPLETED, again.error
    scan = scan_shards(ws, stopped.job_id)
    assert scan.indices == set(range(8)) and scan.duplicates == 0
    assert job_status(ws, stopped.job_id).waste_usd == 0.0
