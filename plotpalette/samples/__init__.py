"""Sample seed data bundled with Plot Palette.

``poetry.jsonl``: 40 short poems with authors, days, topics, categories and a small
cast of characters per row, in the spirit of the poetry dataset the original Plot
Palette used. Every poem, name and line was written for this project (no third-party
text), so the set is redistributable with the package. Some rows omit the optional
``author.era`` on purpose. Load it with ``plotpalette.seeds.sample_seeds("poetry")``
or, without the seeds module, :func:`sample_rows`.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["SAMPLE_SETS", "sample_path", "sample_rows"]

SAMPLE_SETS = ("poetry",)


def sample_path(name: str = "poetry") -> str:
    """Filesystem path of a bundled sample set (``poetry``)."""
    if name not in SAMPLE_SETS:
        from ..errors import SeedError

        raise SeedError(
            f"no bundled sample set {name!r}", fix=f"Use one of: {', '.join(SAMPLE_SETS)}."
        )
    return str(resources.files(__name__) / f"{name}.jsonl")


def sample_rows(name: str = "poetry") -> list[dict[str, Any]]:
    """The rows of a bundled sample set, as dictionaries."""
    with open(sample_path(name), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
