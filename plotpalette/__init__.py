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

from ._version import __version__
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
from .templates import Template, TemplateLibrary, infer_inputs, parse_template, preview
from .workspace import Workspace

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
