"""Seed data: load rows from files and frames, hash them, check them against a template.

>>> from plotpalette.seeds import load_seeds
>>> seeds = load_seeds([{"topic": "rain", "author": {"name": "Ada"}}])
>>> seeds.fields()
['author.name', 'topic']
"""

from __future__ import annotations

from .generate import SeedGeneration, generate_seeds
from .load import SeedScan, load_seeds, scan_seeds
from .samples import list_samples, sample_seeds
from .seedset import SeedSet
from .validate import RowError, ValidationReport, validate_rows

__all__ = [
    "RowError",
    "SeedGeneration",
    "SeedScan",
    "SeedSet",
    "ValidationReport",
    "generate_seeds",
    "list_samples",
    "load_seeds",
    "sample_seeds",
    "scan_seeds",
    "validate_rows",
]
