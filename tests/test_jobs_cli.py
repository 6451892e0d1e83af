"""``plotpalette run/status/list/resume/cancel/estimate`` through ``cli.main``, on the
Bedrock emulator (real boto3 client, real HTTP)."""

from __future__ import annotations

import json

import pytest

from plotpalette.cli import main
from plotpalette.templates.library import TemplateLibrary
from plotpalette.workspace import Workspace

QA = """
name: qa_cli
steps:
  - id: ask
    model: cheap
    prompt: "Write one question about {{ topic }}."
    max_tokens: 40
  - id: answer
    model: cheap
    prompt: "Answer briefly: {{ steps.ask.output }}"
    max_tokens: 60
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    import plotpalette.cli as cli
    from plotpalette.cli import jobs as jobs_cmd
    from plotpalette.testing import BedrockEmulator

    if jobs_cmd not in cli.COMMAND_MODULES:  # until the lead wires the module in
        monkeypatch.setattr(cli, "COMMAND_MODULES", [*cli.COMMAND_MODULES, jobs_cmd])
    ws = Workspace.open(tmp_path / "ws")
    TemplateLibrary(ws).save(QA)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps({"topic": f"t{i}"}) for i in range(5)))
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PLOTPALETTE_BACKEND": "bedrock",
        "PLOTPALETTE_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with BedrockEmulator() as emu:
        monkeypatch.setenv("PLOTPALETTE_BEDROCK_ENDPOINT_URL", emu.endpoint_url)
        yield ws, str(seeds)


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_run_status_list_and_resume(env, capsys):
    ws, seeds = env
    base = ["--workspace", ws.location, "--json"]
    # a budget that covers only a few records: exit 3, records kept
    code = main(
        [
            *base,
            "run",
            "--template",
            "qa_cli",
            "--seeds",
            seeds,
            "-n",
            "40",
            "--budget",
            "0.00008",
            "--no-progress",
        ]
    )
    out = _json(capsys)
    assert code == 3 and out["state"] == "BUDGET_EXCEEDED"
    assert 0 < out["records_ok"] < 40
    assert "resume" in out["resume_command"]
    job_id = out["job_id"]
    assert main([*base, "status", job_id]) == 0
    status = _json(capsys)
    assert status["template"] == "qa_cli@1" and status["spend_usd"] <= 0.00008 + 1e-12
    assert main([*base, "list"]) == 0
    assert [j["job_id"] for j in _json(capsys)] == [job_id]
    assert main([*base, "resume", job_id, "--budget", "1", "--no-progress"]) == 0
    assert _json(capsys)["state"] == "COMPLETED"
    assert main([*base, "cancel", job_id]) == 1  # a completed job cannot be cancelled
    assert "COMPLETED" in _json(capsys)["message"]


def test_estimate_and_bad_flags(env, capsys):
    ws, seeds = env
    base = ["--workspace", ws.location, "--json"]
    assert (
        main(
            [
                *base,
                "estimate",
                "--template",
                "qa_cli",
                "--seeds",
                seeds,
                "-n",
                "100",
                "--budget",
                "0.001",
            ]
        )
        == 0
    )
    est = _json(capsys)
    assert est["total_worst_usd"] >= est["total_typical_usd"] > 0
    assert est["records_within_budget"] < 100
    assert main([*base, "run", "--template", "qa_cli", "--model", "nostep"]) == 1
    assert "STEP=MODEL" in _json(capsys)["message"]
    assert (
        main(
            [
                *base,
                "run",
                "--template",
                "qa_cli",
                "--seeds",
                seeds,
                "--model",
                "missing=cheap",
                "--no-progress",
            ]
        )
        == 1
    )
    assert "missing" in _json(capsys)["message"]
