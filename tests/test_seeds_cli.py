"""``plotpalette seeds inspect|import|list`` through the real command entry point."""

from __future__ import annotations

import json

import pytest

from plotpalette import cli
from plotpalette.cli import seeds as seeds_cmd
from plotpalette.seeds import SeedSet, load_seeds


def test_seeds_command_is_registered():
    assert seeds_cmd in cli.COMMAND_MODULES


@pytest.fixture
def seed_file(tmp_path):
    path = tmp_path / "poems.csv"
    path.write_text("topic,author.name\nrain,Ada\nsea,Bo\n", encoding="utf-8")
    return path


def test_inspect_shows_rows_fields_and_hash(seed_file, capsys):
    assert cli.main(["seeds", "inspect", str(seed_file)]) == 0
    out = capsys.readouterr().out
    assert "2 rows (csv)" in out
    assert load_seeds(seed_file).sha256 in out
    assert "author.name, topic" in out
    assert 'line 3: {"topic": "sea", "author": {"name": "Bo"}}' in out


def test_inspect_json_output(seed_file, capsys):
    assert cli.main(["seeds", "inspect", str(seed_file), "--json", "--rows", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rows"] == 2 and data["format"] == "csv"
    assert data["sample"] == [{"topic": "rain", "author": {"name": "Ada"}}]


def test_import_then_list(seed_file, capsys, workspace):
    assert cli.main(["seeds", "import", str(seed_file), "--json"]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert SeedSet.from_workspace(workspace, stored["sha256"]).rows == load_seeds(seed_file).rows
    assert cli.main(["seeds", "list"]) == 0
    assert stored["sha256"][:12] in capsys.readouterr().out


def test_bad_file_is_a_one_line_error_with_exit_code_1(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1\n")
    assert cli.main(["seeds", "inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 2 has 1 cells" in err and "fix:" in err


def test_inspect_with_a_template_file_reports_rows_that_do_not_fit(tmp_path, capsys):
    template = tmp_path / "t.yaml"
    template.write_text(
        "name: probe\ndescription: d\ncategory: test\nsteps:\n  - id: a\n    model: cheap\n"
        "    prompt: 'About {{ topic }} by {{ author.name }}'\n"
        "output:\n  text: '{{ steps.a.output }}'\n"
    )
    seeds = tmp_path / "s.jsonl"
    seeds.write_text('{"topic": "rain", "author": {"name": "Ada"}}\n{"topic": "sea"}\n')
    assert cli.main(["seeds", "inspect", str(seeds), "--template", str(template)]) == 1
    assert "line 2: author: missing" in capsys.readouterr().out
    code = cli.main(["seeds", "inspect", str(seeds), "--template", "question_answer", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["validation"]["total"] == 2
    assert code == (1 if data["validation"]["invalid"] else 0)


@pytest.fixture
def emulated_bedrock(bedrock_emulator, monkeypatch):
    monkeypatch.setenv("PLOTPALETTE_REGION", "us-east-1")
    monkeypatch.setenv("PLOTPALETTE_BEDROCK_ENDPOINT_URL", bedrock_emulator.endpoint_url)
    return bedrock_emulator


def test_generate_makes_rows_charges_the_budget_and_stores_them(emulated_bedrock, tmp_path, capsys):
    out_file = tmp_path / "made.jsonl"
    code = cli.main(
        [
            "seeds",
            "generate",
            "poems about the sea",
            "--field",
            "topic=a theme",
            "--field",
            "author.name",
            "-n",
            "5",
            "--budget",
            "0.05",
            "--backend",
            "bedrock",
            "--out",
            str(out_file),
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["complete"] and data["rows"] == 5
    assert 0 < data["cost_usd"] <= 0.05
    stored = SeedSet.from_workspace(cli_workspace(), data["sha256"])
    assert len(stored) == 5 and all(set(r) == {"topic", "author"} for r in stored.rows)
    assert load_seeds(out_file).sha256 == data["sha256"]


def test_generate_with_a_budget_too_small_for_one_call_is_an_error(emulated_bedrock, capsys):
    code = cli.main(
        [
            "seeds",
            "generate",
            "poems",
            "--field",
            "topic",
            "-n",
            "5",
            "--budget",
            "0.0000001",
            "--backend",
            "bedrock",
        ]
    )
    assert code == 1
    assert "budget" in capsys.readouterr().err


def cli_workspace():
    from plotpalette import Workspace

    return Workspace.open()
