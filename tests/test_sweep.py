"""Parameter sweeps: ``run_sweep`` / ``compare_sweep`` and ``plotpalette sweep``."""

from __future__ import annotations

import json

import pytest

from plotpalette import JobSpec, JobState, list_jobs, run_job, run_sweep
from plotpalette.cli import main
from plotpalette.errors import ConfigError
from plotpalette.jobs import compare_sweep, iter_records
from plotpalette.jobs.runner import RunOptions
from plotpalette.templates.library import TemplateLibrary
from plotpalette.testing import InstantBackend, qa_template, topic_seeds

FAST = RunOptions(concurrency=4, flush_records=5, flush_seconds=0.05, progress_seconds=0.02)
CHEAP, BALANCED = "amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0"


@pytest.fixture
def ws(workspace):
    TemplateLibrary(workspace).save(qa_template("qa_sweep"))
    return workspace


def base(**changes):
    spec = JobSpec(template="qa_sweep", seeds=topic_seeds(4), records=2, budget_usd=1.0)
    return spec.replace(**changes) if changes else spec


def test_models_by_sizes_is_a_linked_job_per_combination(ws):
    backend = InstantBackend(tiers={"cheap": CHEAP, "balanced": BALANCED})
    run_job(ws, base(name="outside the sweep"), backend=backend, options=FAST)
    result = run_sweep(
        ws, base(), models=["cheap", "balanced"], records=[2, 3], backend=backend, options=FAST
    )
    assert result.sweep_id.startswith("sweep-")
    assert len(result.job_ids) == len(set(result.job_ids)) == 4
    assert [r.state for r in result.results] == [JobState.COMPLETED] * 4
    # list_jobs keeps the sweep's jobs and nothing else
    assert {i.job_id for i in list_jobs(ws, sweep_id=result.sweep_id)} == set(result.job_ids)
    table = compare_sweep(ws, result.sweep_id)
    assert sorted(table["variant"]) == ["balanced n2", "balanced n3", "cheap n2", "cheap n3"]
    assert sorted(table["records"]) == [2, 2, 3, 3]
    assert (table["ok"] == table["records"]).all()
    assert (table["spend_usd"] > 0).all()
    assert (table["spend_per_ok_usd"] == table["spend_usd"] / table["ok"]).all()
    assert result.table(ws).equals(table)
    # each variant really called its own model
    for row in table.itertuples():
        models = {s.model for r in iter_records(ws, row.job_id) for s in r.steps.values()}
        assert models == {CHEAP if row.variant.startswith("cheap") else BALANCED}


def test_seed_set_variants_use_their_own_rows(ws):
    backend = InstantBackend()
    first, second = topic_seeds(3, "rain "), topic_seeds(3, "tide ")
    result = run_sweep(ws, base(), seeds=[first, second], backend=backend, options=FAST)
    table = compare_sweep(ws, result.sweep_id)
    assert sorted(table["variant"]) == ["seeds1", "seeds2"]
    prompts = {
        job_id: " ".join(r.prompts["ask"]["prompt"] for r in iter_records(ws, job_id))
        for job_id in result.job_ids
    }
    assert "rain" in prompts[result.job_ids[0]] and "tide" not in prompts[result.job_ids[0]]
    assert "tide" in prompts[result.job_ids[1]] and "rain" not in prompts[result.job_ids[1]]


def test_each_variant_has_its_own_budget(ws):
    backend = InstantBackend()
    result = run_sweep(ws, base(budget_usd=0.00005), records=[1, 40], backend=backend, options=FAST)
    table = compare_sweep(ws, result.sweep_id)
    states = dict(zip(table["variant"], table["state"], strict=True))
    assert states == {"n1": "COMPLETED", "n40": "BUDGET_EXCEEDED"}
    for r in result.results:
        assert r.spend_usd <= 0.00005 + 1e-12


def test_a_sweep_needs_a_variation(ws):
    with pytest.raises(ConfigError, match="at least one variation"):
        run_sweep(ws, base(), backend=InstantBackend())
    assert list_jobs(ws) == []


@pytest.fixture
def cli_env(tmp_path, emulated_bedrock_env):
    from plotpalette.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    TemplateLibrary(ws).save(qa_template("qa_sweep", output=False))
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("\n".join(json.dumps(r) for r in topic_seeds(3)))
    return ws, str(seeds)


def test_cli_sweep_runs_lists_and_compares(cli_env, capsys):
    ws, seeds = cli_env
    common = ["--workspace", ws.location, "--json"]
    sweep = [*common, "sweep", "-t", "qa_sweep", "--seeds", seeds]
    assert main([*sweep, "--models", "cheap,balanced", "--sizes", "1,2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sweep_id"].startswith("sweep-")
    assert sorted(j["variant"] for j in out["jobs"]) == [
        "balanced n1",
        "balanced n2",
        "cheap n1",
        "cheap n2",
    ]
    assert all(j["state"] == "COMPLETED" and j["ok"] == j["records"] for j in out["jobs"])
    assert main([*common, "list", "--sweep", out["sweep_id"]]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {j["job_id"] for j in listed} == {j["job_id"] for j in out["jobs"]}


def test_cli_sweep_exit_codes(cli_env, capsys):
    ws, seeds = cli_env
    common = ["--workspace", ws.location, "--json"]
    sweep = [*common, "sweep", "-t", "qa_sweep", "--seeds", seeds]
    assert main(sweep) == 1  # no variation
    assert "at least one variation" in json.loads(capsys.readouterr().out)["message"]
    assert main([*sweep, "--sizes", "1,30", "--budget", "0.00003"]) == 3  # one over budget
    states = {j["variant"]: j["state"] for j in json.loads(capsys.readouterr().out)["jobs"]}
    assert states["n30"] == "BUDGET_EXCEEDED"
