"""Check that the built book works without a network: no resource from a CDN, diagrams local.

Fails on any page that loads a script, stylesheet, font, image, frame or module from
another host (``<script src="https://…">``, ``<link href="https://…">``, ``@import
url(https://…)``, ``require.config`` paths, …) or that names a known CDN host anywhere
in its code (require.js and the Jupyter widget manager come from cdnjs/jsdelivr/unpkg
when a page holds widget state); on a diagram that was not written; and on a book
without any local SVG diagram (the graphviz step did not run). Plain links for the
reader (``<a href="https://…">``) are fine: following one is the reader's choice.

    python3 scripts/check_book_offline.py book/_build/html
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CDN_HOSTS = (
    "cdn.jsdelivr.net",
    "cdnjs.cloudflare.com",
    "unpkg.com",
    "ajax.googleapis.com",
    "code.jquery.com",
    "cdn.plot.ly",
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "mathjax",  # polyfill/jsdelivr/mathjax.org hosts of MathJax
    "requirejs",
    "embed-amd.js",
)
# tags whose src/href/data the browser fetches by itself
FETCHED = re.compile(
    r"<(script|link|img|iframe|object|source|embed|video|audio)\b[^>]*?"
    r"\b(?:src|href|data)\s*=\s*[\"']((?:https?:)?//[^\"']+)",
    re.IGNORECASE,
)
CSS_URL = re.compile(r"url\(\s*[\"']?((?:https?:)?//[^)\"']+)", re.IGNORECASE)
SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.IGNORECASE | re.DOTALL)


def problems_of(page: Path, text: str) -> list[str]:
    bad = []
    for tag, url in FETCHED.findall(text):
        bad.append(f"{page}: <{tag.lower()}> loads {url} from the network")
    for url in CSS_URL.findall(text):
        bad.append(f"{page}: CSS loads {url} from the network")
    code = " ".join(SCRIPT.findall(text))
    for host in CDN_HOSTS:
        if host in code.lower():
            bad.append(f"{page}: inline script refers to {host}")
    for src in re.findall(r'<(?:img|object)[^>]+(?:src|data)="([^"]+\.svg)"', text):
        if not src.startswith(("http://", "https://", "//")) and not (
            (page.parent / src).resolve().is_file()
        ):
            bad.append(f"{page}: diagram {src} missing")
    return bad


def main(root: str) -> int:
    html_root = Path(root)
    pages = sorted(html_root.rglob("*.html"))
    if not pages:
        print(f"no HTML under {root}: was the book built?")
        return 1
    bad: list[str] = []
    diagrams = 0
    for page in pages:
        text = page.read_text(encoding="utf-8", errors="replace")
        bad += problems_of(page, text)
        diagrams += len(re.findall(r'<(?:img|object)[^>]+(?:src|data)="[^":]+\.svg"', text))
    for path in sorted(html_root.rglob("*.css")):
        for url in CSS_URL.findall(path.read_text(encoding="utf-8", errors="replace")):
            bad.append(f"{path}: CSS loads {url} from the network")
    for line in bad:
        print(line)
    print(f"pages: {len(pages)}, local SVG diagrams: {diagrams}, problems: {len(bad)}")
    return 1 if bad or diagrams == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book/_build/html"))
