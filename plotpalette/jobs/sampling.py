"""Deterministic records: which seed row and which random stream record *i* gets.

Both depend only on ``(sampling_seed, i)`` (and the seed count), never on the order in
which records happen to run, on concurrency or on resumes: record 7 is the same record
in an uninterrupted run and in one resumed five times.
"""

from __future__ import annotations

import hashlib
import random

from ..errors import ConfigError

__all__ = ["Sampler", "record_rng_seed"]


def record_rng_seed(sampling_seed: int, index: int) -> int:
    """A 63-bit seed for record ``index``'s random stream (template filters, model seed)."""
    digest = hashlib.blake2b(f"{sampling_seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class Sampler:
    """Maps a record index to a seed row index.

    - ``sequential``: rows in order, wrapping around.
    - ``with_replacement``: an independent uniform draw per record.
    - ``without_replacement``: a seeded permutation of the rows; after every row was
      used once, a fresh permutation (epoch) starts.
    """

    def __init__(self, mode: str, n_rows: int, sampling_seed: int) -> None:
        if n_rows < 1:
            raise ConfigError("the seed set has no rows", fix="Give the job at least one seed row.")
        self.mode, self.n, self.seed = mode, n_rows, sampling_seed
        self._epoch = -1
        self._perm: list[int] = []

    def seed_index(self, index: int) -> int:
        if self.mode == "sequential":
            return index % self.n
        if self.mode == "with_replacement":
            return random.Random(record_rng_seed(self.seed ^ 0x5EED, index)).randrange(self.n)
        if self.mode == "without_replacement":
            epoch, offset = divmod(index, self.n)
            if epoch != self._epoch:
                perm = list(range(self.n))
                random.Random(f"{self.seed}:perm:{epoch}").shuffle(perm)
                self._epoch, self._perm = epoch, perm
            return self._perm[offset]
        raise ConfigError(f"unknown sampling mode {self.mode!r}")
