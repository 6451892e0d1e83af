"""``plotpalette template list|show|check|save|history|diff|export``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..templates.yaml_io import read_template_file
from ..workspace import Workspace
from .common import common_options, emit, settings_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "template",
        parents=[common_options()],
        help="list, check, save, diff and export prompt templates",
    )
    tsub = p.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    parent = common_options()
    q = tsub.add_parser("list", parents=[parent], help="latest version of every template")
    q.add_argument("query", nargs="?", default="", help="filter by name/description/category")
    q.set_defaults(handler=_list)
    q = tsub.add_parser("show", parents=[parent], help="print a template as YAML")
    q.add_argument("ref", help="name or name@version")
    q.set_defaults(handler=_show)
    q = tsub.add_parser("check", parents=[parent], help="validate a template file")
    q.add_argument("file", type=Path)
    q.set_defaults(handler=_check)
    q = tsub.add_parser("save", parents=[parent], help="save a file as a new version")
    q.add_argument("file", type=Path)
    q.add_argument("-m", "--message", default="", help="note stored with the version")
    q.set_defaults(handler=_save)
    q = tsub.add_parser("history", parents=[parent], help="every version of a template")
    q.add_argument("name")
    q.set_defaults(handler=_history)
    q = tsub.add_parser("diff", parents=[parent], help="unified diff of two versions")
    q.add_argument("a", help="name@version")
    q.add_argument("b", help="name@version (or name for the latest)")
    q.set_defaults(handler=_diff)
    q = tsub.add_parser("export", parents=[parent], help="write a version to a YAML file")
    q.add_argument("ref", help="name or name@version")
    q.add_argument("file", type=Path)
    q.set_defaults(handler=_export)


def _library(args: argparse.Namespace):
    from ..templates import TemplateLibrary

    return TemplateLibrary(Workspace.open(settings=settings_from_args(args)))


def _list(args: argparse.Namespace) -> int:
    infos = _library(args).search(args.query)
    lines = [
        f"{i.ref:28} {i.category:10} {'fragment ' if i.fragment else ''}{i.description}"
        for i in infos
    ]
    emit(args, [i.to_dict() for i in infos], "\n".join(lines) or "no templates")
    return 0


def _show(args: argparse.Namespace) -> int:
    tpl = _library(args).get(args.ref)
    emit(
        args,
        {"ref": tpl.ref, "content_hash": tpl.content_hash, "yaml": tpl.to_yaml()},
        f"# {tpl.ref}\n{tpl.to_yaml()}",
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from ..templates import Renderer, parse_template

    data = read_template_file(args.file)
    tpl = parse_template(data, source=str(args.file))
    library = None
    if not tpl.is_fragment:
        try:
            library = _library(args)
        except Exception:  # checking a file works without a workspace too
            library = None
        schema = Renderer(tpl, library).inputs()
    else:
        schema = None
    fields = [f.path + ("" if f.required else "?") for f in schema.fields] if schema else []
    emit(
        args,
        {
            "ok": True,
            "name": tpl.name,
            "content_hash": tpl.content_hash,
            "inputs": schema.to_dict() if schema else None,
        },
        f"ok: {tpl.name} ({len(tpl.steps)} step(s)); inputs: {', '.join(fields) or '-'}",
    )
    return 0


def _save(args: argparse.Namespace) -> int:
    library = _library(args)
    from ..templates import parse_template

    data = read_template_file(args.file)
    tpl = library.save(parse_template(data, source=str(args.file)), message=args.message)
    emit(args, {"ref": tpl.ref, "content_hash": tpl.content_hash}, f"saved {tpl.ref}")
    return 0


def _history(args: argparse.Namespace) -> int:
    infos = _library(args).history(args.name)
    lines = [f"{i.ref:28} {i.saved_at:20} {i.content_hash[:12]}  {i.message}" for i in infos]
    emit(args, [i.to_dict() for i in infos], "\n".join(lines))
    return 0


def _diff(args: argparse.Namespace) -> int:
    text = _library(args).diff(args.a, args.b)
    emit(args, {"diff": text}, text or "no differences")
    return 0


def _export(args: argparse.Namespace) -> int:
    path = _library(args).export(args.ref, args.file)
    emit(args, {"path": str(path)}, f"wrote {path}")
    return 0
