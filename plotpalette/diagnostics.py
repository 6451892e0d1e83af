"""``plotpalette info``: what is installed and configured, read-only."""

from __future__ import annotations

import platform
import sys
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import Settings
from .llm.local_files import LOCAL_MODEL_ID, llama_cpp_available, local_model_file

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["info", "info_table"]


def info(settings: Settings | None = None, *, check_aws: bool = True) -> dict[str, Any]:
    """Version, workspace, backend, local model and AWS credential status.

    Makes no AWS call: credentials are looked up in the local chain only.
    """
    settings = settings or Settings.load()
    model_file = local_model_file()
    data: dict[str, Any] = {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "workspace": settings.workspace,
        "workspace_source": settings.sources.get("workspace", "default"),
        "backend": settings.backend,
        "backend_source": settings.sources.get("backend", "default"),
        "tiers": dict(settings.tiers),
        "local_model": {
            "id": LOCAL_MODEL_ID,
            "available": bool(model_file) and llama_cpp_available(),
            "file": str(model_file) if model_file else None,
            "llama_cpp": llama_cpp_available(),
        },
    }
    if check_aws:
        from .aws.credentials import credentials_status

        data["aws"] = credentials_status(settings.aws_profile, settings.region)
    return data


def info_table(data: dict[str, Any]) -> pd.DataFrame:
    """``info()`` flattened to a two-column table (``item``, ``value``) for notebooks."""
    import pandas as pd

    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            rows.append((prefix, "" if value is None else str(value)))

    walk("", data)
    return pd.DataFrame(rows, columns=["item", "value"])
