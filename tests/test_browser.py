"""JupyterLab in headless Chromium: the notebooks work for a person, not only papermill.

One JupyterLab (and one workspace) serves the whole module; every test opens its notebook
in a fresh browser page, runs it with Run → Run All Cells (``headless = False``, the
notebooks' default, so the widget apps are displayed) and clicks like a user would. The
screenshots of the apps are the guide's figures (``scripts/update_screenshots.sh``).
"""

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from plotpalette.jobs import JobState
from plotpalette.testing import BedrockEmulator

from .lab_harness import (
    chromium_page,
    clean_environ,
    copy_notebooks,
    error_outputs,
    open_notebook,
    output_with,
    require_chromium,
    run_all_cells,
    running_lab,
    screenshot,
    shutdown_kernels,
    wait_until_executed,
)

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
pytestmark = pytest.mark.browser

# Tall enough that every app fits on screen: a screenshot cannot see past the notebook's
# own scroll area.
VIEWPORT = {"width": 1280, "height": 1800}
# The quickstart's job: 2 records on the embedded local model (about 10 s here).
JOB_TIMEOUT_MS = 180_000
FINAL_STATES = [state.value for state in JobState if state.is_final]


@dataclass
class Lab:
    url: str
    workspace: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_chromium()
    root = copy_notebooks(NOTEBOOKS, tmp_path_factory.mktemp("lab") / "notebooks")
    workspace = tmp_path_factory.mktemp("lab-ws") / "workspace"
    with running_lab(root, {"PLOTPALETTE_WORKSPACE": str(workspace)}) as url:
        yield Lab(url, workspace)


@pytest.fixture(scope="module")
def bedrock_jobs(lab):
    """Two finished jobs with real prices in the lab's workspace, so the jobs table and
    the cost dashboard have something to show beyond the free local model.

    Made by the ``plotpalette run`` command against the Bedrock emulator (a local HTTP
    server; no AWS account): emulated replies and token counts, the bundled price table.
    """
    jobs = []
    with BedrockEmulator() as emulator:
        env = {
            **clean_environ(),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PLOTPALETTE_BACKEND": "bedrock",
            "PLOTPALETTE_REGION": "us-east-1",
            "PLOTPALETTE_BEDROCK_ENDPOINT_URL": emulator.endpoint_url,
        }
        for template, records in (("question_answer", 8), ("open_question", 5)):
            command = [sys.executable, "-m", "plotpalette", "--workspace", str(lab.workspace)]
            command += ["run", "--template", template, "--seeds", "sample:poetry"]
            command += ["-n", str(records), "--budget", "1", "--no-progress"]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            jobs.append(done.stdout.split()[1].rstrip(":"))  # "job <id>: COMPLETED"
    return jobs


@pytest.fixture
def page(lab):
    """A fresh Chromium page; the notebook's kernel is shut down afterwards."""
    with chromium_page(**VIEWPORT) as page:
        yield page
    shutdown_kernels(lab.url)


def run_notebook(page, lab: Lab, name: str) -> None:
    open_notebook(page, lab.url, name)
    run_all_cells(page)
    wait_until_executed(page)


def assert_no_errors(page) -> None:
    errors = error_outputs(page)
    assert errors.count() == 0, errors.all_inner_texts()


def button(scope, name: str):
    """A widget button by its label. Its accessible name starts with the icon's glyph,
    so the name matches as a substring."""
    return scope.get_by_role("button", name=name)


def app_output(page, button_name: str):
    """The cell output showing the app that has this button (JupyterLab's own buttons,
    such as "New Launcher", are outside cell outputs). Hidden buttons count: the app is
    still found when the button is on a tab not shown."""
    return output_with(page, page.get_by_role("button", name=button_name, include_hidden=True))


def test_welcome_notebook_runs_in_jupyterlab(lab, page):
    run_notebook(page, lab, "00_welcome.ipynb")
    table = page.locator(".jp-OutputArea-output table")
    assert table.count() == 1
    expect(table).to_contain_text("local_model.available")
    assert_no_errors(page)


def test_quickstart_launch_runs_the_job_to_100_percent(lab, page, tmp_path):
    run_notebook(page, lab, "01_quickstart.ipynb")
    wizard = app_output(page, "Launch")
    expect(wizard.get_by_text("Job wizard", exact=True)).to_be_visible()

    button(wizard, "Review").click()
    expect(wizard.get_by_text("typical assumes outputs")).to_be_visible()
    expect(wizard.locator("table").first).to_contain_text("worst case")
    screenshot(page, "job-wizard", tmp_path, element=wizard)

    button(wizard, "Launch").click()
    # wait for any final state, so a failed job fails the test at once and says how
    # .first: the console's history table repeats the final state in a cell
    final = wizard.get_by_text(re.compile(f"^({'|'.join(FINAL_STATES)})$")).first
    final.wait_for(timeout=JOB_TIMEOUT_MS)
    expect(final).to_have_text("COMPLETED")

    # The console's records bar is the first progress widget; ipywidgets draws its value
    # as the inner bar's width.
    records_bar = wizard.locator(".widget-hprogress").first
    expect(records_bar.locator(".progress-bar")).to_have_attribute(
        "style", re.compile(r"width:\s*100%")
    )
    expect(wizard.get_by_text("2 / 2 (100%)")).to_be_visible()
    assert_no_errors(page)
    # The console's own box: the innermost VBox holding its title.
    console = wizard.locator(".widget-vbox").filter(has_text="Job console —").last
    screenshot(page, "job-console", tmp_path, element=console)


def test_template_studio_edits_and_previews(lab, page, tmp_path):
    run_notebook(page, lab, "02_templates.ipynb")
    studio = app_output(page, "Save new version")
    expect(studio.get_by_text("Template studio", exact=True)).to_be_visible()
    expect(studio.get_by_text("valid template")).to_be_visible()
    editor = studio.locator("textarea")
    expect(editor).to_have_value(re.compile("^name: question_answer"))
    assert_no_errors(page)
    screenshot(page, "template-studio", tmp_path, element=studio)

    good = editor.input_value()
    editor.fill(good.replace("steps:", "steps: [", 1))  # break the YAML as a user might
    editor.blur()
    expect(studio.get_by_text("⚠").first).to_be_visible()
    editor.fill(good)
    editor.blur()
    expect(studio.get_by_text("valid template")).to_be_visible()
    expect(studio.get_by_text("⚠")).to_have_count(0)  # the status line cleared too

    studio.get_by_role("tab", name="Preview").click()
    rows = studio.get_by_label("Rows", exact=True)
    rows.fill("1")
    rows.press("Enter")  # a number box sends its value on Enter or blur
    button(studio, "Preview").click()
    studio.get_by_text("on 1 row(s)").first.wait_for()
    studio.get_by_text("worst case").first.wait_for()
    expect(studio.get_by_text("Read this poem").first).to_be_visible()  # step "ask"'s prompt
    assert_no_errors(page)
    screenshot(page, "template-preview", tmp_path, element=studio)


def test_seed_explorer_checks_the_sample_rows(lab, page, tmp_path):
    run_notebook(page, lab, "03_seeds.ipynb")
    explorer = app_output(page, "Check rows")
    expect(explorer.get_by_text("Seed explorer", exact=True)).to_be_visible()
    expect(explorer.get_by_text("all 40 rows fit question_answer@1").first).to_be_visible()
    # the rows and fields grids draw on canvases (the invalid rows grid is hidden: none)
    grids = explorer.locator(".ipydatagrid-widget")
    expect(grids).to_have_count(3)
    expect(grids.nth(0).locator("canvas").first).to_be_visible()
    expect(grids.nth(1).locator("canvas").first).to_be_visible()
    expect(grids.nth(2)).to_be_hidden()
    expect(explorer.get_by_text("none", exact=True)).to_be_visible()  # no invalid rows
    assert_no_errors(page)
    screenshot(page, "seed-explorer", tmp_path, element=explorer)


def test_jobs_table_lists_every_job(lab, bedrock_jobs, page, tmp_path):
    run_notebook(page, lab, "05_monitor_jobs.ipynb")
    table = app_output(page, "Open console")
    choice = table.get_by_role("combobox", name="job")  # lists the same jobs as the grid
    for job_id in bedrock_jobs:
        expect(choice).to_contain_text(job_id)
    grid = table.locator(".ipydatagrid-widget").first
    expect(grid.locator("canvas").first).to_be_visible()  # the grid draws on a canvas
    assert_no_errors(page)
    # click the grid's second row: the job box follows the row that was clicked
    second = choice.locator("option").nth(1).inner_text()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + 22 + 22 + 11)
    expect(choice).to_have_js_property("selectedIndex", 1)
    assert choice.evaluate("s => s.options[s.selectedIndex].text") == second
    console = table.locator(".widget-html").filter(has_text="Job console —")
    screenshot(page, "jobs-table", tmp_path, element=table, until=console)


def test_export_notebook_writes_files_and_shows_the_card(lab, page, tmp_path):
    run_notebook(page, lab, "06_export.ipynb")
    expect(page.get_by_text(re.compile(r"\d+ rows -> ")).first).to_be_visible()
    card = page.locator(".jp-RenderedMarkdown").filter(has_text="Synthetic data generated by")
    expect(card.first).to_be_visible()  # the dataset card rendered as Markdown, not text
    expect(card.first.locator("table").first).to_be_visible()
    assert_no_errors(page)
    screenshot(page, "export-card", tmp_path, element=card.first)


def test_cost_dashboard_plots_the_costs(lab, bedrock_jobs, page, tmp_path):
    run_notebook(page, lab, "07_costs.ipynb")
    dashboard = app_output(page, "Clear filters")
    plot = dashboard.locator("img").first
    loaded = "img => img.complete && img.naturalWidth > 100"
    page.wait_for_function(loaded, arg=plot.element_handle())
    # the Bedrock jobs cost something: a total above zero
    total = dashboard.get_by_text("across").first
    expect(total).to_contain_text(re.compile(r"\$0\.0*[1-9]\d* across \d+ job"))
    assert_no_errors(page)
    screenshot(page, "cost-dashboard", tmp_path, element=dashboard)
