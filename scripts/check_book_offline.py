"""Check that the built book's diagrams render without a network.

Diagrams are graphviz, rendered to SVG files at build time; this fails if a page
references a diagram that was not written, or loads mermaid (which would need a CDN).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def main(root: str) -> int:
    html_root = Path(root)
    pages = sorted(html_root.rglob("*.html"))
    if not pages:
        print(f"no HTML under {root}: was the book built?")
        return 1
    bad, diagrams = [], 0
    for page in pages:
        text = page.read_text(encoding="utf-8", errors="replace")
        if "mermaid" in text.lower() and "<script" in text and "mermaid.min.js" in text:
            bad.append(f"{page}: loads mermaid.js from a CDN")
        for src in re.findall(r'<(?:img|object)[^>]+(?:src|data)="([^"]+\.svg)"', text):
            if src.startswith(("http://", "https://")):
                bad.append(f"{page}: remote diagram {src}")
                continue
            diagrams += 1
            if not (page.parent / src).resolve().is_file():
                bad.append(f"{page}: diagram {src} missing")
    for line in bad:
        print(line)
    print(f"pages: {len(pages)}, local SVG diagrams: {diagrams}, problems: {len(bad)}")
    return 1 if bad or diagrams == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book/_build/html"))
