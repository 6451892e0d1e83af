"""The guide and the README agree, and the book's table of contents is complete."""

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def readme_command(n: int) -> str:
    out = subprocess.run(
        [
            "bash",
            "-c",
            f"""awk -v m='<!-- readme-command-{n} -->' '
      $0 == m {{found=1; next}} found && /^```/ {{if (inblock) exit; inblock=1; next}}
      found && inblock {{print}}' README.md""",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_readme_has_two_commands():
    first, second = readme_command(1), readme_command(2)
    assert "pip install" in first and "plotpalette" in first
    assert "pytest" in second


def test_getting_started_includes_the_readme_commands():
    page = (ROOT / "book" / "getting-started.md").read_text()
    for n in (1, 2):
        assert f":start-after: <!-- readme-command-{n} -->" in page
        assert f":end-before: <!-- /readme-command-{n} -->" in page
        assert f"<!-- /readme-command-{n} -->" in (ROOT / "README.md").read_text()


def toc_files(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        if "file" in node:
            found.append(node["file"])
        for value in node.values():
            found += toc_files(value)
    elif isinstance(node, list):
        for value in node:
            found += toc_files(value)
    return found


def test_every_toc_entry_exists_and_every_page_is_listed():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    listed = {toc["root"], *toc_files(toc)}
    for name in listed:
        assert any((ROOT / "book" / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), name
    pages = {
        p.relative_to(ROOT / "book").with_suffix("").as_posix()
        for p in (ROOT / "book").rglob("*")
        if p.suffix in (".md", ".ipynb") and "_build" not in p.parts and not p.name.startswith("_")
    }
    assert pages - listed == set()


def test_changelog_follows_keep_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert re.search(r"^### (Added|Changed|Fixed|Removed)", text, re.M)
