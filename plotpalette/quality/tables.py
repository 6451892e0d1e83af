"""Summary tables of a quality report, each computed by template version and by model.

Every table has the columns ``by`` (``template`` or ``model``) and ``group`` (the
template ``name@version`` or the model id(s) a record used), then its measures. They
are computed from the report's per-record frame (see :mod:`.report`).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .text import distinct_n, ngram_diversity, percentiles, type_token_ratio

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BY",
    "coverage_table",
    "diversity_table",
    "duplicate_table",
    "flag_table",
    "length_table",
]

BY = ("template", "model")


def _groups(frame: pd.DataFrame) -> Any:
    for by in BY:
        for group, part in frame.groupby(by, sort=True):
            yield by, str(group), part


def duplicate_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Exact and near-duplicates among ``ok`` records."""
    import pandas as pd

    rows = []
    for by, group, part in _groups(frame[frame["status"] == "ok"]):
        exact = int(part["exact_duplicate"].sum())
        near = int(part["near_duplicate"].sum())
        rows.append(
            {
                "by": by,
                "group": group,
                "ok": len(part),
                "exact_duplicates": exact,
                "near_duplicates": near,
                "duplicate_rate": (exact + near) / len(part) if len(part) else 0.0,
            }
        )
    cols = ["by", "group", "ok", "exact_duplicates", "near_duplicates", "duplicate_rate"]
    return pd.DataFrame(rows, columns=cols)


def diversity_table(
    frame: pd.DataFrame, texts: dict[str, list[str | None]], *, max_texts: int, seed: int = 0
) -> pd.DataFrame:
    """Per text column: distinct-1/2, type-token ratio and n-gram diversity of ``ok``
    records (at most ``max_texts`` per group, a seeded sample)."""
    import pandas as pd

    ok = frame[frame["status"] == "ok"]
    rows = []
    for by, group, part in _groups(ok):
        for column, values in texts.items():
            chosen = [v for v in (values[i] for i in part["row"]) if v is not None]
            sampled = len(chosen) > max_texts
            if sampled:
                chosen = random.Random(seed).sample(chosen, max_texts)
            rows.append(
                {
                    "by": by,
                    "group": group,
                    "column": column,
                    "texts": len(chosen),
                    "sampled": sampled,
                    "distinct_1": distinct_n(chosen, 1),
                    "distinct_2": distinct_n(chosen, 2),
                    "type_token_ratio": type_token_ratio(chosen),
                    "ngram_diversity": ngram_diversity(chosen),
                }
            )
    cols = [
        "by",
        "group",
        "column",
        "texts",
        "sampled",
        "distinct_1",
        "distinct_2",
        "type_token_ratio",
        "ngram_diversity",
    ]
    return pd.DataFrame(rows, columns=cols)


def length_table(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Length distribution (characters and words) of each text column of ``ok`` records."""
    import pandas as pd

    rows = []
    for by, group, part in _groups(frame[frame["status"] == "ok"]):
        for column in columns:
            chars = [int(v) for v in part[f"{column}__chars"].dropna()]
            words = [int(v) for v in part[f"{column}__words"].dropna()]
            p5, p50, p95 = percentiles(chars)
            rows.append(
                {
                    "by": by,
                    "group": group,
                    "column": column,
                    "texts": len(chars),
                    "mean_chars": sum(chars) / len(chars) if chars else float("nan"),
                    "p5_chars": p5,
                    "median_chars": p50,
                    "p95_chars": p95,
                    "max_chars": max(chars) if chars else float("nan"),
                    "mean_words": sum(words) / len(words) if words else float("nan"),
                }
            )
    cols = [
        "by",
        "group",
        "column",
        "texts",
        "mean_chars",
        "p5_chars",
        "median_chars",
        "p95_chars",
        "max_chars",
        "mean_words",
    ]
    return pd.DataFrame(rows, columns=cols)


def flag_table(frame: pd.DataFrame) -> pd.DataFrame:
    """How often each check fired (any status), by kind (``truncated``, ``refusal``...)."""
    import pandas as pd

    rows = []
    for by, group, part in _groups(frame):
        counts: dict[str, int] = {}
        for kinds in part["flag_kinds"]:
            for kind in kinds:
                counts[kind] = counts.get(kind, 0) + 1
        for kind, count in sorted(counts.items()):
            rows.append(
                {
                    "by": by,
                    "group": group,
                    "flag": kind,
                    "records": count,
                    "share": count / len(part),
                }
            )
    return pd.DataFrame(rows, columns=["by", "group", "flag", "records", "share"])


def coverage_table(frame: pd.DataFrame, seed_rows: dict[str, int | None]) -> pd.DataFrame:
    """Records per seed row (``ok`` records), by template version and by model.

    ``seed_rows``: job id -> rows in its seed set (``None`` if unknown)."""
    import pandas as pd

    rows = []
    for by, group, part in _groups(frame):
        ok = part[part["status"] == "ok"]
        total = 0
        known = True
        for job in part["job_id"].unique():
            n = seed_rows.get(job)
            known &= n is not None
            total += n or 0
        per_row = ok.groupby(["job_id", "seed_index"]).size()
        used = len(per_row)
        counts = list(per_row) + ([0] * (total - used) if known else [])
        rows.append(
            {
                "by": by,
                "group": group,
                "seed_rows": total if known else None,
                "rows_used": used,
                "rows_unused": total - used if known else None,
                "min_per_row": min(counts) if counts else 0,
                "mean_per_row": sum(counts) / len(counts) if counts else 0.0,
                "max_per_row": max(counts) if counts else 0,
            }
        )
    cols = [
        "by",
        "group",
        "seed_rows",
        "rows_used",
        "rows_unused",
        "min_per_row",
        "mean_per_row",
        "max_per_row",
    ]
    return pd.DataFrame(rows, columns=cols)
