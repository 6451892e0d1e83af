"""Rubrics: judge templates, versioned in the template library like any template.

A rubric is an ordinary template (YAML, sandboxed Jinja) whose seed rows are the judged
records: ``outputs`` (the record's output columns) and ``source_index``. One step has
``format: json`` and a ``json_schema`` with an integer ``score`` (its ``minimum`` and
``maximum`` give the scale) and a string ``rationale``. Built-in rubrics
(``judge_overall``, ``judge_qa``) are saved into the workspace library as version 1 the
first time they are used; edit them in the TemplateStudio or with
``plotpalette templates`` like any template, and jobs pin the version they used.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from ..errors import QualityError, TemplateNotFoundError
from ..templates import Step, Template, TemplateLibrary, parse_template

__all__ = [
    "builtin_rubrics",
    "load_rubric",
    "parse_verdict",
    "rubric_step",
    "score_range",
]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)


@functools.cache
def builtin_rubrics() -> dict[str, Template]:
    """The rubrics shipped with the package, by name."""
    root = resources.files("plotpalette.quality") / "rubrics"
    found = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            tpl = parse_template(entry.read_text(encoding="utf-8"), source=f"rubrics/{entry.name}")
            found[tpl.name] = tpl
    return found


def rubric_step(tpl: Template) -> Step:
    """The step whose JSON reply holds ``score`` and ``rationale``."""
    for step in reversed(tpl.steps):
        props = (step.json_schema or {}).get("properties", {})
        if step.format == "json" and "score" in props and "rationale" in props:
            return step
    raise QualityError(
        f"template {tpl.ref!r} is not a rubric: no step replies with a score and a rationale",
        fix="Give one step `format: json` and a json_schema with an integer `score` "
        "(minimum/maximum) and a string `rationale`; copy judge_overall to start.",
    )


def score_range(tpl: Template) -> tuple[int, int]:
    """The rubric's score scale (``minimum``, ``maximum``; default 1-5)."""
    score = (rubric_step(tpl).json_schema or {})["properties"]["score"]
    return int(score.get("minimum", 1)), int(score.get("maximum", 5))


def load_rubric(workspace: Any, ref: str) -> Template:
    """The rubric ``ref`` (``name`` or ``name@version``) from the workspace library."""
    library = TemplateLibrary(workspace)
    name = ref.partition("@")[0]
    builtin = builtin_rubrics().get(name)
    if builtin is not None and not library.versions(name):
        library.save(builtin, message="built-in rubric")
    try:
        tpl = library.get(ref)
    except TemplateNotFoundError as exc:
        raise QualityError(
            f"no rubric {ref!r}: {exc.message}",
            fix=f"Use a built-in rubric ({', '.join(builtin_rubrics())}) or save your own "
            "rubric template in the library first.",
        ) from None
    rubric_step(tpl)
    return tpl


def _json_candidates(text: str) -> list[str]:
    found = [text.strip()]
    found += [m.group(1) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        found.append(text[start : end + 1])  # an object wrapped in prose
    return found


def parse_verdict(text: str, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``(verdict, None)`` for a reply that holds a JSON object valid under ``schema``,
    else ``(None, problem)``. Tolerates a code fence or prose around the object, for
    models without native structured output."""
    from jsonschema import Draft202012Validator  # ~1 s to import: only when judging

    value: Any = None
    for candidate in _json_candidates(text):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            break
    else:
        return None, "the reply holds no JSON object"
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: e.path)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "reply"
        return None, f"{where}: {errors[0].message}"
    return value, None
