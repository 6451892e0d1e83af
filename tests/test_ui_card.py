"""The export notebook shows the dataset card as Markdown a reader can read."""

from __future__ import annotations

import re
from pathlib import Path

from plotpalette.export import export_job
from plotpalette.jobs import JobSpec, run_job
from plotpalette.testing import InstantBackend
from plotpalette.ui import dataset_card


def test_the_card_renders_without_its_hub_header_and_keeps_dollars(workspace, tmp_path):
    job = run_job(
        workspace,
        JobSpec(template="open_question", seeds="sample:poetry", records=2, budget_usd=1.0),
        backend=InstantBackend(),
    )
    result = export_job(workspace, job.job_id, format="jsonl", dest=tmp_path / "out")
    raw = Path(result.card_path).read_text(encoding="utf-8")
    assert raw.startswith("---\n") and "$" in raw  # what the file holds
    shown = dataset_card(result).data
    assert not shown.startswith("---") and "pretty_name:" not in shown
    # amounts become inline code, which JupyterLab's MathJax does not typeset
    assert "$" in raw and re.search(r"(?<!`)\$\d", shown) is None
    assert re.search(r"`\$\d[\d.,]*`", shown)
    assert job.job_id in shown


def test_an_export_without_a_card_says_so():
    assert "no dataset card" in dataset_card(None).data
