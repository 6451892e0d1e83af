"""A real JupyterLab on localhost, driven by headless Chromium through playwright.

Used by the browser tests. Chromium comes from the system (``apt-get install chromium``;
never ``playwright install``, which downloads a browser). Outside CI a missing Chromium
skips the browser tests; under ``CI=true`` it fails them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PLOTPALETTE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots land in a temp folder unless asked for (scripts/update_screenshots.sh sets
# this to book/images so the guide shows what the apps really look like).
SCREENSHOT_DIR_ENV = "PLOTPALETTE_SCREENSHOT_DIR"


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_lab(root: Path, env: dict[str, str]) -> Iterator[str]:
    """Start JupyterLab serving ``root``; yield its base URL; stop it afterwards."""
    config = root.parent / "jupyter-config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    # No news pop-up over the notebook in screenshots.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port = free_port()
    log = open(root.parent / "lab.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
        ],
        env={**os.environ, **env, "JUPYTER_CONFIG_DIR": str(config)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/lab", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(
                    "JupyterLab did not start:\n" + (root.parent / "lab.log").read_text()[-3000:]
                )
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def open_notebook(page, url: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)


def run_all_cells(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def screenshot(page, name: str, tmp_path: Path, **kwargs) -> Path:
    folder = Path(os.environ.get(SCREENSHOT_DIR_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), **kwargs)
    return path


def copy_notebooks(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for nb in src.glob("*.ipynb"):
        shutil.copy(nb, dest / nb.name)
    return dest
