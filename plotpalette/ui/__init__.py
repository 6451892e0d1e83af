"""Notebook apps (ipywidgets). Each app's widgets are public attributes and each button
calls a public method, so notebooks, papermill runs and tests drive the same code."""

from .card import dataset_card
from .cost_dashboard import CostDashboard
from .job_console import JobConsole
from .job_wizard import JobWizard
from .jobs_table import JobsTable
from .quality_review import QualityReview
from .seed_explorer import SeedExplorer
from .starter import starter_job
from .template_studio import TemplateStudio

__all__ = [
    "CostDashboard",
    "JobConsole",
    "JobWizard",
    "JobsTable",
    "QualityReview",
    "SeedExplorer",
    "TemplateStudio",
    "dataset_card",
    "starter_job",
]
