"""Show an export's dataset card in a notebook, rendered as Markdown.

The card file (``README.md``) starts with a YAML header for the Hugging Face Hub, which
a notebook would render as a rule and a list, and quotes dollar amounts, which
JupyterLab typesets as maths (``$0.1 (settled $0.1)`` becomes italic formula text; a
backslash does not stop it inside tables). :func:`dataset_card` shows the body with each
amount as inline code, which MathJax leaves alone; the file itself is not changed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["dataset_card"]


def dataset_card(export: Any) -> Any:
    """An ``IPython.display.Markdown`` of the card of ``export`` (an ExportResult, or the
    card's path); a short note if the export wrote no card."""
    from IPython.display import Markdown

    path = getattr(export, "card_path", export)
    if not path:
        return Markdown("*This export has no dataset card.*")
    text = Path(path).read_text(encoding="utf-8")
    if text.startswith("---\n") and "\n---\n" in text[4:]:
        text = text[4:].split("\n---\n", 1)[1]  # the Hub's YAML header
    return Markdown(_protect_dollars(text))


_AMOUNT = re.compile(r"\$\d[\d,]*(?:\.\d+)?")


def _outside_code(text: str) -> str:
    text = _AMOUNT.sub(lambda m: f"`{m.group(0)}`", text)
    return re.sub(r"(?<![`\\])\$(?!\d)", r"\\$", text)


def _protect_dollars(text: str) -> str:
    """Amounts as inline code (outside fenced code blocks); any other ``$`` escaped."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            parts = line.split("`")  # even parts are outside inline code spans
            parts[::2] = [_outside_code(part) for part in parts[::2]]
            line = "`".join(parts)
        out.append(line)
    return "\n".join(out)
