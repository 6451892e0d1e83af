"""QualityReview: human spot checks of a job's records, blind to the judge.

>>> app = QualityReview("qa-261201-...", workspace=ws, sample=20)   # doctest: +SKIP
>>> app.label(accepted=True, score=4)        # or click Accept, 4, Save; or type "a4"
>>> app.agreement.summary()                  # kappa / Spearman with intervals

Each sampled record is shown with its check flags; the judge's score and rationale
stay hidden until this reviewer has labelled the record, so the label is not anchored
on the judge. Labels are stored in the workspace (:func:`plotpalette.quality.save_label`)
and the agreement with the judge is recomputed after every label.

Keyboard: every button is reachable with Tab and pressed with Enter or Space, and the
*quick entry* box takes one command per Enter: ``a4`` (accept, score 4), ``r2``
(reject, score 2), ``n`` (next), ``p`` (previous), ``3`` (change the score only).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..errors import QualityError
from ..quality import (
    Agreement,
    Label,
    agreement,
    default_reviewer,
    judge_jobs,
    judge_scores,
    load_labels,
    review_sample,
    save_label,
)
from ..quality.review import DEFAULT_ACCEPT_AT
from ..records import Record
from ..workspace import Workspace
from ._base import App

__all__ = ["QualityReview"]

HIDDEN = "<i>Judge's verdict hidden until you have labelled this record.</i>"


class QualityReview(App):
    """Label sampled records (accept/reject + 1-5) and see how the judge compares.

    Widgets (public): ``decision`` (Accept/Reject), ``score`` (1-5), ``note``,
    ``save_button``, ``prev_button``, ``next_button``, ``keys`` (quick entry),
    ``record_html``, ``judge_html``, ``agreement_html``. State: ``indices`` (the sample,
    record indices), ``position``, ``labels`` (this reviewer's, by index),
    ``agreement`` (the last :class:`~plotpalette.quality.Agreement`, or ``None``).
    """

    title = "Quality review"

    def __init__(
        self,
        job_id: str,
        *,
        workspace: Workspace | str | Path | None = None,
        sample: int = 20,
        seed: int = 0,
        reviewer: str | None = None,
        accept_at: int = DEFAULT_ACCEPT_AT,
    ) -> None:
        super().__init__()
        ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
        self.workspace = ws
        self.job_id = job_id
        self.reviewer = reviewer or default_reviewer()
        self.accept_at = accept_at
        self.indices = review_sample(ws, job_id, sample, seed=seed)
        from ..jobs import iter_records

        wanted = set(self.indices)
        self.records: dict[int, Record] = {
            r.index: r for r in iter_records(ws, job_id, status="ok") if r.index in wanted
        }
        self.scores: dict[int, dict[str, Any]] = {}
        if judge_jobs(ws, job_id):
            frame = judge_scores(ws, job_id)
            self.scores = {int(row["index"]): dict(row) for _, row in frame.iterrows()}
        mine = load_labels(ws, job_id, self.reviewer)
        self.labels: dict[int, Label] = {
            int(row["index"]): Label(
                index=int(row["index"]),
                accepted=bool(row["accepted"]),
                score=int(row["score"]),
                reviewer=str(row["reviewer"]),
                labelled_at=float(row["labelled_at"]),
                note=str(row["note"] or ""),
            )
            for _, row in mine.iterrows()
        }
        self.position = 0
        self.agreement: Agreement | None = None
        self._build()
        self.show(0)
        self.refresh_agreement()

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.header = widgets.HTML()
        self.record_html = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.decision = widgets.ToggleButtons(
            options=["Accept", "Reject"], value=None, tooltips=["keep it (a)", "drop it (r)"]
        )
        self.score = widgets.ToggleButtons(
            options=[1, 2, 3, 4, 5], value=None, description="score", style={"button_width": "3em"}
        )
        self.note = widgets.Text(placeholder="optional note", layout=widgets.Layout(width="30em"))
        self.save_button = widgets.Button(
            description="Save label", icon="check", button_style="primary"
        )
        self.prev_button = widgets.Button(description="Previous", icon="arrow-left")
        self.next_button = widgets.Button(description="Next", icon="arrow-right")
        self.keys = widgets.Text(
            description="quick entry",
            placeholder="a4 = accept 4, r2 = reject 2, n = next, p = previous",
            continuous_update=False,
            layout=widgets.Layout(width="36em"),
        )
        self.judge_html = widgets.HTML()
        self.agreement_html = widgets.HTML()
        self.on_click(self.save_button, self.save)
        self.on_click(self.prev_button, self.previous)
        self.on_click(self.next_button, self.next)
        self.keys.observe(self._on_keys, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HTML(f"<b>{self.title}</b> — job <code>{html.escape(self.job_id)}</code>"),
                self.header,
                self.record_html,
                widgets.HBox([self.decision, self.score]),
                widgets.HBox([self.note, self.save_button]),
                widgets.HBox([self.prev_button, self.next_button, self.status]),
                self.keys,
                self.judge_html,
                self.agreement_html,
                self.log,
            ]
        )

    def _on_keys(self, change: dict[str, Any]) -> None:
        text = (change["new"] or "").strip()
        if not text:
            return
        try:
            self.key(text)
        except Exception as exc:
            if not self.errors or self.errors[-1] is not exc:
                self.error(exc)
        finally:
            self.keys.value = ""

    # -- public methods ------------------------------------------------------------------
    @property
    def current(self) -> int | None:
        """The record index on screen (``None`` when the sample is empty)."""
        return self.indices[self.position] if self.indices else None

    @App.guard
    def show(self, position: int) -> None:
        """Show sample position ``position`` (0-based; clamped to the sample)."""
        self.position = max(0, min(position, len(self.indices) - 1))
        index = self.current
        if index is None:
            self.header.value = "No records to review."
            return
        record = self.records[index]
        done = sum(1 for i in self.indices if i in self.labels)
        self.header.value = (
            f"Record {self.position + 1} of {len(self.indices)} (index {index}) · "
            f"{done} labelled by <code>{html.escape(self.reviewer)}</code>"
        )
        rows = "".join(
            f"<tr><th style='text-align:left;vertical-align:top;padding-right:1em'>"
            f"{html.escape(str(k))}</th><td style='white-space:pre-wrap'>"
            f"{html.escape(str(v))}</td></tr>"
            for k, v in record.outputs.items()
        )
        flags = ", ".join(record.flags) or "none"
        self.record_html.value = (
            f"<table>{rows}</table><div style='color:#666'>check flags: {html.escape(flags)}</div>"
        )
        label = self.labels.get(index)
        self.decision.value = None if label is None else ("Accept" if label.accepted else "Reject")
        self.score.value = None if label is None else label.score
        self.note.value = "" if label is None else label.note
        self._show_judge()

    def _show_judge(self) -> None:
        index = self.current
        if index is None or index not in self.labels:
            self.judge_html.value = HIDDEN
            return
        verdict = self.scores.get(index)
        if verdict is None:
            self.judge_html.value = "<i>The judge has not scored this record.</i>"
        elif not verdict["valid"]:
            problem = html.escape(str(verdict["problem"]))
            self.judge_html.value = f"Judge: <b>invalid reply</b> ({problem})"
        else:
            mark = "accepts" if verdict["score"] >= self.accept_at else "rejects"
            self.judge_html.value = (
                f"Judge: <b>{verdict['score']}</b> ({mark}) — "
                f"{html.escape(str(verdict['rationale']))}"
            )

    @App.guard
    def label(self, accepted: bool, score: int, note: str = "") -> Label:
        """Store this reviewer's label of the record on screen; reveal the judge."""
        index = self.current
        if index is None:
            raise QualityError("there is no record to label", fix="Pick a job with ok records.")
        saved = save_label(
            self.workspace,
            self.job_id,
            Label(index=index, accepted=accepted, score=score, reviewer=self.reviewer, note=note),
        )
        self.labels[index] = saved
        self.show(self.position)
        self.refresh_agreement()
        self.status.value = f"saved: {'accept' if accepted else 'reject'}, score {score}"
        return saved

    @App.guard
    def save(self) -> Label:
        """Save the label set with the buttons (both a decision and a score are needed)."""
        if self.decision.value is None or self.score.value is None:
            raise QualityError(
                "choose Accept or Reject and a score first",
                fix="Click Accept/Reject and 1-5 (or type e.g. a4 in quick entry).",
            )
        return self.label(self.decision.value == "Accept", int(self.score.value), self.note.value)

    def next(self) -> None:
        """The next record of the sample."""
        self.show(self.position + 1)

    def previous(self) -> None:
        """The previous record of the sample."""
        self.show(self.position - 1)

    @App.guard
    def key(self, command: str) -> None:
        """One quick-entry command: ``a4``, ``r2``, ``n``, ``p`` or a score ``1``-``5``."""
        text = command.strip().lower()
        if text in ("n", "next"):
            return self.next()
        if text in ("p", "prev", "previous"):
            return self.previous()
        if text in ("1", "2", "3", "4", "5"):
            self.score.value = int(text)
            return None
        if len(text) == 2 and text[0] in "ar" and text[1] in "12345":
            self.label(text[0] == "a", int(text[1]))
            return None
        raise QualityError(
            f"unknown quick-entry command {command!r}",
            fix="Type a4 (accept, score 4), r2 (reject, score 2), n (next) or p (previous).",
        )

    @App.guard
    def refresh_agreement(self) -> Agreement | None:
        """Recompute reviewer-versus-judge agreement (``None`` before a judge has run)."""
        if not self.scores:
            self.agreement = None
            self.agreement_html.value = (
                "<i>No judge has scored this job yet: run one (plotpalette judge JOB_ID) "
                "to measure how well it agrees with you.</i>"
            )
            return None
        self.agreement = agreement(
            self.workspace, self.job_id, reviewer=self.reviewer, accept_at=self.accept_at
        )
        text = html.escape(self.agreement.summary()).replace("\n", "<br>")
        self.agreement_html.value = f"<div style='font-family:monospace'>{text}</div>"
        return self.agreement
