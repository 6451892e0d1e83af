"""Training-ready exports of a job's records: JSONL, CSV, Parquet, Hugging Face datasets.

>>> from plotpalette.export import export_job, to_pandas      # doctest: +SKIP
>>> export_job(ws, job_id, format="parquet", partition_by="date")  # doctest: +SKIP

Columns are flat and typed once per export (see :mod:`.columns`); files are streamed
(see :mod:`.writers`); a dataset card (see :mod:`.card`) is written beside the data.
"""

from .api import EXPORT_FORMATS, ExportResult, export_job
from .card import CardFacts, render_card
from .columns import DEFAULT_METADATA, METADATA_GROUPS, Column, ColumnPlan, plan_columns
from .frames import iter_rows, to_pandas
from .writers import write_files

__all__ = [
    "DEFAULT_METADATA",
    "EXPORT_FORMATS",
    "METADATA_GROUPS",
    "CardFacts",
    "Column",
    "ColumnPlan",
    "ExportResult",
    "export_job",
    "iter_rows",
    "plan_columns",
    "render_card",
    "to_pandas",
    "write_files",
]
