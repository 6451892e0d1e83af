"""Ctrl-C on ``plotpalette run``: a clean INTERRUPTED job, the resume command printed,
and a resume that finishes without duplicates (a real process, a real SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from plotpalette.jobs import iter_records, job_status, list_jobs
from plotpalette.templates.library import TemplateLibrary
from plotpalette.testing import BedrockEmulator, qa_template
from plotpalette.workspace import Workspace


def test_ctrl_c_leaves_an_interrupted_job_and_prints_the_resume_command(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    TemplateLibrary(ws).save(qa_template("qa_sigint", output=False))
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps({"topic": f"t{i}"}) for i in range(5)))
    with BedrockEmulator(latency_median_s=0.05) as emu:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PLOTPALETTE_BACKEND": "bedrock",
            "PLOTPALETTE_REGION": "us-east-1",
            "PLOTPALETTE_BEDROCK_ENDPOINT_URL": emu.endpoint_url,
        }
        cmd = [
            sys.executable,
            "-m",
            "plotpalette",
            "--workspace",
            ws.location,
            "run",
            "--template",
            "qa_sigint",
            "--seeds",
            str(seeds),
            "-n",
            "100",
            "--budget",
            "1",
            "--concurrency",
            "4",
            "--no-progress",
        ]
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until records are being made
            jobs = list_jobs(ws)
            if jobs and job_status(ws, jobs[0].job_id).records_ok >= 3:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)

        assert proc.returncode == 130, err
        job_id = list_jobs(ws)[0].job_id
        info = job_status(ws, job_id)
        assert info.state.value == "INTERRUPTED"
        resume_line = next(line for line in (out + err).splitlines() if f"resume {job_id}" in line)
        assert "plotpalette" in resume_line and ws.location in resume_line
        kept = {r.index for r in iter_records(ws, job_id)}
        assert 3 <= len(kept) < 100

        resumed = subprocess.run(
            [
                sys.executable,
                "-m",
                "plotpalette",
                "--workspace",
                ws.location,
                "resume",
                job_id,
                "--no-progress",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert resumed.returncode == 0, resumed.stderr
    indices = [r.index for r in iter_records(ws, job_id)]
    assert sorted(indices) == list(range(100))
    assert kept <= set(indices)
