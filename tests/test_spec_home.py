"""The job spec has one home, the registry item; the job folder holds what it points at."""

from __future__ import annotations

import json

from plotpalette import layout
from plotpalette.cli import main
from plotpalette.jobs import JobSpec, JobState, RunOptions, create_job, resume_job, run_job
from plotpalette.testing import InstantBackend, qa_template, topic_seeds, workspace_with_template
from plotpalette.workspace import Workspace

FAST = RunOptions(concurrency=4, flush_records=5, flush_seconds=0.05)


def _ws(tmp_path):
    return workspace_with_template(tmp_path / "ws", qa_template("qa_home", output=False))


def test_a_new_job_writes_no_spec_file_and_status_shows_the_spec(tmp_path, capsys):
    ws = _ws(tmp_path)
    job_id = create_job(ws, JobSpec(template="qa_home", seeds=topic_seeds(4, "t"), records=6))
    assert not ws.store.exists(layout.spec_key(job_id))
    assert ws.store.exists(layout.template_snapshot_key(job_id))
    assert main(["--workspace", ws.location, "status", job_id, "--json"]) == 0
    spec = json.loads(capsys.readouterr().out)["spec"]
    assert spec["template"] == "qa_home@1" and len(spec["seeds"]) == 64
    # the status spec saved as a file reproduces the job (same fingerprint: same records)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    first = run_job(ws, job_id, backend=InstantBackend(), options=FAST)
    again = run_job(ws, JobSpec.from_dict(json.loads(path.read_text())), backend=InstantBackend())
    assert first.state is again.state is JobState.COMPLETED
    assert ws.registry.get(again.job_id).fingerprint == ws.registry.get(job_id).fingerprint


def test_a_job_made_with_a_spec_file_still_opens_and_resumes(tmp_path):
    """Workspaces made before this change hold jobs/<id>/spec.json as well; it is ignored
    (and removed with the job), the registry's spec is the one that runs."""
    ws = _ws(tmp_path)
    job_id = create_job(ws, JobSpec(template="qa_home", seeds=topic_seeds(4, "t"), records=8))
    legacy = {**ws.registry.get(job_id).spec, "records": 999}  # would be visible if read
    ws.store.write_bytes(layout.spec_key(job_id), json.dumps(legacy).encode())
    stopped = run_job(ws, job_id, backend=InstantBackend(), options=FAST, budget_usd=0.0000001)
    assert stopped.state is JobState.BUDGET_EXCEEDED
    reopened = Workspace.open(ws.location)
    done = resume_job(reopened, job_id, backend=InstantBackend(), budget_usd=1.0)
    assert done.state is JobState.COMPLETED
    assert reopened.registry.get(job_id).records_ok == 8
