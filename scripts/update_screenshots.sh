#!/usr/bin/env bash
# Re-take the guide's screenshots from a real JupyterLab in headless Chromium.
# The browser tests (tests/test_browser.py) write them to book/images/; commit the PNGs.
# Needs the system Chromium (apt-get install chromium). PYTHON picks the interpreter
# (default: the project's .venv), e.g. PYTHON=/work/venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
PLOTPALETTE_SCREENSHOT_DIR="$PWD/book/images" "$PYTHON" -m pytest -m browser -q tests/test_browser.py "$@"
