"""``generate_seeds``: have a model write seed rows, within a dollar budget.

For users with no seed data: describe the rows and their fields, and a model writes
them in batches as structured JSON. Before every call the worst case (every input and
output token at full price) must fit in what is left of ``budget_usd``; after it, the
call is charged at the usage the model reports. Rows that lack a field or repeat an
earlier row are discarded. The result is an ordinary :class:`SeedSet` with a
``generation`` record (model, calls, cost, whether it finished).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._sync import run_sync
from ..errors import BudgetExceededError, SeedError
from ..llm.base import Backend, ModelRequest, ModelResponse
from .canonical import canonical_line, nest_columns, nest_values
from .seedset import SeedSet, build_seedset

__all__ = ["SeedGeneration", "generate_seeds"]

_SYSTEM = (
    "You write seed rows for a synthetic-data generator. Answer with JSON only: an object "
    'whose "rows" array holds exactly the requested number of rows. Every row has every '
    "listed field as a short, concrete string. Rows must differ from each other and from "
    "the rows listed as already written."
)


@dataclass(frozen=True)
class SeedGeneration:
    """How a generated seed set was made (kept on ``SeedSet.generation``)."""

    model: str
    calls: int
    rows_requested: int
    rows_made: int
    discarded: int
    cost_usd: float
    budget_usd: float
    complete: bool  # False when the budget or the attempt limit stopped it early
    stopped_by: str | None  # None, "budget" or "attempts"


def _schema(names: list[str], count: int) -> dict[str, Any]:
    row = {
        "type": "object",
        "additionalProperties": False,
        "required": names,
        "properties": {n: {"type": "string", "minLength": 1} for n in names},
    }
    return {
        "type": "object",
        "required": ["rows"],
        "additionalProperties": False,
        "properties": {
            "rows": {"type": "array", "items": row, "minItems": count, "maxItems": count}
        },
    }


def _prompt(description: str, fields: Mapping[str, str], count: int, seen: list[str]) -> str:
    lines = [f"Write {count} seed rows: {description}", "", "Fields:"]
    lines += [f"- {name}: {what or name}" for name, what in fields.items()]
    if seen:
        lines += ["", "Already written (do not repeat):", *(f"- {s}" for s in seen[-20:])]
    return "\n".join(lines)


def _rows_from(response: ModelResponse, names: list[str]) -> tuple[list[list[str]], int]:
    """Well-formed rows (values in field order) and how many items were unusable."""
    data = response.parsed_json
    if data is None:
        try:
            data = json.loads(response.text)
        except (ValueError, RecursionError):  # malformed, or nested too deep
            return [], 1
    items = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return [], 1
    good, bad = [], 0
    for item in items:
        values = [item.get(n) for n in names] if isinstance(item, dict) else []
        if values and all(isinstance(v, str) and v.strip() for v in values):
            good.append([v.strip() for v in values])
        else:
            bad += 1
    return good, bad


def generate_seeds(
    description: str,
    fields: Mapping[str, str] | Sequence[str],
    n: int,
    *,
    budget_usd: float,
    backend: Backend | None = None,
    model: str = "cheap",
    prices: Any = None,
    per_call: int = 10,
    max_tokens: int | None = None,
    temperature: float | None = 0.9,
) -> SeedSet:
    """Have ``model`` write ``n`` seed rows with ``fields``, spending at most ``budget_usd``.

    ``fields`` maps field names (dotted names nest: ``author.name``) to a short
    description, or is a list of names. ``backend`` defaults to the one the settings
    choose (the local model unless configured otherwise); ``prices`` to the bundled
    :class:`~plotpalette.llm.PriceTable`. Raises :class:`BudgetExceededError` if not
    even one call fits the budget. If the budget runs out later, the rows made so far
    are returned and ``seeds.generation.complete`` is False.
    """
    spec = dict(fields) if isinstance(fields, Mapping) else {str(f): "" for f in fields}
    if not spec:
        raise SeedError(
            "generate_seeds needs at least one field",
            fix="Pass fields such as {'topic': 'a poem topic'}.",
        )
    if n < 1 or per_call < 1:
        raise SeedError(
            f"n and per_call must be positive (got n={n}, per_call={per_call})",
            fix="Ask for at least one row.",
        )
    names = list(spec)
    paths = nest_columns(names, source="generate_seeds fields")
    if backend is None:
        from ..config import Settings
        from ..llm import make_backend

        backend = make_backend(Settings.load())
    if prices is None:
        from ..llm import PriceTable

        prices = PriceTable.load(region=getattr(backend, "region", None))
    model_id = backend.resolve_model(model)
    rows: list[dict[str, Any]] = []
    keys: set[bytes] = set()
    seen: list[str] = []
    spent, calls, discarded, stopped = 0.0, 0, 0, None
    max_calls = 3 * math.ceil(n / per_call) + 2  # a model that keeps failing must not loop
    while len(rows) < n:
        if calls >= max_calls:
            stopped = "attempts"
            break
        count = min(per_call, n - len(rows))
        request = ModelRequest.from_prompt(
            model_id,
            _prompt(description, spec, count, seen),
            system=_SYSTEM,
            max_tokens=max_tokens or 60 + 40 * count * len(names),
            temperature=temperature,
            json_schema=_schema(names, count),
        )
        worst = prices.worst_case(model_id, backend.max_input_tokens(request), request.max_tokens)
        if spent + worst > budget_usd:
            if not rows:
                raise BudgetExceededError(
                    f"generating seeds: one call to {model_id} may cost up to ${worst:.6f}, "
                    f"more than the budget of ${budget_usd:.6f}",
                    fix="Raise budget_usd, or lower per_call/max_tokens so one call costs less.",
                )
            stopped = "budget"
            break
        response = run_sync(backend.generate(request))
        calls += 1
        spent += prices.cost(response.model, response.usage)
        good, bad = _rows_from(response, names)
        discarded += bad
        for values in good:
            row = nest_values(paths, values)
            key = canonical_line(row)
            if key in keys or len(rows) >= n:
                discarded += 1
                continue
            keys.add(key)
            rows.append(row)
            seen.append(" | ".join(values))
    if not rows:
        raise SeedError(
            f"{model_id} produced no usable seed rows in {calls} calls",
            fix="Describe the rows more plainly, or try a stronger model tier.",
        )
    seeds = build_seedset(
        ((i + 1, r) for i, r in enumerate(rows)),
        format="generated",
        source=f"generated by {model_id}",
        unit="row",
    )
    seeds.generation = SeedGeneration(
        model=model_id,
        calls=calls,
        rows_requested=n,
        rows_made=len(rows),
        discarded=discarded,
        cost_usd=spent,
        budget_usd=budget_usd,
        complete=len(rows) >= n,
        stopped_by=stopped,
    )
    return seeds
