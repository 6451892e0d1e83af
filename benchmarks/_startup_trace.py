"""Run ``plotpalette`` with timestamps at the stages of its start-up (a benchmark aid).

Usage: python _startup_trace.py MARKS.json plotpalette-args...

Writes ``{"stage": unix_time, ...}`` to MARKS.json when the process exits. Stages are
the end of interpreter start, the end of ``import plotpalette.cli``, and the start and
end of the functions in :data:`WRAPPED`; a function is wrapped by an import hook just
after its module runs, so nothing is imported earlier than the command itself would.
Only the first call of each function is marked.
"""

from __future__ import annotations

import atexit
import functools
import importlib.abc
import importlib.machinery
import json
import sys
import time
from pathlib import Path

MARKS: dict[str, float] = {"interpreter": time.time()}

# module -> functions whose first call is timed (start and end)
WRAPPED = {
    "plotpalette.jobs.loader": ["resolve_template", "store_job", "load_job"],
    "plotpalette.jobs.api": ["_execute"],
    "plotpalette.jobs.preflight": ["backend_region", "preflight"],  # preflight: start only
    "plotpalette.llm": ["make_backend"],
    # heavy imports: when each finished (nested imports finish before their importer)
    **{
        name: []
        for name in (
            "plotpalette.templates",
            "plotpalette.seeds",
            "plotpalette.jobs",
            "plotpalette.bundle",
            "jinja2",
            "pydantic",
            "jsonschema",
            "boto3",
            "botocore.client",
            "yaml",
        )
    },
}


def _wrap(module: object, name: str) -> None:
    func = getattr(module, name, None)
    if func is None:
        return

    @functools.wraps(func)
    def timed(*args: object, **kwargs: object) -> object:
        first = f"{name}:start" not in MARKS
        if first:
            MARKS[f"{name}:start"] = time.time()
        try:
            return func(*args, **kwargs)
        finally:
            if first:
                MARKS[f"{name}:end"] = time.time()

    setattr(module, name, timed)


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in WRAPPED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: object) -> None:
            run(module)
            MARKS[f"import {fullname}"] = time.time()
            for name in WRAPPED[fullname]:
                _wrap(module, name)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    atexit.register(lambda: Path(out).write_text(json.dumps(MARKS)))
    sys.meta_path.insert(0, _Hook())
    from plotpalette import cli

    MARKS["import plotpalette.cli"] = time.time()
    code = cli.main(argv)
    sys.exit(code)


if __name__ == "__main__":
    main()
