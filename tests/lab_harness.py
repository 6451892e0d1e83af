"""A real JupyterLab on localhost, driven by headless Chromium through playwright.

Used by the browser tests. Chromium comes from the system (``apt-get install chromium``;
never ``playwright install``, which downloads a browser). Outside CI a missing Chromium
skips the browser tests; under ``CI=true`` it fails them.
"""

from __future__ import annotations

import contextlib
import json
import os
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
# Read at import: tests/conftest.py removes every PLOTPALETTE_* variable before each test.
SCREENSHOT_DIR = os.environ.get(SCREENSHOT_DIR_ENV)
# The lab's kernels never see the caller's Plot Palette settings or AWS credentials.
_PRIVATE_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def clean_environ() -> dict[str, str]:
    """os.environ without Plot Palette settings and AWS credentials (tests stay offline)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PLOTPALETTE_") and k not in _PRIVATE_ENV
    }
    return {**clean, "AWS_EC2_METADATA_DISABLED": "true"}


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
    # Fresh user settings and workspaces (nothing from ~/.jupyter leaks in). Render every
    # cell: with JupyterLab's default windowing, cells out of view are not laid out, so
    # their widgets are "invisible" to playwright and cannot be clicked or screenshotted.
    settings = root.parent / "lab-user-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    lab_env = {
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(root.parent / "lab-workspaces"),
    }
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
            # tests shut kernels down through the REST API (no auth, localhost only)
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={root}",
        ],
        env={**clean_environ(), **env, **lab_env},
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
    """Open ``name`` and wait until its kernel is connected and idle.

    Waits for the status bar's "| Idle" (the kernel answered), not only the toolbar's
    execution indicator, which reads idle before the kernel is connected; Run All clicked
    before that opens a "Select Kernel" dialog instead of running anything.
    """
    page.goto(f"{url}/lab/tree/{name}?reset")  # ?reset: no tabs restored from other tests
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    kernel = page.locator(f".jp-StatusBar-TextItem[title='Change kernel for {name}']")
    kernel.filter(has_text="| Idle").wait_for(timeout=60_000)


def run_all_cells(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def wait_until_executed(page, timeout_ms: int = 120_000) -> None:
    """Wait until every code cell has run (no ``[*]`` prompt left, kernel idle)."""
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=timeout_ms,
    )


def output_with(page, inner):
    """The cell output (``.jp-OutputArea-output``) that contains the locator ``inner``."""
    return page.locator(".jp-OutputArea-output").filter(has=inner)


def error_outputs(page):
    """Tracebacks shown in the notebook (an error output, or stderr text)."""
    return page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
        ".jp-OutputArea-output[data-mime-type*='error']"
    )


def screenshot(page, name: str, tmp_path: Path, element=None, until=None, margin: int = 8) -> Path:
    """Save ``name``.png: the page, or ``element`` (a locator) with a small margin.

    ``until`` (a locator inside ``element``) cuts the picture off where it starts, to
    leave out what an app shows below itself (the console under the jobs table).
    """
    folder = Path(SCREENSHOT_DIR or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    if element is None:
        page.screenshot(path=str(path), animations="disabled")
        return path
    element.evaluate("e => e.scrollIntoView({block: 'start'})")
    box = _settled_box(element)
    bottom = box["y"] + box["height"]
    if until is not None:
        bottom = until.bounding_box()["y"]
    viewport = page.viewport_size
    # a small margin on the sides and below; little above, where the cell's border is
    x, y = max(0, box["x"] - margin), max(0, box["y"] - 2)
    clip = {
        "x": x,
        "y": y,
        "width": min(viewport["width"], box["x"] + box["width"] + margin) - x,
        "height": min(viewport["height"], bottom + margin) - y,
    }
    page.screenshot(path=str(path), clip=clip, animations="disabled")
    return path


def _settled_box(element, timeout: float = 5.0) -> dict[str, float]:
    """The element's box once it stopped changing (widgets redraw after the kernel's last
    message: a finished job's console drops its rate-limit table, for example)."""
    box = element.bounding_box()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.4)
        again = element.bounding_box()
        if again == box:
            break
        box = again
    return box


def shutdown_kernels(url: str) -> None:
    """Shut down every kernel of the server (each test starts from a fresh one)."""
    with urllib.request.urlopen(f"{url}/api/sessions", timeout=10) as resp:
        sessions = json.load(resp)
    for session in sessions:
        request = urllib.request.Request(f"{url}/api/sessions/{session['id']}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


def copy_notebooks(src: Path, dest: Path) -> Path:
    """Copy the notebooks for a lab to serve, with a complete kernelspec.

    The repository's notebooks name only the kernel (``python3``); JupyterLab flags a
    kernelspec without ``display_name`` as invalid, so the copies get the full spec.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for nb in src.glob("*.ipynb"):
        data = json.loads(nb.read_text(encoding="utf-8"))
        spec = data.setdefault("metadata", {}).setdefault("kernelspec", {})
        spec.update(name="python3", language="python")
        spec.setdefault("display_name", "Python 3 (ipykernel)")
        (dest / nb.name).write_text(json.dumps(data, indent=1), encoding="utf-8")
    return dest
