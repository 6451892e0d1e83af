"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..config import Settings

__all__ = ["common_options", "emit", "settings_from_args"]


def common_options() -> argparse.ArgumentParser:
    """``--workspace`` and ``--json``, accepted before or after the command name."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--workspace",
        default=argparse.SUPPRESS,
        help="workspace folder or s3://bucket/prefix (default: PLOTPALETTE_WORKSPACE or "
        "~/plotpalette-workspace)",
    )
    parent.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    return parent


def settings_from_args(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings with the global ``--workspace`` (and any ``extra``) as arguments."""
    return Settings.load(workspace=getattr(args, "workspace", None), **extra)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print ``data`` as JSON under ``--json``, else the human ``text``."""
    print(json.dumps(data, indent=2, default=str) if getattr(args, "json", False) else text)
