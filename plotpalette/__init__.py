"""Plot Palette: synthetic training data from seed rows and prompt templates.

The public API is what ``__all__`` lists (pinned by a test); everything else may
change. The verbs, in the order you meet them::

    seeds = plotpalette.sample_seeds("poetry")                 # or load_seeds("rows.csv")
    result = plotpalette.preview("question_answer", seeds.rows[:2])
    spec = plotpalette.JobSpec(template="question_answer", seeds=seeds, records=20,
                               budget_usd=0.50)
    job = plotpalette.run_job(workspace, spec)                 # or JobHandle for a thread
    plotpalette.export_job(workspace, job.job_id, format="parquet")

Widget apps live in :mod:`plotpalette.ui` (not imported here: the core never loads
ipywidgets).
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .config import Settings
    from .diagnostics import info, info_table
    from .errors import PlotPaletteError
    from .export import ExportResult, export_job, iter_rows, to_pandas
    from .jobs import (
        JobHandle,
        JobResult,
        JobSpec,
        JobState,
        cancel_job,
        create_job,
        delete_job,
        estimate_job,
        iter_records,
        job_status,
        list_jobs,
        pause_job,
        resume_job,
        run_job,
        run_sweep,
        submit_job,
        unpause_job,
    )
    from .llm import PriceTable, make_backend
    from .quality import quality_report
    from .seeds import SeedSet, load_seeds, sample_seeds, validate_rows
    from .templates import Template, TemplateLibrary, infer_inputs, parse_template
    from .templates.preview import preview
    from .workspace import Workspace

# Loaded on first use (PEP 562): `import plotpalette` stays cheap, so `plotpalette run`
# reaches its first model call fast instead of importing pyarrow, jsonschema and the
# template machinery it may not need.
_LAZY = {
    "Settings": "config",
    "info": "diagnostics",
    "info_table": "diagnostics",
    "PlotPaletteError": "errors",
    "ExportResult": "export",
    "export_job": "export",
    "iter_rows": "export",
    "to_pandas": "export",
    **dict.fromkeys(
        (
            "JobHandle",
            "JobResult",
            "JobSpec",
            "JobState",
            "cancel_job",
            "create_job",
            "delete_job",
            "estimate_job",
            "iter_records",
            "job_status",
            "list_jobs",
            "pause_job",
            "resume_job",
            "run_job",
            "run_sweep",
            "submit_job",
            "unpause_job",
        ),
        "jobs",
    ),
    "PriceTable": "llm",
    "make_backend": "llm",
    "quality_report": "quality",
    **dict.fromkeys(("SeedSet", "load_seeds", "sample_seeds", "validate_rows"), "seeds"),
    **dict.fromkeys(
        ("Template", "TemplateLibrary", "infer_inputs", "parse_template", "preview"), "templates"
    ),
    "Workspace": "workspace",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
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
