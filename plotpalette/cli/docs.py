"""``plotpalette docs`` and ``plotpalette notebooks``: what ships beside the code."""

from __future__ import annotations

import argparse
import webbrowser

from ..bundle import copy_notebooks, documentation_url, guide_index
from .common import common_options, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "docs",
        parents=[common_options()],
        help="print where the guide shipped with this install is (--open: open it)",
    )
    p.add_argument("--open", action="store_true", help="open the guide in a web browser")
    p.set_defaults(handler=run_docs)

    p = sub.add_parser(
        "notebooks",
        parents=[common_options()],
        help="copy the task notebooks into a folder (existing files are kept)",
    )
    p.add_argument(
        "dest", nargs="?", default="plotpalette-notebooks", help="target folder (created)"
    )
    p.add_argument("--force", action="store_true", help="overwrite notebooks already there")
    p.set_defaults(handler=run_notebooks)


def run_docs(args: argparse.Namespace) -> int:
    index = guide_index()
    url = index.path.as_uri()
    data = {
        "index": str(index.path),
        "url": url,
        "source": index.source,
        "online": documentation_url(),
    }
    lines = [f"guide ({'shipped in the package' if index.source == 'wheel' else 'built'}): {url}"]
    if data["online"]:
        lines.append(f"online: {data['online']}")
    if args.open:
        # webbrowser returns False when no browser can be started (a server, a container).
        data["opened"] = webbrowser.open(url)
        if not data["opened"]:
            lines.append("no web browser could be started here; open the file above yourself")
    emit(args, data, "\n".join(lines))
    return 0


def run_notebooks(args: argparse.Namespace) -> int:
    copied, skipped = copy_notebooks(args.dest, overwrite=args.force)
    data = {
        "dest": args.dest,
        "copied": [str(p) for p in copied],
        "kept": [str(p) for p in skipped],
    }
    lines = [f"copied {len(copied)} notebook(s) into {args.dest}"]
    if skipped:
        lines.append(f"kept {len(skipped)} existing file(s) (--force overwrites them)")
    lines.append(f"open them with: jupyter lab {args.dest}")
    emit(args, data, "\n".join(lines))
    return 0
