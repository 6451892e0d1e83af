"""`plotpalette quickstart` ends with an export command that works as printed."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from plotpalette.cli import main
from plotpalette.llm.local_files import llama_cpp_available, local_model_file

pytestmark = pytest.mark.skipif(
    local_model_file() is None or not llama_cpp_available(),
    reason="embedded model not installed (plotpalette[local])",
)


def test_quickstart_prints_the_exact_export_command(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["quickstart", "--records", "1"]) == 0
    out = capsys.readouterr().out
    lines = [ln.strip() for ln in out.splitlines()]
    line = next(ln for ln in lines if ln.startswith("plotpalette export"))
    argv = shlex.split(line)[1:]
    assert main(argv) == 0  # the command runs as printed
    written = list(Path(tmp_path, "quickstart-dataset").rglob("*.jsonl"))
    assert written and written[0].read_text().strip()
