"""Human spot checks against the judge: what to review and how well the two agree.

:func:`review_sample` picks records for a reviewer (judged ones first, so every label
also measures the judge); :func:`agreement` pairs stored labels with judge scores and
reports Cohen's kappa on accept/reject (the judge accepts at ``score >= accept_at``)
and Spearman's rank correlation on scores, each with a confidence interval, plus a
plain-words verdict on whether to trust the judge on the unlabelled rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import QualityError
from ..jobs import iter_records
from .agreement import Estimate, cohen_kappa, spearman, trust_verdict
from .judge import judge_jobs, judge_scores, sample_indices
from .labels import load_labels

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Agreement", "agreement", "review_sample"]

DEFAULT_ACCEPT_AT = 4


def review_sample(workspace: Any, job_id: str, n: int = 20, *, seed: int = 0) -> list[int]:
    """Indices of ``n`` ``ok`` records to review: a seeded sample of the judged ones
    (latest judge, valid scores) when there are enough, topped up with unjudged ones."""
    ok = [r.index for r in iter_records(workspace, job_id, status="ok")]
    if not ok:
        raise QualityError(
            f"job {job_id} has no ok records to review", fix="Run or resume the job first."
        )
    judged: list[int] = []
    if judge_jobs(workspace, job_id):
        scores = judge_scores(workspace, job_id)
        judged = sorted(int(i) for i in scores.loc[scores["valid"], "index"])
    first = sample_indices(judged, min(n, len(judged)), seed) if judged else []
    rest = sorted(set(ok) - set(first))
    more = sample_indices(rest, min(n - len(first), len(rest)), seed) if n > len(first) else []
    return first + more


@dataclass
class Agreement:
    """Reviewer-versus-judge agreement on the records both have rated."""

    kappa: Estimate  # accept/reject
    spearman: Estimate  # scores
    pairs: pd.DataFrame  # index, human_accepted, human_score, judge_score, judge_accepted
    accept_at: int
    verdict: str

    def summary(self) -> str:
        return "\n".join(
            [
                f"labelled and judged: {len(self.pairs)} record(s)",
                f"  Cohen's kappa (accept/reject, judge accepts at >= {self.accept_at}): "
                f"{self.kappa}",
                f"  Spearman rank correlation (scores): {self.spearman}",
                f"  verdict: {self.verdict}",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": len(self.pairs),
            "kappa": self.kappa.to_dict(),
            "spearman": self.spearman.to_dict(),
            "accept_at": self.accept_at,
            "verdict": self.verdict,
        }


def agreement(
    workspace: Any,
    job_id: str,
    *,
    reviewer: str | None = None,
    judge_job: str | None = None,
    accept_at: int = DEFAULT_ACCEPT_AT,
    confidence: float = 0.95,
) -> Agreement:
    """Agreement between stored labels (one ``reviewer``, or the latest label of each
    record) and the judge's valid scores (latest judge unless ``judge_job``)."""
    labels = load_labels(workspace, job_id, reviewer)
    labels = labels.sort_values("labelled_at").drop_duplicates("index", keep="last")
    scores = judge_scores(workspace, job_id, judge_job)
    scores = scores[scores["valid"]]
    pairs = labels.merge(scores, on="index", suffixes=("_human", "_judge"))
    pairs = pairs.rename(
        columns={"accepted": "human_accepted", "score_human": "human_score"}
    ).rename(columns={"score_judge": "judge_score"})
    pairs["judge_score"] = pairs["judge_score"].astype(int)
    pairs["judge_accepted"] = pairs["judge_score"] >= accept_at
    pairs = pairs[
        ["index", "human_accepted", "human_score", "judge_score", "judge_accepted", "reviewer"]
    ].reset_index(drop=True)
    kappa = cohen_kappa(
        [bool(x) for x in pairs["human_accepted"]],
        [bool(x) for x in pairs["judge_accepted"]],
        confidence=confidence,
    )
    rho = spearman(
        [float(x) for x in pairs["human_score"]],
        [float(x) for x in pairs["judge_score"]],
        confidence=confidence,
    )
    return Agreement(kappa, rho, pairs, accept_at, trust_verdict(kappa))
