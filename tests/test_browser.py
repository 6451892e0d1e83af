"""JupyterLab in headless Chromium: the notebooks work for a person, not only papermill."""

from pathlib import Path

import pytest

from .lab_harness import (
    chromium_page,
    copy_notebooks,
    open_notebook,
    require_chromium,
    run_all_cells,
    running_lab,
    screenshot,
)

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_chromium()
    root = copy_notebooks(NOTEBOOKS, tmp_path_factory.mktemp("lab") / "notebooks")
    workspace = tmp_path_factory.mktemp("lab-ws") / "workspace"
    with running_lab(root, {"PLOTPALETTE_WORKSPACE": str(workspace)}) as url:
        yield url


def test_welcome_notebook_runs_in_jupyterlab(lab, tmp_path):
    with chromium_page() as page:
        open_notebook(page, lab, "00_welcome.ipynb")
        run_all_cells(page)
        page.wait_for_selector("text=local_model.available", timeout=60_000)
        assert page.locator(".jp-OutputArea-output table").count() == 1
        assert page.locator(".jp-OutputArea-output[data-mime-type*='error']").count() == 0
        shot = screenshot(page, "welcome", tmp_path)
    assert shot.stat().st_size > 10_000
