"""Human review labels, stored in the workspace beside the job they judge.

One small object per (reviewer, record): ``jobs/<job>/quality/labels/<reviewer>/
<index>.json``. Re-labelling a record replaces the label; the same layout works in a
local folder and in an S3 workspace, and labels are deleted with their job.
"""

from __future__ import annotations

import getpass
import json
import re
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import QualityError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LABEL_COLUMNS", "Label", "default_reviewer", "load_labels", "save_label"]

LABEL_COLUMNS = ["index", "accepted", "score", "reviewer", "labelled_at", "note"]
_REVIEWER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Label:
    """A reviewer's verdict on one record: accept/reject and a 1-5 score."""

    index: int
    accepted: bool
    score: int
    reviewer: str
    labelled_at: float = 0.0
    note: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.score, bool) or not isinstance(self.score, int):
            raise QualityError(f"a label's score must be a whole number, got {self.score!r}")
        if not 1 <= self.score <= 5:
            raise QualityError(
                f"a label's score must be 1-5, got {self.score}", fix="Score from 1 to 5."
            )
        if not _REVIEWER.match(self.reviewer):
            raise QualityError(
                f"invalid reviewer name {self.reviewer!r}",
                fix="Use letters, digits, '_', '.' or '-' (1-64 characters).",
            )


def default_reviewer() -> str:
    """The login name, made safe for a storage key (``reviewer`` if there is none)."""
    try:
        name = getpass.getuser()
    except Exception:  # no login name in some containers
        name = ""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64].lstrip("_.-")
    return name or "reviewer"


def save_label(workspace: Any, job_id: str, label: Label) -> Label:
    """Store ``label`` (replacing this reviewer's earlier label of the record)."""
    if not label.labelled_at:
        label = Label(**{**asdict(label), "labelled_at": time.time()})
    key = layout.quality_key(job_id, f"labels/{label.reviewer}/{label.index:09d}.json")
    workspace.store.write_bytes(key, json.dumps(asdict(label)).encode())
    return label


def load_labels(workspace: Any, job_id: str, reviewer: str | None = None) -> pd.DataFrame:
    """Every stored label of ``job_id`` (of one ``reviewer`` if given), by index."""
    import pandas as pd

    prefix = layout.quality_key(job_id, "labels/" + (f"{reviewer}/" if reviewer else ""))
    rows = [json.loads(workspace.store.read_bytes(k)) for k in workspace.store.list(prefix)]
    frame = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    return frame.sort_values(["index", "reviewer"], ignore_index=True)
