"""The worker wheelhouse: Plot Palette and its dependencies as wheels for the workers.

Workers run the stock ``python:3.11-slim`` image (linux, x86_64) and install from
``s3://<bucket>/wheelhouse/`` with ``pip install --no-index`` at start, so the code
they run is exactly the version that was deployed. The project's own wheel is built
from the source tree; the dependencies are downloaded as binary wheels for the
workers' platform, whatever platform deploys (a Mac deploys linux wheels).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import StackError

__all__ = ["WORKER_EXTRAS", "build_wheelhouse", "upload_wheelhouse"]

# Besides the project: papermill + a kernel run scheduled notebooks on the workers.
WORKER_EXTRAS = ("papermill>=2.5", "ipykernel>=6")
WORKER_PYTHON = "3.11"
WORKER_PLATFORM = "manylinux2014_x86_64"


def build_wheelhouse(
    dest: Path,
    project_dir: Path | None = None,
    *,
    with_deps: bool = True,
    isolated: bool = True,
    run: Callable[..., Any] = subprocess.run,
) -> list[Path]:
    """Build the wheelhouse into ``dest``; returns the wheel files.

    ``with_deps=False`` builds only the project wheel (tests, or a wheelhouse whose
    dependencies are already uploaded); ``isolated=False`` builds with this
    environment's setuptools instead of fetching a fresh one (offline builds).
    """
    project = project_dir or Path(__file__).resolve().parents[2]
    if not (project / "pyproject.toml").is_file():
        raise StackError(
            f"no pyproject.toml in {project}",
            fix="Deploy from a clone of the repository, or pass --wheelhouse DIR with "
            "prebuilt wheels.",
        )
    dest.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    isolation = [] if isolated else ["--no-build-isolation"]
    _run(run, [*pip, "wheel", "--no-deps", *isolation, "--wheel-dir", str(dest), str(project)])
    if with_deps:
        wheels = sorted(dest.glob("plotpalette-*.whl"))
        _run(
            run,
            [
                *pip,
                "download",
                "--dest",
                str(dest),
                "--only-binary=:all:",
                "--platform",
                WORKER_PLATFORM,
                "--python-version",
                WORKER_PYTHON,
                "--implementation",
                "cp",
                str(wheels[-1]),
                *WORKER_EXTRAS,
            ],
        )
    return sorted(dest.glob("*.whl"))


def _run(run: Callable[..., Any], cmd: list[str]) -> None:
    done = run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(
            f"building the wheelhouse failed: pip {cmd[4]}\n{done.stderr[-2000:]}",
            fix="Check access to the package index, or pass --wheelhouse DIR with built wheels.",
        )


def upload_wheelhouse(
    folder: Path, url: str, *, s3: Any, echo: Callable[[str], None] = print
) -> list[str]:
    """Upload ``folder/*.whl`` to ``url`` (``s3://bucket/wheelhouse/``), remove wheels
    that are no longer in the folder, and write ``manifest.json`` (name, sha256)."""
    wheels = sorted(Path(folder).glob("*.whl"))
    if not any(w.name.startswith("plotpalette-") for w in wheels):
        raise StackError(
            f"{folder} has no plotpalette wheel",
            fix="Build it with `plotpalette deploy` "
            "(no --wheelhouse) or `pip wheel --no-deps . -w DIR`.",
        )
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.rstrip("/") + "/"
    manifest = []
    for wheel in wheels:
        data = wheel.read_bytes()
        s3.put_object(Bucket=bucket, Key=prefix + wheel.name, Body=data)
        manifest.append({"name": wheel.name, "sha256": hashlib.sha256(data).hexdigest()})
    keep = {prefix + w.name for w in wheels} | {prefix + "manifest.json"}
    stale = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in keep]
    for key in stale:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.put_object(
        Bucket=bucket,
        Key=prefix + "manifest.json",
        Body=json.dumps({"wheels": manifest}, indent=2).encode("utf-8"),
    )
    echo(f"wheelhouse: {len(wheels)} wheel(s) uploaded to {url}, {len(stale)} stale removed")
    return [w.name for w in wheels]
