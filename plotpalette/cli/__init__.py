"""The ``plotpalette`` command.

Each command group lives in its own module with a ``register(subparsers)`` function;
this module wires them up, turns :class:`PlotPaletteError` into a one-line message
(or a JSON object with ``--json``) and documented exit codes:

====  =====================================================
0     success
1     a Plot Palette error (message says how to fix it)
2     wrong command-line usage
3     job ended BUDGET_EXCEEDED (partial results kept)
4     job ended FAILED
5     job ended INTERRUPTED or CANCELLED (resumable)
130   interrupted by Ctrl-C
====  =====================================================
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import PlotPaletteError
from . import docs as docs_cmd
from . import export as export_cmd
from . import info as info_cmd
from . import jobs as jobs_cmd
from . import models as models_cmd
from . import ops as ops_cmd
from . import quality as quality_cmd
from . import seeds as seeds_cmd
from . import smoke as smoke_cmd
from . import stack as stack_cmd
from . import submit as submit_cmd
from . import templates as templates_cmd
from . import workspace as workspace_cmd
from .common import common_options

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = {
    "ok": 0,
    "error": 1,
    "usage": 2,
    "budget": 3,
    "failed": 4,
    "interrupted": 5,
    "sigint": 130,
}

# Command modules; each registers its sub-commands. Later modules append here.
COMMAND_MODULES = [info_cmd, jobs_cmd, templates_cmd, seeds_cmd, models_cmd, export_cmd]
COMMAND_MODULES.append(quality_cmd)
COMMAND_MODULES += [stack_cmd, ops_cmd]  # AWS stack: deploy, stack, outputs, teardown, schedule
COMMAND_MODULES.append(workspace_cmd)
COMMAND_MODULES.append(docs_cmd)
COMMAND_MODULES.append(submit_cmd)  # jobs on AWS Batch
COMMAND_MODULES.append(smoke_cmd)  # smoke test after deploy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plotpalette",
        parents=[common_options()],
        description="Synthetic training data from seed rows and prompt templates, "
        "under a hard dollar budget.",
    )
    parser.add_argument("--version", action="version", version=f"plotpalette {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_CODES["usage"]
    try:
        return int(args.handler(args) or 0)
    except PlotPaletteError as exc:
        if getattr(args, "json", False):
            print(json.dumps(exc.to_dict()))
        else:
            print(f"error: {exc.message}\n  fix: {exc.fix}", file=sys.stderr)
        return EXIT_CODES["error"]
    except BrokenPipeError:  # `plotpalette list | head` closed the pipe: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        return EXIT_CODES["ok"]
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CODES["sigint"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
