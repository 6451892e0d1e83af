"""The sample seed sets shipped inside the package (``plotpalette/samples/*.jsonl``)."""

from __future__ import annotations

from importlib import resources

from ..errors import SeedError
from .seedset import SeedSet, build_seedset
from .text_formats import read_jsonl

__all__ = ["list_samples", "sample_seeds"]


def list_samples() -> list[str]:
    """Names of the bundled sample seed sets, e.g. ``["poetry"]``."""
    folder = resources.files("plotpalette").joinpath("samples")
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".jsonl")] for p in folder.iterdir() if p.name.endswith(".jsonl"))


def sample_seeds(name: str = "poetry") -> SeedSet:
    """Load a bundled sample seed set by name (works from a wheel or a zip too).

    >>> seeds = sample_seeds("poetry")          # doctest: +SKIP
    """
    resource = resources.files("plotpalette").joinpath("samples").joinpath(f"{name}.jsonl")
    if not resource.is_file():
        available = ", ".join(list_samples()) or "none installed"
        raise SeedError(
            f"no bundled sample seed set named {name!r}", fix=f"Use one of: {available}."
        )
    with resources.as_file(resource) as path:
        return build_seedset(read_jsonl(path), format="jsonl", source=f"sample:{name}", unit="line")
