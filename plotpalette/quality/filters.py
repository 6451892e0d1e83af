"""Quality filters for exports: named thresholds, decided once per record.

A :class:`QualityFilter` combines four named tests, applied in this order (a record is
counted under the first test it fails):

- ``no_flags`` — drop records on which any quality check fired (e.g. ``truncated``
  under a ``keep`` policy);
- ``unique`` — drop exact and near-duplicates, keeping the first record of each cluster;
- ``min_score`` — keep only records the judge scored at least this (records the judge
  has not scored, or whose judge reply was invalid, are dropped as *not judged*);
- ``not_rejected`` — drop records a reviewer rejected in the QualityReview app.

Written as text (CLI ``--where``, the dataset card): ``"min_score=4,unique,no_flags"``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import QualityError
from ..jobs import iter_records
from .dedup import DEFAULT_THRESHOLD, find_duplicates

__all__ = ["REASONS", "FilterDecision", "QualityFilter", "decide", "record_text"]

REASONS = ("flagged", "duplicate", "not judged", "low score", "rejected")


@dataclass(frozen=True)
class QualityFilter:
    """Named thresholds (see the module docstring). Every test is off by default."""

    min_score: float | None = None
    unique: bool = False
    no_flags: bool = False
    not_rejected: bool = False
    threshold: float = DEFAULT_THRESHOLD  # near-duplicate Jaccard threshold for ``unique``
    judge_job: str | None = None  # whose scores ``min_score`` uses (default: latest)

    @property
    def active(self) -> bool:
        return bool(self.min_score is not None or self.unique or self.no_flags or self.not_rejected)

    @classmethod
    def parse(cls, text: str | dict[str, Any] | QualityFilter | None) -> QualityFilter:
        """From ``"min_score=4,unique,no_flags"``, a dict of fields, or a filter."""
        if text is None:
            return cls()
        if isinstance(text, QualityFilter):
            return text
        if isinstance(text, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(text) - known)
            if unknown:
                raise QualityError(
                    f"unknown quality filter field(s): {', '.join(unknown)}",
                    fix=f"Use: {', '.join(sorted(known))}.",
                )
            return cls(**text)
        values: dict[str, Any] = {}
        for part in (p.strip() for p in str(text).split(",")):
            if not part:
                continue
            name, eq, value = (s.strip() for s in part.partition("="))
            name = name.replace("-", "_")
            if name in ("unique", "no_flags", "not_rejected") and not eq:
                values[name] = True
            elif name in ("min_score", "threshold") and eq:
                try:
                    values[name] = float(value)
                except ValueError:
                    raise QualityError(f"{name}={value!r} is not a number") from None
            elif name == "judge_job" and eq and value:
                values[name] = value
            else:
                raise QualityError(
                    f"cannot read quality filter part {part!r}",
                    fix="Write e.g. 'min_score=4,unique,no_flags,not_rejected' "
                    "(optionally threshold=0.8, judge_job=ID).",
                )
        return cls(**values)

    def describe(self) -> str:
        """The text form (round-trips through :meth:`parse`)."""
        parts = []
        if self.min_score is not None:
            parts.append(f"min_score={self.min_score:g}")
        if self.unique:
            parts.append("unique")
            if self.threshold != DEFAULT_THRESHOLD:
                parts.append(f"threshold={self.threshold:g}")
        parts += [n for n in ("no_flags", "not_rejected") if getattr(self, n)]
        if self.judge_job:
            parts.append(f"judge_job={self.judge_job}")
        return ",".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FilterDecision:
    """Which records a filter removes and why (reason per removed index)."""

    filter: QualityFilter
    removed: dict[int, str] = field(default_factory=dict)
    considered: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Removed records by reason (every reason listed, zeros included)."""
        found = Counter(self.removed.values())
        return {reason: found.get(reason, 0) for reason in REASONS}

    def keeps(self, index: int) -> bool:
        return index not in self.removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "filter": self.filter.describe(),
            "considered": self.considered,
            "removed": len(self.removed),
            "removed_by_reason": self.counts,
        }


def record_text(outputs: dict[str, Any], columns: list[str] | None = None) -> str:
    """The text duplicates are judged on: the record's text columns, in order."""
    names = columns if columns is not None else list(outputs)
    return "\n".join(str(outputs[c]) for c in names if isinstance(outputs.get(c), str))


def decide(
    workspace: Any, job_id: str, quality_filter: QualityFilter, *, statuses: tuple[str, ...]
) -> FilterDecision:
    """Decide the filter for every record of ``job_id`` whose status is in ``statuses``."""
    from .judge import judge_scores
    from .labels import load_labels

    decision = FilterDecision(quality_filter)
    if not quality_filter.active:
        return decision
    flagged: set[int] = set()
    texts: list[tuple[int, str]] = []
    indices: list[int] = []
    for record in iter_records(workspace, job_id):
        if record.status not in statuses:
            continue
        indices.append(record.index)
        if record.flags:
            flagged.add(record.index)
        if record.status == "ok":
            texts.append((record.index, record_text(record.outputs)))
    texts.sort()
    duplicates: set[Any] = set()
    if quality_filter.unique:
        duplicates = find_duplicates(texts, threshold=quality_filter.threshold).duplicates
    scores: dict[int, float] = {}
    if quality_filter.min_score is not None:
        frame = judge_scores(workspace, job_id, quality_filter.judge_job)
        frame = frame[frame["valid"]]
        scores = {int(i): float(s) for i, s in zip(frame["index"], frame["score"], strict=True)}
    rejected: set[int] = set()
    if quality_filter.not_rejected:
        labels = load_labels(workspace, job_id)
        latest = labels.sort_values("labelled_at").drop_duplicates("index", keep="last")
        rejected = {int(i) for i in latest.loc[~latest["accepted"].astype(bool), "index"]}
    decision.considered = len(indices)
    for index in sorted(indices):
        reason = _reason(index, quality_filter, flagged, duplicates, scores, rejected)
        if reason:
            decision.removed[index] = reason
    return decision


def _reason(
    index: int,
    qf: QualityFilter,
    flagged: set[int],
    duplicates: set[Any],
    scores: dict[int, float],
    rejected: set[int],
) -> str | None:
    if qf.no_flags and index in flagged:
        return "flagged"
    if qf.unique and index in duplicates:
        return "duplicate"
    if qf.min_score is not None:
        if index not in scores:
            return "not judged"
        if scores[index] < qf.min_score:
            return "low score"
    if qf.not_rejected and index in rejected:
        return "rejected"
    return None
