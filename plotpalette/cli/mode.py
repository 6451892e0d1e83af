"""``--mode`` and ``--max-wait``: on-demand calls or Bedrock batch inference.

``--mode`` goes on every command that builds a job spec; ``--max-wait`` on the ones
that resolve ``auto`` themselves (``run``, ``submit``, ``estimate``; a sweep's jobs use
the default).
"""

from __future__ import annotations

import argparse
import sys

from ..jobs.batch_plan import BATCH_HOURS_PER_STEP, DEFAULT_MAX_WAIT_HOURS, INFERENCE_MODES
from ..jobs.inference import resolve_inference_mode
from ..jobs.spec import JobSpec
from ..workspace import Workspace

__all__ = ["add_max_wait_option", "add_mode_option", "max_wait_hours", "resolve_mode"]


def add_mode_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=list(INFERENCE_MODES),
        help="on-demand calls (default), Bedrock batch inference (about half the price, "
        "answers within hours), or auto (batch where cheaper and within --max-wait)",
    )


def add_max_wait_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-wait",
        type=float,
        metavar="HOURS",
        help=f"the batch latency --mode auto accepts (default {DEFAULT_MAX_WAIT_HOURS:g} h; "
        f"batch is counted as up to {BATCH_HOURS_PER_STEP:g} h per step)",
    )


def max_wait_hours(args: argparse.Namespace) -> float:
    value = getattr(args, "max_wait", None)
    return DEFAULT_MAX_WAIT_HOURS if value is None else float(value)


def resolve_mode(args: argparse.Namespace, ws: Workspace, spec: JobSpec) -> JobSpec:
    """``spec`` with ``auto`` resolved under ``--max-wait`` (``batch`` checked), saying
    what was chosen on stderr (not with ``--json``)."""
    if spec.inference_mode == "on-demand":
        return spec
    quiet = getattr(args, "json", False)

    def say(sentence: str) -> None:
        if not quiet:
            print(f"--mode {spec.inference_mode}: {sentence}", file=sys.stderr, flush=True)

    return resolve_inference_mode(ws, spec, max_wait_hours=max_wait_hours(args), on_choice=say)
