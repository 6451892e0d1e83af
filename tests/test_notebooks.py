"""Every notebook in notebooks/ runs headless under papermill (as a scheduled run would)."""

from pathlib import Path

import nbformat
import papermill
import pytest

from plotpalette.llm.local_files import llama_cpp_available, local_model_file

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
# Without the local-model extra (the other Python versions in .ci/python-matrix) the
# notebooks run on Bedrock instead: a real boto3 client against the Bedrock emulator.
LOCAL = local_model_file() is not None and llama_cpp_available()


@pytest.fixture
def backend_parameters(request, monkeypatch) -> dict:
    if LOCAL:
        return {}
    emulator = request.getfixturevalue("bedrock_emulator")  # also sets dummy credentials
    monkeypatch.setenv("PLOTPALETTE_BEDROCK_ENDPOINT_URL", emulator.endpoint_url)
    return {"backend": "bedrock"}


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_papermill(path, tmp_path, backend_parameters):
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters={"headless": True, **backend_parameters},
        kernel_name="python3",
        cwd=str(path.parent),
        progress_bar=False,
    )
    executed = nbformat.read(out, as_version=4)
    errors = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_with_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in code:  # thin: logic lives in plotpalette, where it is tested
        assert "def " not in cell.source and "class " not in cell.source
