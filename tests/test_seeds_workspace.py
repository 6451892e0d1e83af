"""Seed sets stored in a workspace by content hash, and the bundled samples."""

from __future__ import annotations

import hashlib

import pytest

from plotpalette import layout
from plotpalette.errors import SeedError, WorkspaceError
from plotpalette.seeds import SeedSet, list_samples, load_seeds, sample_seeds

ROWS = [
    {"topic": "rain", "author": {"name": "Ada"}, "lines": [{"speaker": "A", "text": "hi"}]},
    {"topic": "t\u00eate \U0001f30a", "author": {"name": "Bo"}, "lines": []},
]


def test_save_and_load_back_by_hash(workspace):
    seeds = load_seeds(ROWS)
    key = seeds.save_to(workspace)
    assert key == layout.seed_key(seeds.sha256, "jsonl")
    stored = workspace.store.read_bytes(key)
    assert hashlib.sha256(stored).hexdigest() == seeds.sha256  # the name checks the content
    again = SeedSet.from_workspace(workspace, seeds.sha256)
    assert again.rows == ROWS
    assert again.sha256 == seeds.sha256
    assert again.source == f"workspace:{key}"


def test_saving_is_idempotent_and_shared_across_formats(workspace, tmp_path):
    first = load_seeds(ROWS).save_to(workspace)
    path = tmp_path / "same.jsonl"
    path.write_bytes(workspace.store.read_bytes(first))
    assert load_seeds(path).save_to(workspace) == first
    assert workspace.store.list("seeds/") == [first]


def test_stored_form_is_canonical_jsonl(workspace):
    key = load_seeds([{"b": 1, "a": "\u00e9"}]).save_to(workspace)
    assert workspace.store.read_bytes(key) == '{"a":"\u00e9","b":1}\n'.encode()


def test_lookup_by_unique_prefix(workspace):
    seeds = load_seeds(ROWS)
    seeds.save_to(workspace)
    assert SeedSet.from_workspace(workspace, seeds.sha256[:10]).rows == ROWS


def test_unknown_or_malformed_hash(workspace):
    with pytest.raises(SeedError, match="no seed set"):
        SeedSet.from_workspace(workspace, "0" * 64)
    with pytest.raises(SeedError, match="not a seed set hash"):
        SeedSet.from_workspace(workspace, "../etc")


def test_damaged_stored_seed_set_is_detected(workspace):
    seeds = load_seeds(ROWS)
    key = seeds.save_to(workspace)
    workspace.store.write_bytes(key, b'{"topic":"tampered"}\n')
    with pytest.raises(WorkspaceError, match="damaged"):
        SeedSet.from_workspace(workspace, seeds.sha256)


def test_bundled_poetry_sample_loads_with_line_numbers():
    assert "poetry" in list_samples()
    seeds = sample_seeds()
    assert seeds.source == "sample:poetry"
    assert len(seeds) >= 10
    assert seeds.row_numbers[0] >= 1 and seeds.unit == "line"
    assert sample_seeds("poetry").sha256 == seeds.sha256


def test_unknown_sample_lists_the_available_ones():
    with pytest.raises(SeedError, match="no bundled sample seed set named 'nope'") as info:
        sample_seeds("nope")
    assert "poetry" in info.value.fix
