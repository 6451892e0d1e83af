"""Check every link in the README, the contributing/changelog pages, notebooks, dataset
cards and the built book: local links must resolve, external links must go to a host
the project controls or to a known third-party documentation host.

    python scripts/check_links.py README.md CONTRIBUTING.md notebooks book/_build/html
    python scripts/check_links.py path/to/export/README.md     # a dataset card

Offline by design (CI has no business depending on other people's servers): an
allow-listed link is trusted, not fetched. The project's own hosts are those of the
``Documentation`` URL in the package metadata (none until a site is published), so a
link to a site the project does not publish fails here.
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Third-party documentation the guide may point to. Add a host only for documentation
# (not blogs or mirrors) and keep the list sorted.
DOC_HOSTS = (
    "arrow.apache.org",
    "aws.amazon.com",  # docs.aws.amazon.com and the AWS service pages
    "boto3.amazonaws.com",
    "docs.getmoto.org",
    "docs.pytest.org",
    "docs.python.org",
    "huggingface.co",  # model and dataset cards, the Hub docs
    "ipywidgets.readthedocs.io",
    "jinja.palletsprojects.com",
    "json-schema.org",
    "jupyter.org",
    "jupyterbook.org",
    "jupyterlab.readthedocs.io",
    "keepachangelog.com",
    "llama-cpp-python.readthedocs.io",
    "pandas.pydata.org",
    "papermill.readthedocs.io",
    "pre-commit.com",
    "pydata-sphinx-theme.readthedocs.io",
    "semver.org",
    "sphinx-book-theme.readthedocs.io",
    "www.sphinx-doc.org",
)

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_BARE_URL = re.compile(r"https?://[^\s)\]>\"'`]+")


def project_hosts() -> set[str]:
    try:
        from plotpalette.bundle import documentation_url
    except ImportError:  # run outside the project's venv: no published site known
        return set()
    url = documentation_url()
    return {urlsplit(url).hostname or ""} - {""} if url else set()


class _Links(HTMLParser):
    """href/src/data attributes (the links a reader or browser follows) and element ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)
            elif (name == "href" and tag in ("a", "link", "area")) or (
                name in ("src", "data") and tag in ("img", "script", "iframe", "source", "object")
            ):
                self.links.append(value)


def markdown_links(text: str) -> list[str]:
    text = _INLINE_CODE.sub("", _FENCE.sub("", text))
    links = _MD_LINK.findall(text)
    links += [u for u in _BARE_URL.findall(text) if u not in links]
    return [u.rstrip(".,;:") if u.startswith("http") else u for u in links]


def notebook_links(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return [
        link
        for cell in cells
        if cell.get("cell_type") == "markdown"
        for link in markdown_links("".join(cell.get("source", "")))
    ]


def _html(path: Path, cache: dict[Path, _Links]) -> _Links:
    if path not in cache:
        parser = _Links()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = parser
    return cache[path]


def check_link(link: str, page: Path, own: set[str], cache: dict[Path, _Links]) -> str | None:
    """None if the link is fine, else why not."""
    parts = urlsplit(link)
    if parts.scheme in ("mailto", "javascript", "data"):
        return None
    if parts.scheme in ("http", "https"):
        host = (parts.hostname or "").lower()
        if host in own or any(host == h or host.endswith("." + h) for h in DOC_HOSTS):
            return None
        return f"links to {host}, which the project does not control (not a known doc host)"
    if parts.scheme or parts.netloc:
        return f"unsupported link scheme {parts.scheme or '//'}"
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return "points to a file that does not exist"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in _html(target, cache).ids:
        return f"#{parts.fragment} is not an anchor of {target.name}"
    return None


def files_to_check(args: list[str]) -> list[Path]:
    files: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".html", ".md", ".ipynb")
                # _sources: page sources; _static: theme templates and assets, not pages
                and not {"_sources", "_static"} & set(p.parts)
            )
        else:
            files.append(path)
    return files


def main(args: list[str]) -> int:
    if not args:
        print(__doc__)
        return 2
    own, cache = project_hosts(), {}
    problems, checked = [], 0
    for path in files_to_check(args):
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        if path.suffix == ".html":
            links = _html(path.resolve(), cache).links
        elif path.suffix == ".ipynb":
            links = notebook_links(path)
        else:
            links = markdown_links(path.read_text(encoding="utf-8"))
        for link in links:
            checked += 1
            why = check_link(link, path.resolve(), own, cache)
            if why:
                problems.append(f"{path}: {link} — {why}")
    for line in problems:
        print(line)
    print(f"links checked: {checked}, problems: {len(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
