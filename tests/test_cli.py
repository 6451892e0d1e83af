import json

import pytest

from plotpalette import __version__
from plotpalette.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"plotpalette {__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: plotpalette" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--json", "info", "--no-aws"], ["info", "--json", "--no-aws"]])
def test_info_json_in_either_position(argv, capsys, isolated_env):
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == __version__
    assert data["workspace"] == str(isolated_env)
    assert data["workspace_source"] == "env PLOTPALETTE_WORKSPACE"
    assert "aws" not in data


def test_info_workspace_flag_wins(tmp_path, capsys):
    assert main(["info", "--json", "--no-aws", "--workspace", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["workspace"] == str(tmp_path)


def test_info_reports_missing_aws_credentials(capsys):
    assert main(["info", "--json"]) == 0
    aws = json.loads(capsys.readouterr().out)["aws"]
    assert aws["available"] is False


def test_info_reports_credentials_from_environment(capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)
    assert main(["info", "--json"]) == 0
    aws = json.loads(capsys.readouterr().out)["aws"]
    assert aws["available"] is True and aws["method"] == "env"


def test_human_output_mentions_local_model(capsys):
    assert main(["info", "--no-aws"]) == 0
    out = capsys.readouterr().out
    assert "local model:" in out and "backend:     local" in out


def test_info_shows_how_the_local_model_runs(capsys, monkeypatch):
    from plotpalette.llm.local_files import llama_cpp_available, local_model_file

    if local_model_file() is None or not llama_cpp_available():
        pytest.skip("embedded model not installed")
    monkeypatch.setenv("PLOTPALETTE_LOCAL_BATCH", "3")
    monkeypatch.setenv("PLOTPALETTE_LLAMA_DECODE_THREADS", "2")
    assert main(["info", "--no-aws"]) == 0
    speed = [line for line in capsys.readouterr().out.splitlines() if "local speed:" in line]
    assert speed and "batch=3" in speed[0] and "/ 2 (decode)" in speed[0]


def test_config_error_is_one_line_with_fix(capsys, isolated_env):
    isolated_env.mkdir(parents=True, exist_ok=True)
    (isolated_env / "config.yaml").write_text("backend: nope\n")
    assert main(["info", "--no-aws"]) == 1
    err = capsys.readouterr().err
    assert "error: unknown backend 'nope'" in err and "fix:" in err


def test_a_closed_pipe_is_not_an_error(tmp_path, monkeypatch):
    """`plotpalette template list | head -1`: the reader went away; exit quietly with 0."""
    import io
    import os
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # what `head` does once it has its line
    closed = io.TextIOWrapper(os.fdopen(write_end, "wb", buffering=0), write_through=True)
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        assert main(["--workspace", str(tmp_path), "template", "list"]) == 0
    finally:
        closed.close()
