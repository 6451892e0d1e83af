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

    For a local workspace this makes no AWS call (credentials are looked up in the
    local chain only); an ``s3://`` workspace is opened read-only to report its store
    and registry unless ``check_aws`` is false.
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
    if data["local_model"]["available"]:
        from .llm.local_speed import runtime_settings

        data["local_model"]["runtime"] = runtime_settings()
    data["storage"] = _storage(settings, check_aws=check_aws)
    if check_aws:
        from .aws.credentials import credentials_status

        data["aws"] = credentials_status(settings.aws_profile, settings.region)
    return data


def _storage(settings: Settings, *, check_aws: bool) -> dict[str, Any]:
    """Which store and registry the workspace uses. An ``s3://`` workspace is opened
    (read-only checks) only when AWS may be called."""
    where = settings.workspace
    if not where.startswith("s3://"):
        from pathlib import Path

        from .layout import REGISTRY_FILE

        root = Path(where).expanduser()
        return {"store": f"local folder {root}", "registry": f"SQLite {root / REGISTRY_FILE}"}
    table = settings.table or "named in the workspace marker"
    facts: dict[str, Any] = {"store": f"S3 {where}", "registry": f"DynamoDB table {table}"}
    if check_aws:
        from .aws.workspace import describe_s3_workspace, open_s3_workspace
        from .errors import PlotPaletteError

        try:
            store, tables = open_s3_workspace(where, settings, create=False)
            facts = describe_s3_workspace(store, tables)
        except PlotPaletteError as exc:
            facts["error"] = exc.message
            facts["fix"] = exc.fix
    return facts


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
