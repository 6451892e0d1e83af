"""Show an export's dataset card in a notebook, rendered as Markdown.

The card file (``README.md``) starts with a YAML header for the Hugging Face Hub, which
a notebook would render as a rule and a list, and quotes dollar amounts, which
JupyterLab's Markdown renderer would typeset as maths. :func:`dataset_card` shows the
body with dollars kept as dollars; the file itself is not changed.
"""

from __future__ import annotations

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
    return Markdown(text.replace("$", r"\$"))
