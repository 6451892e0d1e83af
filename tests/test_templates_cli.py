"""`plotpalette template ...` commands."""

from __future__ import annotations

import json

import pytest

import plotpalette.cli as cli
from plotpalette.cli import templates as templates_cmd


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    if templates_cmd not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", [*cli.COMMAND_MODULES, templates_cmd])


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_show_save_history_diff_export(capsys, tmp_path):
    code, out, _ = run(capsys, "template", "list", "--json")
    assert code == 0 and "question_answer" in {i["name"] for i in json.loads(out)}
    code, out, _ = run(capsys, "template", "show", "poem@1")
    assert code == 0 and out.startswith("# poem@1\nname: poem")
    path = tmp_path / "poem.yaml"
    assert run(capsys, "template", "export", "poem", str(path))[0] == 0
    path.write_text(path.read_text().replace("6-10 lines", "4 lines"))
    code, out, _ = run(capsys, "template", "save", str(path), "-m", "shorter")
    assert code == 0 and out.strip() == "saved poem@2"
    code, out, _ = run(capsys, "template", "history", "poem")
    assert "poem@2" in out and "shorter" in out
    code, out, _ = run(capsys, "template", "diff", "poem@1", "poem@2")
    assert "+  Write a short poem (4 lines)" in out or "+    Write a short poem (4 lines)" in out


def test_check_reports_inputs_and_errors(capsys, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("name: g\nsteps:\n  - id: a\n    prompt: '{{ topic }} {{ poem.title }}'\n")
    code, out, _ = run(capsys, "template", "check", str(good))
    assert code == 0 and "inputs: poem, poem.title, topic" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: g\nsteps:\n  - id: a\n    promt: hi\n")
    code, _, err = run(capsys, "template", "check", str(bad))
    assert code == 1 and "did you mean prompt?" in err
