"""``python -m plotpalette.jobs.worker JOB_ID``: the entrypoint an ECS task or a
subprocess runs.

It runs (or resumes) one stored job with SIGTERM/SIGINT handlers installed, and only
exits after the final checkpoint is written: shards flushed, costs settled, state set.
Exit codes follow the CLI's: 0 COMPLETED, 3 BUDGET_EXCEEDED, 4 FAILED, 5 INTERRUPTED or
CANCELLED, 1 for an error before the job could start.

Options: ``--workspace`` (else ``PLOTPALETTE_WORKSPACE``), ``--budget`` (dollars,
replaces the stored budget), ``--grace`` (seconds calls in flight may take after a
stop; default 90, inside Spot's two-minute notice), ``--instant`` (the in-process
test backend, for tests and benchmarks, with optional ``--latency``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ..errors import PlotPaletteError
from ..workspace import Workspace
from .api import resume_job
from .runner import RunOptions
from .states import EXIT_BY_STATE

__all__ = ["EXIT_BY_STATE", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plotpalette.jobs.worker")
    parser.add_argument("job_id")
    parser.add_argument("--workspace")
    parser.add_argument("--budget", type=float, default=None)
    parser.add_argument("--grace", type=float, default=90.0)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--flush-records", type=int, default=500)
    parser.add_argument("--flush-seconds", type=float, default=1.0)
    parser.add_argument(
        "--instant",
        action="store_true",
        help="use the in-process InstantBackend (tests and benchmarks)",
    )
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--endpoint-url", help="Bedrock endpoint (e.g. the emulator)")
    args = parser.parse_args(argv)
    try:
        ws = Workspace.open(args.workspace) if args.workspace else Workspace.open()
        if args.endpoint_url:
            ws.settings = ws.settings.replace(
                backend="bedrock", bedrock_endpoint_url=args.endpoint_url
            )
        backend = None
        if args.instant:
            from ..testing import InstantBackend

            backend = InstantBackend(latency_s=args.latency)
        options = RunOptions(
            grace_s=args.grace, flush_records=args.flush_records, flush_seconds=args.flush_seconds
        )
        info = None
        if args.concurrency:
            options.concurrency = args.concurrency
        else:
            from .api import job_status

            info = job_status(ws, args.job_id)
            options.concurrency = info.spec.get("concurrency") or ws.settings.concurrency
        kwargs = {} if args.budget is None else {"budget_usd": args.budget}
        result = resume_job(
            ws, args.job_id, backend=backend, options=options, handle_signals=True, **kwargs
        )
    except PlotPaletteError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), default=str))
    return EXIT_BY_STATE[result.state]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
