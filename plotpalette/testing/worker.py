"""``python -m plotpalette.testing.worker JOB_ID --latency S``: a job worker on the
in-process :class:`~plotpalette.testing.InstantBackend` (a test double), for kill tests
and benchmarks. Everything else is the production worker
(:mod:`plotpalette.jobs.worker`), which never imports this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..jobs import worker
from .fakes import InstantBackend

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--latency", type=float, default=0.0)
    pre.add_argument("--instant", action="store_true")  # accepted for older callers
    known, rest = pre.parse_known_args(argv)
    backend = InstantBackend(latency_s=known.latency)
    return worker.main(rest, backend=backend, prog="python -m plotpalette.testing.worker")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
