"""JobConsole driven headless: live (same process), polling (elsewhere), finished jobs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from plotpalette.errors import JobStateError
from plotpalette.jobs import JobHandle, JobSpec, JobState, job_status, run_job
from plotpalette.testing import InstantBackend, qa_template, until
from plotpalette.ui import JobConsole, JobWizard

TEMPLATE = qa_template("ui_console_qa", steps=1, max_tokens=(30, 0), output=False)


@pytest.fixture
def template(workspace):
    from plotpalette.templates.library import TemplateLibrary

    return TemplateLibrary(workspace).save(TEMPLATE).name


def _slow_console(workspace, template, records=300, latency=0.1):
    wizard = JobWizard(
        workspace=workspace,
        template=template,
        records=records,
        budget_usd=10.0,
        model_backend=InstantBackend(latency_s=latency),
    )
    return wizard.launch()


def test_pause_resume_cancel_buttons_steer_the_job(workspace, template):
    console = _slow_console(workspace, template)
    assert until(lambda: console.figures.get("done", 0) >= 3)
    console.pause_button.click()
    assert console.errors == []
    assert console.paused and "PAUSED" in console.state_label.value
    assert console.pause_button.disabled and not console.resume_button.disabled
    # calls in flight finish (the progress events count them at once)...
    assert until(lambda: console.figures.get("in_flight") == 0 and console.paused)
    time.sleep(0.6)
    held = job_status(workspace, console.job_id)
    done = console.figures["done"]
    time.sleep(1.5)  # ...then nothing new starts while paused
    assert console.figures["done"] == done
    assert held.state is JobState.RUNNING  # pausing is not a registry state
    console.resume_button.click()
    assert not console.paused
    assert until(lambda: console.figures.get("done", 0) > done)
    console.cancel_button.click()
    info = console.wait(timeout=30)
    assert info.state is JobState.CANCELLED
    assert job_status(workspace, console.job_id).state is JobState.CANCELLED
    assert 0 < info.records_done < 300
    assert "CANCELLED" in console.state_label.value and console.cancel_button.disabled


def test_a_second_console_attaches_to_the_running_job(workspace, template):
    first = _slow_console(workspace, template, records=60, latency=0.02)
    second = JobConsole(first.job_id, workspace=workspace)
    assert second.live is first.live  # same process: the live handle, not polling
    second.wait(timeout=30)
    first.wait(timeout=30)
    for console in (first, second):
        assert console.state is JobState.COMPLETED
        assert console.progress_bar.value == 60
        assert console.figures["eta_s"] == 0.0


def test_reopening_a_finished_job_reads_the_registry(workspace, template):
    result = run_job(
        workspace,
        JobSpec(template=template, seeds="sample:poetry", records=4, budget_usd=1.0),
        backend=InstantBackend(),
    )
    console = JobConsole(result.job_id, workspace=workspace)
    assert console.live is None and console.figures["mode"] == "registry"
    assert console.state is JobState.COMPLETED
    assert console.progress_bar.value == 4
    assert console.spend_bar.value == pytest.approx(result.spend_usd)
    shown = console.records_grid.data  # the shared grid: headers sort and filter
    assert len(console.recent) == 4 and list(shown.index) == [r.index for r in console.recent]
    assert set(shown["status"]) == {"ok"} and console.records_grid.layout.display != "none"
    assert console.records_html.layout.display == "none"  # no "no records yet" beside it
    assert console.pause_button.disabled and console.cancel_button.disabled
    console.pause_button.click()  # disabled in a browser; called anyway it explains why
    assert isinstance(console.errors[-1], JobStateError)
    assert "fix:" in "".join(o.get("text", "") for o in console.log.outputs)
    assert "COMPLETED" in console.summary()


def test_latest_records_grid_shows_failures_and_keeps_the_users_view(workspace, template):
    from plotpalette.errors import ModelRequestError

    def third_fails(request, index):  # a permanent error: the record fails, the job goes on
        return ModelRequestError("the model refused", fix="-") if index == 2 else None

    result = run_job(
        workspace,
        JobSpec(template=template, seeds="sample:poetry", records=4, budget_usd=1.0),
        backend=InstantBackend(failures=third_fails),
    )
    console = JobConsole(result.job_id, workspace=workspace)
    shown = console.records_grid.data
    failed = [s for s in shown["status"] if not s.startswith("ok")]
    assert len(failed) == 1 and "the model refused" in failed[0]
    assert shown.columns[0] == "status" and shown.columns[-1] == "cost"
    resent: list[object] = []
    console.records_grid.observe(resent.append, names="_data")
    console.refresh()  # nothing new: the rows are not sent to the browser again
    assert resent == []


def test_unknown_job_id_raises_a_clear_error(workspace):
    from plotpalette.errors import JobNotFoundError

    with pytest.raises(JobNotFoundError):
        JobConsole("no-such-job", workspace=workspace)


def test_a_job_running_elsewhere_is_polled_and_cancelled_through_the_registry(workspace, template):
    # a handle nobody registered with the UI stands for a job of another process
    handle = JobHandle(
        workspace,
        JobSpec(
            template=template, seeds="sample:poetry", records=100, budget_usd=10.0, concurrency=2
        ),
        backend=InstantBackend(latency_s=0.1),
    ).start()
    try:
        console = JobConsole(handle.job_id, workspace=workspace, poll_seconds=0.1)
        assert console.live is None
        assert until(lambda: console.figures.get("done", 0) > 0)
        # pause and resume reach it through the registry's pause flag
        console.pause_button.click()
        assert console.errors == []
        assert job_status(workspace, handle.job_id).paused and console.paused
        assert "PAUSED" in console.state_label.value and not console.resume_button.disabled
        assert until(lambda: handle.controls.paused, timeout=5)  # adopted at a checkpoint
        time.sleep(1.2)  # calls in flight finish; the next checkpoint counts them
        held = job_status(workspace, handle.job_id).records_done
        time.sleep(1.2)
        assert job_status(workspace, handle.job_id).records_done == held
        console.resume_button.click()
        assert console.errors == [] and not job_status(workspace, handle.job_id).paused
        assert until(lambda: job_status(workspace, handle.job_id).records_done > held)
        console.cancel_button.click()
        assert console.errors == []  # cancel works from anywhere
        info = console.wait(timeout=30)
        assert info.state is JobState.CANCELLED
        assert "CANCELLED" in console.state_label.value
    finally:
        handle.cancel()
        handle.wait(30)


def test_resume_with_more_budget_completes_a_budget_exceeded_job(workspace, template):
    result = run_job(
        workspace,
        JobSpec(template=template, seeds="sample:poetry", records=6, budget_usd=1e-7),
        backend=InstantBackend(),
    )
    assert result.state is JobState.BUDGET_EXCEEDED
    console = JobConsole(result.job_id, workspace=workspace, backend=InstantBackend())
    console.resume_budget.value = 1.0
    console.resume_button.click()
    assert console.errors == []
    info = console.wait(timeout=30)
    assert info.state is JobState.COMPLETED and info.budget_usd == 1.0
    assert console.progress_bar.value == 6


def test_reopening_a_job_run_here_but_resumed_elsewhere_follows_the_registry(workspace, template):
    import threading

    from plotpalette.jobs import RunOptions, resume_job

    fast = RunOptions(concurrency=2, flush_records=5, flush_seconds=0.05, progress_seconds=0.02)
    handle = JobHandle(
        workspace,
        JobSpec(template=template, seeds="sample:poetry", records=40, budget_usd=0.0),
        backend=InstantBackend(),
        options=fast,
    )
    first = JobConsole(handle)
    assert first.wait(timeout=30).state is JobState.BUDGET_EXCEEDED
    first.close()
    # the CLI (here: another thread) resumes it with money
    elsewhere = threading.Thread(
        target=resume_job,
        args=(workspace, handle.job_id),
        kwargs=dict(
            backend=InstantBackend(latency_s=0.03),
            options=fast,
            budget_usd=1.0,
            handle_signals=False,
        ),
    )
    elsewhere.start()
    try:
        assert until(lambda: job_status(workspace, handle.job_id).state is JobState.RUNNING)
        console = JobConsole(handle.job_id, workspace=workspace, poll_seconds=0.05)
        assert console.live is None  # the finished run of this process is not followed
        assert until(lambda: console.job_info.state is JobState.COMPLETED, timeout=30)
        assert console.progress_bar.value == 40
    finally:
        elsewhere.join(30)


class _HeldBackend(InstantBackend):
    """Calls stay in flight until the test lets them go (no timing window to catch)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def generate(self, request):
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        return await super().generate(request)


def test_a_pause_says_how_many_calls_are_still_finishing(workspace, template):
    # the calls are held in flight until released: on a loaded machine a console that
    # refreshes about once a second missed 1.5-s and 4-s windows (CI, and a -n 2 run)
    backend = _HeldBackend()
    wizard = JobWizard(
        workspace=workspace,
        template=template,
        records=200,
        budget_usd=10.0,
        model_backend=backend,
    )
    console = wizard.launch()
    try:
        assert until(lambda: console.figures.get("in_flight", 0) > 0, timeout=30)
        console.pause()
        # the calls already sent are what the pause waits for: the console says so...
        assert until(
            lambda: (
                "calls finishing" in console.stats_html.value
                or "call finishing" in console.stats_html.value
            ),
            timeout=30,
        )
        assert "pausing" in console.stats_html.value
        # ...and stops saying it once they are done
        backend.release.set()
        assert until(lambda: console.figures.get("in_flight") == 0, timeout=30)
        assert until(lambda: "finishing" not in console.stats_html.value, timeout=10)
    finally:
        backend.release.set()
        console.cancel()
        console.wait(timeout=60)


def test_console_shows_workers_units_and_budget_leased_vs_spent(workspace, template):
    from plotpalette.jobs import RunOptions

    handle = JobHandle(
        workspace,
        JobSpec(template=template, seeds="sample:poetry", records=60, budget_usd=1.0, workers=2),
        backend=InstantBackend(latency_s=0.02),
        options=RunOptions(concurrency=2, unit_size=10, flush_seconds=0.05),
    ).start()
    console = JobConsole(handle.job_id, workspace=workspace, poll_seconds=0.05)
    assert until(lambda: job_status(workspace, handle.job_id).units["leased"] >= 2, timeout=30)
    info = job_status(workspace, handle.job_id)
    assert len(info.workers) == 2
    console.refresh()
    assert "2 live" in console.stats_html.value and "leased" in console.stats_html.value
    handle.wait(60)
    console.refresh()
    assert "units 6 done / 0 leased / 0 left" in console.summary()


def test_console_shows_the_jobs_history_from_the_events_log(workspace, template):
    spec = JobSpec(template=template, seeds="sample:poetry", records=40, budget_usd=0.00002)
    stopped = run_job(workspace, spec, backend=InstantBackend())
    assert stopped.state is JobState.BUDGET_EXCEEDED
    console = JobConsole(stopped.job_id, workspace=workspace, backend=InstantBackend(), watch=False)
    first = console.history_html.value
    assert first.count("<tr>") == 3  # header, RUNNING, BUDGET_EXCEEDED (with its reason)
    assert first.index("RUNNING") < first.index("BUDGET_EXCEEDED")
    assert "budget" in first.lower().split("budget_exceeded", 1)[1]
    console.resume(budget_usd=5.0)
    info = console.wait(timeout=60)
    assert info.state is JobState.COMPLETED
    console.refresh()
    later = console.history_html.value
    assert later.count("<tr>") == 5 and later.rindex("COMPLETED") > later.index("BUDGET_EXCEEDED")
    console.close()
