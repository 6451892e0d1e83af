"""Checks of a template's fields that need more than a type: model names, aliases,
schema references, and the Jinja texts (syntax, size, step references).

Each check returns *problems* ``(path, message, line in the text)``; the template
model collects them so one error lists every problem with its file line. A message of
type :class:`LimitProblem` is a size or nesting limit (a security error, not a format
error).
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

from ..errors import TemplateFormatError, TemplateSecurityError
from .syntax import parse_expression, parse_text, step_references, strip_expression

if TYPE_CHECKING:
    from .model import Template

__all__ = [
    "ALIAS_PATTERN",
    "MODEL_ID_PATTERN",
    "LimitProblem",
    "Problem",
    "expr_problems",
    "external_refs",
    "model_name_problem",
    "model_problems",
    "text_problems",
]

Problem = tuple[tuple[str | int, ...], str, int | None]  # path, message, line in the text

# What a step may name as its model: a tier, an alias, a Bedrock model or inference
# profile id (``anthropic.claude-3-haiku-20240307-v1:0``, ``us.amazon.nova-lite-v1:0``),
# a Bedrock ARN, or ``local/<name>``. Anything else (shell metacharacters, whitespace,
# newlines, template syntax, path traversal) is refused rather than sent verbatim.
_ID_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,199})"
MODEL_ID_PATTERN = (
    r"(?:arn:aws(?:-[a-z]{1,12}){0,2}:bedrock:[a-z0-9-]{1,20}:[0-9]{0,12}:"
    rf"[a-z-]{{1,40}}/{_ID_PART}(?:/{_ID_PART})?"
    rf"|{_ID_PART}(?:/{_ID_PART})?)"
)
ALIAS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"


def model_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a step's model, tier, alias or fallback (else None)."""
    if not isinstance(name, str) or not name.strip():
        return "empty model id"
    if ".." in name or not re.fullmatch(MODEL_ID_PATTERN, name):
        shown = name if len(name) <= 60 else name[:60] + "…"
        return (
            f"{shown!r} is not a model id: use a tier (cheap, balanced, premium), an alias "
            "from `models:`, a Bedrock model or inference profile id such as "
            "amazon.nova-lite-v1:0, a Bedrock ARN, or local/<name>"
        )
    return None


def model_problems(tpl: Template, tiers: tuple[str, ...]) -> list[Problem]:
    problems: list[Problem] = []
    for alias, target in tpl.models.items():
        where = ("models", alias)
        if alias in tiers:
            problems.append((where, f"{alias!r} is a tier; choose another alias", None))
        elif not re.fullmatch(ALIAS_PATTERN, alias):
            msg = f"alias {alias!r}: aliases are letters, digits, _ and - (at most 64)"
            problems.append((where, msg, None))
        bad = model_name_problem(target)
        if bad:
            problems.append((where, bad, None))
        elif target in tpl.models and target != alias:
            msg = (
                f"alias {alias!r} refers to another alias {target!r}; an alias names a model "
                f"id or tier directly (write {alias}: {tpl.models[target]})"
            )
            problems.append((where, msg, None))
        elif target == alias:
            problems.append((where, f"alias {alias!r} refers to itself", None))
    for i, step in enumerate(tpl.steps):
        for key, names in (("model", [step.model]), ("fallback", step.fallback)):
            for j, name in enumerate(names):
                if name in tpl.models or name in tiers:
                    continue
                bad = model_name_problem(name)
                if bad:
                    path: tuple[str | int, ...] = ("steps", i, key)
                    problems.append(((*path, j) if key == "fallback" else path, bad, None))
    return problems


def external_refs(schema: Any, path: tuple[str | int, ...] = ()) -> list[tuple[Any, str]]:
    """``$ref``s that point outside the schema: never fetched, so refused up front."""
    found: list[tuple[Any, str]] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(schema, path)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                    if not value.startswith("#"):
                        found.append(
                            (
                                (*at, key),
                                f"{key} {value!r} points outside the schema; external schemas "
                                "are never fetched: inline it under $defs and use "
                                "'#/$defs/<name>'",
                            )
                        )
                else:
                    stack.append((value, (*at, key)))
        elif isinstance(node, list):
            stack.extend((item, (*at, n)) for n, item in enumerate(node))
    return found


def _ref_problems(
    tree: Any, path: tuple[str | int, ...], earlier: set[str], tpl: Template | None
) -> list[Problem]:
    out: list[Problem] = []
    ids = [s.id for s in tpl.steps] if tpl else []
    for ref, line in step_references(tree):
        if ref in earlier or ref in ("items", "keys", "values", "get"):
            continue
        if ref in ids:
            msg = f"uses steps.{ref}, which runs later; move it before this step"
        else:
            close = difflib.get_close_matches(ref, ids, n=1)
            hint = f", did you mean {close[0]}?" if close else ""
            msg = f"steps.{ref} is not a step of this template{hint}"
        out.append((path, msg, line))
    return out


class LimitProblem(str):
    """A problem message that is a size/nesting limit (raised as TemplateSecurityError)."""


def _parse_problem(exc: TemplateFormatError | TemplateSecurityError, path: Any) -> Problem:
    message = exc.message.split(": ", 1)[-1]
    if isinstance(exc, TemplateSecurityError):
        message = LimitProblem(message)
    return (path, message, getattr(exc, "text_line", None))


def text_problems(
    text: str,
    path: tuple[str | int, ...],
    where: str,
    earlier: set[str],
    tpl: Template | None = None,
) -> list[Problem]:
    try:
        tree = parse_text(text, where=where)
    except (TemplateFormatError, TemplateSecurityError) as exc:
        return [_parse_problem(exc, path)]
    return _ref_problems(tree, path, earlier, tpl)


def expr_problems(
    text: str, path: tuple[str | int, ...], where: str, earlier: set[str], tpl: Template
) -> list[Problem]:
    try:
        tree = parse_expression(strip_expression(text), where=where)
    except (TemplateFormatError, TemplateSecurityError) as exc:
        return [_parse_problem(exc, path)]
    return _ref_problems(tree, path, earlier, tpl)
