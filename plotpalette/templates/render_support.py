"""Pieces of rendering that are not the Renderer itself: what ``steps.<id>`` looks like
to templates, JSON parsing of step outputs, column values, and error translation (every
error names the step, the part and the line, found in Jinja's rewritten traceback).
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import TemplateNotFound
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import SecurityError

from ..errors import TemplateError, TemplateRenderError, TemplateSecurityError

__all__ = ["StepOutput", "column_value", "parse_json_output", "translate_error"]


class StepOutput:
    """What later steps see as ``steps.<id>``: ``.output`` (text), ``.json`` (parsed,
    for ``format: json`` steps), ``.skipped``, ``.model``, and the parsed JSON fields
    directly (``steps.ask.question``). Printing it prints the output text."""

    def __init__(
        self, output: str = "", json_value: Any = None, *, skipped: bool = False, model: str = ""
    ) -> None:
        self.output = output
        self.json = json_value
        self.skipped = skipped
        self.model = model

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and isinstance(self.json, dict) and name in self.json:
            return self.json[name]
        raise AttributeError(name)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(self.json, (dict, list)):
            return self.json[key]
        raise KeyError(key)

    def __str__(self) -> str:
        return self.output

    def __repr__(self) -> str:
        return f"StepOutput({self.output[:40]!r}{', skipped' if self.skipped else ''})"


def parse_json_output(text: str) -> Any:
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").partition("\n")[2] if "\n" in body else body.strip("`")
    try:
        return json.loads(body)
    except ValueError:
        return None


def column_value(value: Any, where: str) -> Any:
    if isinstance(value, StepOutput):
        return value.output
    if value is None or isinstance(value, (str, int, float, bool)):
        return value.strip() if isinstance(value, str) else value
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise TemplateRenderError(
            f"{where}: value of type {type(value).__name__} cannot be stored in a column"
        ) from None


def _template_line(exc: BaseException, where: str) -> tuple[int | None, str | None]:
    """Line in ``where`` (and the fragment, if deeper) from Jinja's rewritten traceback."""
    line, fragment = None, None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename == where:
            line = tb.tb_lineno
        elif filename.startswith("<fragment "):
            fragment = f"{filename[1:-1]}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return line, fragment


def translate_error(exc: BaseException, where: str) -> TemplateError:
    line, fragment = _template_line(exc, where)
    loc = where + (f", line {line}" if line else "") + (f" (in {fragment})" if fragment else "")
    if isinstance(exc, TemplateError):
        return type(exc)(f"{loc}: {exc.message}", fix=exc.fix)
    if isinstance(exc, SecurityError):
        return TemplateSecurityError(f"{loc}: {exc}")
    if isinstance(exc, (RecursionError, MemoryError)):
        return TemplateSecurityError(f"{loc}: {type(exc).__name__} (runaway recursion or size)")
    if isinstance(exc, UndefinedError):
        return TemplateRenderError(
            f"{loc}: {exc.message}",
            fix="Give the seed row this field, guard it with {% if ... %}, or use |default(...).",
        )
    if isinstance(exc, TemplateNotFound):
        return TemplateRenderError(
            f"{loc}: fragment {exc.name!r} not found: {exc.message}",
            fix="Save the fragment in the library or fix its name.",
        )
    return TemplateRenderError(f"{loc}: {type(exc).__name__}: {exc}")
