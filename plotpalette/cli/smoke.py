"""``plotpalette smoke``: the smoke test after deploy, as an executed notebook.

Runs ``notebooks/smoke.ipynb`` with papermill against the stack's ``s3://`` workspace:
a 20-record job on 2 AWS Batch workers, its export and its costs
(:func:`plotpalette.aws.smoke.run_smoke`). The executed notebook is the report. Exits
0 when every step passed, 1 (with the failed step and its fix) otherwise.

``--simulate-batch`` is for moto's server only, which records Batch jobs but runs
nothing: the workers then run as local processes (the Batch simulator).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..aws.smoke import from_kernel
from ..bundle import notebooks_dir
from .common import common_options, emit, settings_from_args

__all__ = ["register"]

NOTEBOOK = "smoke.ipynb"


def cmd_smoke(args: argparse.Namespace) -> int:
    import papermill

    workspace = settings_from_args(args).workspace
    source = notebooks_dir().path / NOTEBOOK
    output = Path(args.output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters = {
        "workspace": str(workspace),
        "records": args.records,
        "workers": args.workers,
        "budget_usd": args.budget,
        "simulate_batch": args.simulate_batch,
        "bedrock_endpoint_url": args.bedrock_endpoint_url or "",
        "timeout_s": args.timeout,
        "headless": True,
    }
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(output.parent),
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as exc:
        raise from_kernel(exc.ename, str(exc.evalue), report=str(output)) from None
    emit(
        args,
        {"ok": True, "workspace": str(workspace), "report": str(output)},
        f"smoke test passed; report: {output}",
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "smoke",
        parents=[common_options()],
        help="smoke-test a deployed stack: a small job on AWS Batch, its export and costs",
    )
    p.add_argument("--output", default="smoke-report.ipynb", help="the report notebook to write")
    p.add_argument("--records", type=int, default=20, help="records in the job (default 20)")
    p.add_argument("--workers", type=int, default=2, help="Batch workers (default 2)")
    p.add_argument("--budget", type=float, default=0.5, help="job budget in USD (default 0.5)")
    p.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to wait for the job (default 1800)"
    )
    p.add_argument(
        "--bedrock-endpoint-url",
        help="Bedrock runtime endpoint (the Bedrock emulator's, in tests)",
    )
    p.add_argument(
        "--simulate-batch",
        action="store_true",
        help="moto only: run the Batch workers as local processes (moto runs nothing)",
    )
    p.set_defaults(handler=cmd_smoke)
