"""``plotpalette run/status/list/resume/cancel/estimate`` through ``cli.main``, on the
Bedrock emulator (real boto3 client, real HTTP)."""

from __future__ import annotations

import json

import pytest

from plotpalette.cli import main
from plotpalette.templates.library import TemplateLibrary
from plotpalette.testing import qa_template
from plotpalette.workspace import Workspace

QA = qa_template("qa_cli", output=False)


@pytest.fixture
def env(tmp_path, monkeypatch, emulated_bedrock_env):
    import plotpalette.cli as cli
    from plotpalette.cli import jobs as jobs_cmd

    if jobs_cmd not in cli.COMMAND_MODULES:  # until the lead wires the module in
        monkeypatch.setattr(cli, "COMMAND_MODULES", [*cli.COMMAND_MODULES, jobs_cmd])
    ws = Workspace.open(tmp_path / "ws")
    TemplateLibrary(ws).save(QA)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps({"topic": f"t{i}"}) for i in range(5)))
    return ws, str(seeds)


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


def test_max_tokens_pause_and_delete(env, capsys, monkeypatch):
    ws, seeds = env
    base = ["--workspace", ws.location, "--json"]
    run = [*base, "run", "-t", "qa_cli", "--seeds", seeds, "-n", "3", "--no-progress"]
    assert main([*run, "--max-tokens", "12"]) == 0
    job_id = _json(capsys)["job_id"]
    assert main([*base, "status", job_id]) == 0
    assert _json(capsys)["spec"]["max_tokens"] == 12
    assert main([*base, "pause", job_id]) == 1  # only a RUNNING job can be paused
    assert "only a RUNNING job" in _json(capsys)["message"]

    assert main([*base, "delete", job_id]) == 1  # stdin is no terminal: --yes is needed
    assert "--yes" in _json(capsys)["fix"]

    class Tty:
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Tty())
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main([*base, "delete", job_id]) == 1
    assert "not confirmed" in _json(capsys)["message"]
    assert ws.store.exists(f"jobs/{job_id}/template.yaml")
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main([*base, "delete", job_id]) == 0
    done = _json(capsys)
    assert done["files_removed"] > 0 and done["ledger_rows"] > 0
    assert not ws.store.exists(f"jobs/{job_id}/template.yaml")
    assert main([*base, "status", job_id]) == 1
    assert "deleted" in _json(capsys)["message"]
    assert main([*run]) == 0
    other = _json(capsys)["job_id"]
    assert main(["--workspace", ws.location, "delete", other, "--yes"]) == 0
    assert "cost ledger" in capsys.readouterr().out
