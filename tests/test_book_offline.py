"""The CI check that the built book needs no network catches CDN resources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_book_offline.py"
DIAGRAM = '<img src="_images/graphviz-1.svg">'


def check(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "_images").mkdir(exist_ok=True)
    (tmp_path / "_images" / "graphviz-1.svg").write_text("<svg/>")
    (tmp_path / "page.html").write_text(f"<html><body>{DIAGRAM}{body}</body></html>")
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=False
    )


def test_a_self_contained_page_passes_and_reader_links_are_fine(tmp_path):
    done = check(tmp_path, '<a href="https://aws.amazon.com/bedrock/">Bedrock</a>')
    assert done.returncode == 0, done.stdout
    assert "problems: 0" in done.stdout


def test_cdn_scripts_styles_and_widget_managers_fail(tmp_path):
    cases = [
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js">'
        "</script>",
        '<script src="https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@^1.0.1/dist/'
        'embed-amd.js"></script>',
        '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">',
        "<style>@import url(https://unpkg.com/some.css);</style>",
        "<script>var s = 'https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js';</script>",
    ]
    for body in cases:
        done = check(tmp_path, body)
        assert done.returncode == 1, body
        assert "problems: 0" not in done.stdout


def test_a_missing_diagram_fails(tmp_path):
    done = check(tmp_path, '<img src="_images/graphviz-2.svg">')
    assert done.returncode == 1 and "graphviz-2.svg missing" in done.stdout
