"""Exact and near-duplicate detection: MinHash signatures (datasketch) and LSH banding.

Texts are compared in :func:`~plotpalette.quality.text.normalise`\\d form. Exact
duplicates share a 64-bit BLAKE2b digest of that form. Near-duplicates: each text's
set of word ``shingle``-grams gets a MinHash signature from ``datasketch`` (with its
own universal-hash permutations); signatures are cut into ``b`` bands of ``r`` rows,
``(b, r)`` chosen by datasketch's LSH optimiser for the ``threshold``. Texts sharing a
band are candidates, and a candidate joins a cluster only when the signatures estimate
a Jaccard similarity of at least ``threshold``.

The banding is done on one NumPy array of signatures (4 bytes per permutation per
text) instead of datasketch's in-memory ``MinHashLSH`` index, whose per-key Python
objects need several GB for a million texts; candidates are found by sorting each band's
keys, so memory stays linear and flat per text. The first text of a cluster (in input
order) is its representative; the rest are its duplicates.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import QualityError
from .text import normalise

__all__ = ["DEFAULT_NUM_PERM", "DEFAULT_THRESHOLD", "Duplicates", "find_duplicates"]

DEFAULT_THRESHOLD = 0.6
DEFAULT_NUM_PERM = 64
DEFAULT_SHINGLE = 2
_CHUNK = 8192


def _datasketch() -> Any:
    try:
        import datasketch
    except ImportError:
        raise QualityError(
            "near-duplicate detection needs the datasketch package, which is not installed",
            fix='pip install "plotpalette[quality]" (or pip install datasketch).',
        ) from None
    return datasketch


@dataclass
class Duplicates:
    """Which texts duplicate an earlier one.

    ``exact_of[key]`` / ``near_of[key]``: the representative (first) key of the
    exact-duplicate group / near-duplicate cluster, for every key that is not itself
    the first. A key in ``exact_of`` is also in ``near_of``.
    """

    keys: list[Hashable]
    exact_of: dict[Hashable, Hashable] = field(default_factory=dict)
    near_of: dict[Hashable, Hashable] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD
    num_perm: int = DEFAULT_NUM_PERM
    bands: int = 0
    rows: int = 0

    @property
    def duplicates(self) -> set[Hashable]:
        """Every key that repeats an earlier text (exactly or nearly)."""
        return set(self.near_of)

    def clusters(self) -> dict[Hashable, list[Hashable]]:
        """Representative -> its cluster (representative first), for clusters of 2+."""
        out: dict[Hashable, list[Hashable]] = {}
        for key in self.keys:
            rep = self.near_of.get(key)
            if rep is not None:
                out.setdefault(rep, [rep]).append(key)
        return out


def _band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    from datasketch.lsh import _optimal_param  # the optimiser MinHashLSH itself uses

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)


def _shingles(text: str, size: int) -> list[bytes]:
    tokens = text.split()
    if len(tokens) <= size:
        return [" ".join(tokens).encode()]
    return [" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)]


def find_duplicates(
    items: Iterable[tuple[Hashable, str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    shingle: int = DEFAULT_SHINGLE,
    seed: int = 1,
) -> Duplicates:
    """Find exact and near-duplicates among ``(key, text)`` pairs (streamed once).

    ``threshold`` is the estimated Jaccard similarity of word ``shingle``-gram sets at
    or above which two texts count as near-duplicates. Empty texts are only ever exact
    duplicates of each other.
    """
    if not 0 < threshold <= 1:
        raise QualityError(
            f"threshold must be in (0, 1], got {threshold!r}",
            fix="Pass e.g. threshold=0.6 (higher finds fewer, closer duplicates).",
        )
    if num_perm < 16 or shingle < 1:
        raise QualityError(
            "num_perm must be >= 16 and shingle >= 1", fix="Keep the defaults (64 and 2)."
        )
    import numpy as np

    ds = _datasketch()
    bands, rows = _band_params(threshold, num_perm)
    # crc32 (C, 32-bit) instead of the default SHA-1: faster on short shingles; the
    # affine32 scheme pre-mixes each input hash (MurmurHash3 finaliser) before permuting.
    base = ds.MinHash(num_perm=num_perm, seed=seed, hashfunc=zlib.crc32, scheme="affine32")
    keys: list[Hashable] = []
    digests: list[int] = []
    chunks: list[Any] = []
    chunk = np.empty((_CHUNK, num_perm), dtype=np.uint32)
    filled = 0
    empty: list[int] = []
    for key, text in items:
        norm = normalise(text)
        position = len(keys)
        keys.append(key)
        digests.append(
            int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "big")
        )
        if not norm:
            empty.append(position)
        mh = base.copy()
        mh.update_batch(_shingles(norm, shingle))
        chunk[filled] = mh.hashvalues
        filled += 1
        if filled == _CHUNK:
            chunks.append(chunk)
            chunk, filled = np.empty((_CHUNK, num_perm), dtype=np.uint32), 0
    chunks.append(chunk[:filled])
    sig = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    del chunks, chunk
    parent = np.arange(len(keys), dtype=np.int64)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = int(parent[root])
        while parent[i] != root:  # path compression
            parent[i], i = root, int(parent[i])
        return root

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:  # the earlier text stays the representative
            parent[max(ri, rj)] = min(ri, rj)

    # exact duplicates: equal digests
    digest_arr = np.array(digests, dtype=np.uint64)
    del digests
    exact_pairs = _runs(digest_arr)
    exact = np.arange(len(keys), dtype=np.int64)
    for first, members in exact_pairs:
        for m in members:
            exact[m] = first
            union(first, m)
    # near duplicates: LSH bands, candidates verified on the signatures
    needed = threshold * num_perm
    skip = np.zeros(len(keys), dtype=bool)
    skip[empty] = True
    for b in range(bands):
        band = sig[:, b * rows : (b + 1) * rows].astype(np.uint64)
        band_key = np.zeros(len(keys), dtype=np.uint64)
        for col in range(rows):  # FNV-style mix of the band's rows into one key
            band_key = (band_key ^ band[:, col]) * np.uint64(1099511628211)
        for first, members in _runs(band_key, skip):
            agree = np.count_nonzero(sig[members] == sig[first], axis=1)
            for m, same in zip(members, agree, strict=True):
                if same >= needed:
                    union(first, m)
    out = Duplicates(keys=keys, threshold=threshold, num_perm=num_perm, bands=bands, rows=rows)
    for i in range(len(keys)):
        root = find(i)
        if root != i:
            out.near_of[keys[i]] = keys[root]
        if exact[i] != i:
            out.exact_of[keys[i]] = keys[int(exact[i])]
    return out


def _runs(values: Any, skip: Any = None) -> list[tuple[int, list[int]]]:
    """Groups of equal values: (first position, later positions), in input order."""
    import numpy as np

    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(order)]
    groups = []
    for s, e in zip(starts[(ends - starts) > 1], ends[(ends - starts) > 1], strict=True):
        members = [int(p) for p in order[s:e] if skip is None or not skip[p]]
        if len(members) > 1:
            groups.append((members[0], members[1:]))
    return groups
