#!/usr/bin/env bash
# Re-take the guide's screenshots from a real JupyterLab in headless Chromium.
# They are written to book/images/ by the browser tests; commit the PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
PLOTPALETTE_SCREENSHOT_DIR="$PWD/book/images" .venv/bin/python -m pytest -m browser -q "$@"
