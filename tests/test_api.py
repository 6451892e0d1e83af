"""The public API is small, sorted and pinned."""

from importlib.metadata import version

import pytest

import plotpalette

EXPECTED = [
    "ExportResult",
    "JobHandle",
    "JobResult",
    "JobSpec",
    "JobState",
    "PlotPaletteError",
    "PriceTable",
    "SeedSet",
    "Settings",
    "Template",
    "TemplateLibrary",
    "Workspace",
    "__version__",
    "cancel_job",
    "create_job",
    "delete_job",
    "estimate_job",
    "export_job",
    "infer_inputs",
    "info",
    "info_table",
    "iter_records",
    "iter_rows",
    "job_status",
    "list_jobs",
    "load_seeds",
    "make_backend",
    "parse_template",
    "pause_job",
    "preview",
    "quality_report",
    "resume_job",
    "run_job",
    "run_sweep",
    "sample_seeds",
    "submit_job",
    "to_pandas",
    "unpause_job",
    "validate_rows",
]


def test_all_is_pinned_and_sorted():
    assert plotpalette.__all__ == EXPECTED
    assert plotpalette.__all__ == sorted(plotpalette.__all__)


def test_every_public_name_exists():
    missing = [name for name in plotpalette.__all__ if not hasattr(plotpalette, name)]
    assert missing == []


def test_version_matches_installed_metadata():
    assert plotpalette.__version__ == version("plotpalette")


def test_public_callables_are_documented():
    undocumented = [
        name
        for name in plotpalette.__all__
        if name != "__version__" and not (getattr(plotpalette, name).__doc__ or "").strip()
    ]
    assert undocumented == []


def test_import_is_light():
    """``import plotpalette`` loads neither widgets, boto3 nor the local model runtime."""
    import subprocess
    import sys

    code = (
        "import sys, plotpalette; print(','.join(sorted(m for m in "
        "('ipywidgets', 'IPython', 'boto3', 'llama_cpp', 'jsonschema') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_module_is_type_checked():
    """Each module defining a name in ``__all__`` is in mypy's strict file list."""
    import inspect
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(plotpalette.__file__).parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    checked = set(config["files"])
    defining = {
        Path(inspect.getfile(getattr(plotpalette, name))).relative_to(root).as_posix()
        for name in plotpalette.__all__
        if name != "__version__" and inspect.getmodule(getattr(plotpalette, name))
    }
    assert defining - checked == set()
