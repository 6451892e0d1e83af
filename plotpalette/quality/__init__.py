"""Quality you can see and pay for knowingly.

- :func:`quality_report` — duplicates (exact and MinHash near-duplicates), diversity,
  lengths, check flags, seed coverage and judge scores, by template version and model.
- :func:`judge` — an LLM judge: a rubric template run as a budgeted, resumable job;
  :func:`judge_scores` joins its validated scores and rationales to the records.
- :func:`save_label` / :func:`load_labels` and :func:`agreement` — human spot checks
  (the ``QualityReview`` app in :mod:`plotpalette.ui`) and how well they agree with the
  judge (Cohen's kappa, Spearman's rho, confidence intervals).
- :class:`QualityFilter` — named thresholds for ``export_job(..., where=...)``.
- :func:`quality_costs` — dollars per accepted record and waste, by template and model.
"""

from __future__ import annotations

from .agreement import Estimate, cohen_kappa, spearman, trust_verdict
from .costs import COST_QUALITY_COLUMNS, plot_cost_quality, quality_costs
from .dedup import DEFAULT_THRESHOLD, Duplicates, find_duplicates
from .filters import REASONS, FilterDecision, QualityFilter, decide
from .judge import JudgeRun, judge, judge_jobs, judge_scores
from .labels import Label, default_reviewer, load_labels, save_label
from .report import QualityReport, quality_report, record_model
from .review import Agreement, agreement, review_sample
from .rubrics import builtin_rubrics, load_rubric, parse_verdict
from .text import distinct_n, ngram_diversity, normalise, type_token_ratio

__all__ = [
    "COST_QUALITY_COLUMNS",
    "DEFAULT_THRESHOLD",
    "REASONS",
    "Agreement",
    "Duplicates",
    "Estimate",
    "FilterDecision",
    "JudgeRun",
    "Label",
    "QualityFilter",
    "QualityReport",
    "agreement",
    "builtin_rubrics",
    "cohen_kappa",
    "decide",
    "default_reviewer",
    "distinct_n",
    "find_duplicates",
    "judge",
    "judge_jobs",
    "judge_scores",
    "load_labels",
    "load_rubric",
    "ngram_diversity",
    "normalise",
    "parse_verdict",
    "plot_cost_quality",
    "quality_costs",
    "quality_report",
    "record_model",
    "review_sample",
    "save_label",
    "spearman",
    "trust_verdict",
    "type_token_ratio",
]
