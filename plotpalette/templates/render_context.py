"""The per-record state a render sees: the seed row, the step outputs so far, and the RNG.

Templates see the seed's fields at the top level, plus ``seed``, ``steps`` and
``record_index``; every rendered part draws from its own RNG, seeded by the record
and the part, so a record renders the same however the job is split or resumed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .render_support import StepOutput

__all__ = ["RESERVED_NAMES", "RenderContext"]

# Names a template sees that do not come from the seed row: the render's own variables,
# Jinja's helpers and the names its compiler binds. A seed field with one of these
# names does not replace it (that would break `range(3)` with a confusing TypeError);
# it is read as ``seed.<name>`` (``seed.range``, ``seed['namespace']``) instead.
RESERVED_NAMES = frozenset(
    {
        "seed",
        "steps",
        "record_index",
        "range",
        "dict",
        "cycler",
        "joiner",
        "namespace",
        "lipsum",
        "loop",
        "self",
        "caller",
        "varargs",
        "kwargs",
    }
)


@dataclass
class RenderContext:
    """Per-record state: the seed row, the record's RNG seed and step outputs so far."""

    seed: dict[str, Any]
    record_index: int
    rng_seed: int
    steps: dict[str, StepOutput] = field(default_factory=dict)
    _vars: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def variables(self) -> dict[str, Any]:
        """What templates see: the seed's fields, plus ``seed``, ``steps``, ``record_index``.

        Fields named like a template helper (:data:`RESERVED_NAMES`) are only under
        ``seed`` (``seed.range``); the helper keeps its name."""
        fields = self.seed
        if not RESERVED_NAMES.isdisjoint(fields):
            fields = {k: v for k, v in fields.items() if k not in RESERVED_NAMES}
        return {
            **fields,
            "seed": self.seed,
            "steps": self.steps,
            "record_index": self.record_index,
        }

    def _shared_variables(self) -> dict[str, Any]:
        # Built once per record: renders never mutate it (Jinja copies what it is
        # given), and ``steps`` is this same dict, so later step outputs show through.
        if self._vars is None:
            self._vars = self.variables()
        return self._vars

    def rng(self, *parts: str) -> Callable[[], random.Random]:
        """A factory for the RNG of one rendered part, seeded by (rng_seed, record
        index, step id, part); built lazily because most renders never draw."""

        def make() -> random.Random:
            key = "\x1f".join([str(self.rng_seed), str(self.record_index), *parts])
            seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
            return random.Random(seed)

        return make
