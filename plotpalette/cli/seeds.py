"""``plotpalette seeds inspect|import|list|generate``: look at, check, store and make seeds."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..seeds import SeedSet, load_seeds, validate_rows
from ..workspace import Workspace
from .common import common_options, emit, settings_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("seeds", parents=[common_options()], help="inspect and import seed data")
    cmds = p.add_subparsers(dest="seeds_command", metavar="SUBCOMMAND")

    inspect = cmds.add_parser(
        "inspect",
        parents=[common_options()],
        help="show a seed file's rows, fields and hash; check it against a template",
    )
    inspect.add_argument("file", help="seed file (.jsonl, .json, .csv, .tsv, .parquet)")
    inspect.add_argument("--format", help="override the format guessed from the extension")
    inspect.add_argument(
        "--template",
        metavar="NAME",
        help="a template YAML file, or name[@version] in the workspace library; every row "
        "is checked against its inputs (exit code 1 if any row does not fit)",
    )
    inspect.add_argument("--rows", type=int, default=3, help="rows to show (default 3)")
    inspect.set_defaults(handler=run_inspect)

    imp = cmds.add_parser(
        "import", parents=[common_options()], help="store a seed file in the workspace by hash"
    )
    imp.add_argument("file")
    imp.add_argument("--format", help="override the format guessed from the extension")
    imp.set_defaults(handler=run_import)

    ls = cmds.add_parser("list", parents=[common_options()], help="seed sets in the workspace")
    ls.set_defaults(handler=run_list)

    gen = cmds.add_parser(
        "generate",
        parents=[common_options()],
        help="have a model write seed rows (charged to --budget) and store them by hash",
    )
    gen.add_argument("description", help='what the rows are, e.g. "poems about the sea"')
    gen.add_argument(
        "--field",
        action="append",
        required=True,
        metavar="NAME[=WHAT]",
        help="a field of each row, optionally described (repeat; dotted names nest: "
        "author.name=the poet's name)",
    )
    gen.add_argument("-n", "--rows", type=int, default=20, help="rows to make (default 20)")
    gen.add_argument("--budget", type=float, required=True, help="hard limit in USD")
    gen.add_argument("--model", default="cheap", help="model id or tier (default cheap)")
    gen.add_argument("--backend", choices=["local", "bedrock"], help="default: the configured one")
    gen.add_argument("--out", help="also write the rows to this .jsonl file")
    gen.set_defaults(handler=run_generate)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.open(settings=settings_from_args(args))


def _schema(name: str, args: argparse.Namespace) -> Any:
    """The inferred input schema of a template file or a library template."""
    from ..templates import parse_template
    from ..templates.inputs import infer_inputs
    from ..templates.library import TemplateLibrary
    from ..templates.yaml_io import read_template_file

    path = Path(name)
    if path.suffix in (".yaml", ".yml") and os.path.lexists(path):
        template = parse_template(read_template_file(path), source=str(path))
        return infer_inputs(template)
    library = TemplateLibrary(_workspace(args))
    return infer_inputs(library.get(name), library)


def run_inspect(args: argparse.Namespace) -> int:
    seeds = load_seeds(args.file, format=args.format)
    data: dict[str, Any] = {
        "source": seeds.source,
        "format": seeds.format,
        "rows": len(seeds),
        "sha256": seeds.sha256,
        "fields": seeds.fields(),
        "sample": seeds.rows[: max(args.rows, 0)],
    }
    lines = [
        f"{seeds.source}: {len(seeds)} rows ({seeds.format})",
        f"sha256:  {seeds.sha256}",
        "fields:  " + ", ".join(data["fields"]),
    ]
    for index, row in enumerate(data["sample"]):
        text = json.dumps(row, ensure_ascii=False)
        lines.append(f"  {seeds.where(index)}: {text[:200]}{'…' if len(text) > 200 else ''}")
    code = 0
    if args.template:
        report = validate_rows(seeds, _schema(args.template, args))
        data["validation"] = report.to_dict()
        lines.append(report.summary())
        code = 0 if report.ok else 1
    emit(args, data, "\n".join(lines))
    return code


def run_import(args: argparse.Namespace) -> int:
    seeds = load_seeds(args.file, format=args.format)
    key = seeds.save_to(_workspace(args))
    data = {"sha256": seeds.sha256, "key": key, "rows": len(seeds), "format": seeds.format}
    emit(args, data, f"stored {len(seeds)} rows as {key}\nsha256: {seeds.sha256}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    found = []
    for key in ws.store.list("seeds/"):
        if key.endswith(".jsonl"):
            seeds = SeedSet.from_workspace(ws, key.rsplit("/", 1)[-1][: -len(".jsonl")])
            found.append({"sha256": seeds.sha256, "rows": len(seeds), "fields": seeds.fields()})
    text = (
        "\n".join(
            f"{s['sha256'][:12]}  {s['rows']:>7} rows  {', '.join(s['fields'])}" for s in found
        )
        or "no seed sets in this workspace"
    )
    emit(args, found, text)
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from ..llm import make_backend
    from ..seeds import generate_seeds

    settings = settings_from_args(args, backend=args.backend)
    fields = dict(f.split("=", 1) if "=" in f else (f, "") for f in args.field)
    seeds = generate_seeds(
        args.description,
        fields,
        args.rows,
        budget_usd=args.budget,
        backend=make_backend(settings),
        model=args.model,
    )
    key = seeds.save_to(Workspace.open(settings=settings))
    if args.out:
        Path(args.out).write_bytes(
            b"".join(json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in seeds.rows)
        )
    made = seeds.generation
    data = {
        "sha256": seeds.sha256,
        "key": key,
        "rows": len(seeds),
        "model": made.model,
        "calls": made.calls,
        "cost_usd": made.cost_usd,
        "complete": made.complete,
        "stopped_by": made.stopped_by,
        "out": args.out,
    }
    lines = [
        f"made {len(seeds)} of {args.rows} rows with {made.model} in {made.calls} call(s), "
        f"${made.cost_usd:.6f} of ${args.budget:.6f}",
        f"stored as {key}  (use --seeds {seeds.sha256[:12]} with plotpalette run)",
    ]
    if not made.complete:
        lines.append(f"stopped early ({made.stopped_by}): raise --budget for more rows")
    emit(args, data, "\n".join(lines))
    return 0 if made.complete else 3
