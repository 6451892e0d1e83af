"""Pieces of rendering that are not the Renderer itself: what ``steps.<id>`` looks like
to templates, JSON parsing of step outputs, column values, and error translation (every
error names the step, the part and the line, found in Jinja's rewritten traceback).
"""

from __future__ import annotations

import json
import re
from typing import Any

from jinja2 import TemplateNotFound
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Undefined
from jinja2.sandbox import SecurityError

from ..errors import TemplateError, TemplateRenderError, TemplateSecurityError

__all__ = [
    "MISS",
    "FastText",
    "StepOutput",
    "column_value",
    "fast_expression",
    "fast_text",
    "fast_value",
    "parse_json_output",
    "translate_error",
]


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
    except (ValueError, RecursionError):  # malformed, or nested too deep
        return None


def column_value(value: Any, where: str) -> Any:
    if isinstance(value, StepOutput):
        return value.output
    if isinstance(value, Undefined):
        raise TemplateRenderError(
            f"{where}: {_undefined_name(value)!r} is undefined",
            fix="Give the seed row this field, guard it with {% if ... %}, or use |default(...).",
        )
    if value is None or isinstance(value, (str, int, float, bool)):
        return value.strip() if isinstance(value, str) else value
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise TemplateRenderError(
            f"{where}: a value of type {type(value).__name__} cannot be stored in a column",
            fix="Map the column to text, a number, a list or a mapping.",
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
            f"{loc}: {_plain_undefined(exc.message or '')}",
            fix="Give the seed row this field, guard it with {% if ... %}, or use |default(...).",
        )
    if isinstance(exc, TemplateNotFound):
        return TemplateRenderError(
            f"{loc}: fragment {exc.name!r} not found: {exc.message}",
            fix="Save the fragment in the library or fix its name.",
        )
    return TemplateRenderError(f"{loc}: {_plain_error(exc)}", fix=_FIXES.get(type(exc)))


# Python's exception names mean nothing to a template author: say what happened.
_PLAIN = {
    ZeroDivisionError: "division by zero",
    TypeError: "a value of the wrong type was used",
    ValueError: "a bad value was used",
    KeyError: "a missing key was used",
    IndexError: "an item past the end of a list was used",
    OverflowError: "a number too large to compute",
    AttributeError: "a missing attribute was used",
}
_FIXES = {
    ZeroDivisionError: "Guard the division, e.g. {% if n %}{{ total / n }}{% endif %}.",
    TypeError: "Check the types on that line (text vs number vs list); filters such as "
    "|int, |string and |join convert.",
    ValueError: "Check the values passed to filters on that line.",
}


def _plain_error(exc: BaseException) -> str:
    for kind, words in _PLAIN.items():
        if isinstance(exc, kind):
            detail = str(exc).strip()
            return f"{words} ({detail})" if detail and detail != words else words
    return f"the template failed ({exc})" if str(exc) else "the template failed"


_UNDEFINED_ATTR = re.compile(r"'[\w.]*Undefined object' has no attribute '([^']*)'")


def _plain_undefined(message: str) -> str:
    """Jinja words an attribute of a missing value as "'PromptUndefined object' has no
    attribute 'x'", and names objects by module path ('jinja2.runtime.Macro object'):
    the user needs to hear which name is missing, not our class names."""
    message = _UNDEFINED_ATTR.sub(
        lambda m: f"a missing value's {m.group(1)!r} is undefined", message
    )
    return _MODULE_PATH.sub(r"'\1 object'", message)


_MODULE_PATH = re.compile(r"'(?:\w+\.)+(\w+) object'")


def _undefined_name(value: Undefined) -> str:
    name = getattr(value, "_undefined_name", None)
    return str(name) if name else "a value"


# -- the fast path ------------------------------------------------------------------------
# Most prompts and output columns are literal text plus plain lookups ({{ topic }},
# {{ steps.ask.output }}). Rendering those through Jinja costs a Context, a sandbox check
# per attribute and a finalize call each: most of the engine's time per record. A
# FastText renders them directly. It only answers when the result is certainly Jinja's
# (plain dicts and step outputs, present keys, text-like values); anything else returns
# None and the caller renders with Jinja, which gives the same text or the proper error.
_MISS = object()
_TEXT_TYPES = (str, int, float, bool)
_SPECIAL_NAMES = frozenset({"self", "loop", "caller", "varargs", "kwargs", "super"})


def _lookup(variables: dict[str, Any], path: tuple[tuple[bool, Any], ...]) -> Any:
    """Follow ``path`` (``(is_item, key)`` steps after a name) the way the sandbox would,
    or return ``_MISS`` where it might not be the same."""
    name = path[0][1]
    value = variables.get(name, _MISS)
    for is_item, key in path[1:]:
        if value is _MISS:
            return _MISS
        if type(value) is dict:
            # Jinja tries the attribute first: `seed.items` is the dict method
            if (not is_item and hasattr(dict, key)) or key not in value:
                return _MISS
            value = value[key]
        elif type(value) is StepOutput and not is_item and not key.startswith("_"):
            value = getattr(value, key, _MISS)
            if callable(value):
                return _MISS
        else:
            return _MISS
    return value


def _path(node: Any) -> tuple[tuple[bool, Any], ...] | None:
    from jinja2 import nodes

    if isinstance(node, nodes.Name) and node.ctx == "load":
        # names the compiler binds itself (`self` is the template reference, ...)
        return None if node.name in _SPECIAL_NAMES else ((False, node.name),)
    if isinstance(node, nodes.Getattr):
        head = _path(node.node)
        return None if head is None else (*head, (False, node.attr))
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        head = _path(node.node)
        return None if head is None else (*head, (True, node.arg.value))
    return None


class FastText:
    """A text of literal parts and lookups, rendered without Jinja (see above)."""

    __slots__ = ("max_output_chars", "parts")

    def __init__(self, parts: list[str | tuple[tuple[bool, Any], ...]], max_chars: int) -> None:
        self.parts = parts
        self.max_output_chars = max_chars

    def render(self, variables: dict[str, Any]) -> str | None:
        out: list[str] = []
        expr_chars = 0
        for part in self.parts:
            if type(part) is str:
                out.append(part)
                continue
            value = _lookup(variables, part)  # type: ignore[arg-type]
            if type(value) is StepOutput:
                text = value.output
            elif isinstance(value, _TEXT_TYPES):
                text = str(value)
            else:  # None, containers, anything finalize might treat otherwise
                return None
            expr_chars += len(text)
            out.append(text)
        if expr_chars > self.max_output_chars:
            return None  # Jinja raises the limit error with its wording
        return "".join(out)


def fast_text(env: Any, source: str, max_output_chars: int) -> FastText | None:
    """A :class:`FastText` for ``source`` if it is only text and plain lookups."""
    from jinja2 import nodes

    try:
        tree = env.parse(source)
    except Exception:
        return None
    parts: list[str | tuple[tuple[bool, Any], ...]] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
                continue
            path = _path(child)
            if path is None:
                return None
            parts.append(path)
    return FastText(parts, max_output_chars)


def fast_expression(env: Any, source: str) -> tuple[tuple[bool, Any], ...] | None:
    """The lookup path of an expression that is nothing but a plain lookup."""
    from jinja2 import nodes

    try:
        tree = env.parse("{{ " + source + " }}")
    except Exception:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    children = tree.body[0].nodes
    return _path(children[0]) if len(children) == 1 else None


def fast_value(variables: dict[str, Any], path: tuple[tuple[bool, Any], ...]) -> Any:
    """The value of a :func:`fast_expression` path, or ``MISS`` (render with Jinja)."""
    return _lookup(variables, path)


MISS = _MISS
