"""Parsing Jinja text without compiling it, and reading facts off the syntax tree.

Parsing is safe on untrusted text (nothing is evaluated or constant-folded; only
compilation folds constants), so the template model uses it to report syntax errors
and step references as format errors, before any renderer exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import TemplateFormatError, TemplateSecurityError
from .limits import DEFAULT_LIMITS, Limits

__all__ = [
    "JINJA_OPTIONS",
    "constant_includes",
    "parse_expression",
    "parse_text",
    "step_references",
    "strip_expression",
]

# Block tags on their own line leave no blank line behind (friendlier for prompts); a
# fragment keeps its final newline so an included fragment ends its own line.
JINJA_OPTIONS = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}

_PARSE_ENV = ImmutableSandboxedEnvironment(**JINJA_OPTIONS)
_WRAPPED = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


def strip_expression(text: str) -> str:
    """``"{{ x > 1 }}"`` -> ``"x > 1"``; a bare expression is returned unchanged."""
    match = _WRAPPED.match(text)
    if match and "}}" not in match.group("expr") and "{{" not in match.group("expr"):
        return match.group("expr").strip()
    return text.strip()


def _check_size(text: str, where: str, limits: Limits) -> None:
    if len(text) > limits.max_text_chars:
        raise TemplateSecurityError(
            f"{where}: {len(text):,} characters, over the {limits.max_text_chars:,} limit",
            fix="Shorten the text or move parts into fragments.",
        )


def _syntax_error(exc: TemplateSyntaxError, where: str) -> TemplateFormatError:
    error = TemplateFormatError(
        f"{where}, line {exc.lineno}: template syntax error: {exc.message}",
        fix="Check the matching {{ }}, {% %} and {% end... %} tags on that line.",
    )
    error.text_line = exc.lineno  # type: ignore[attr-defined]  # for file line numbers
    return error


def parse_text(text: str, *, where: str, limits: Limits = DEFAULT_LIMITS) -> nodes.Template:
    """Parse Jinja template text; errors name ``where`` and the line."""
    _check_size(text, where, limits)
    try:
        return _PARSE_ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, where) from None
    except RecursionError:
        raise TemplateSecurityError(f"{where}: expressions nested too deeply") from None


def parse_expression(text: str, *, where: str, limits: Limits = DEFAULT_LIMITS) -> nodes.Expr:
    """Parse a single Jinja expression (a ``when`` condition, an output column)."""
    _check_size(text, where, limits)
    try:
        parser = Parser(_PARSE_ENV, text, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            raise TemplateSyntaxError(
                f"unexpected {token.value!r} after the expression", token.lineno, None, None
            )
        return expr
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, where) from None
    except RecursionError:
        raise TemplateSecurityError(f"{where}: expression nested too deeply") from None


def step_references(tree: nodes.Node) -> Iterator[tuple[str, int]]:
    """Yield ``(step_id, line)`` for every ``steps.<id>`` / ``steps["id"]`` in ``tree``."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = node.node
        if not (isinstance(base, nodes.Name) and base.name == "steps"):
            continue
        if isinstance(node, nodes.Getattr):
            yield node.attr, node.lineno
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            yield node.arg.value, node.lineno


def constant_includes(tree: nodes.Node) -> Iterator[tuple[str, int, str]]:
    """Yield ``(name, line, kind)`` for includes/imports/extends whose name is a constant."""
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        target = node.template
        kind = {nodes.Include: "include", nodes.Extends: "extends"}.get(type(node), "import")
        if isinstance(target, nodes.Const) and isinstance(target.value, str):
            yield target.value, node.lineno, kind
        elif isinstance(target, (nodes.List, nodes.Tuple)):
            for item in target.items:
                if isinstance(item, nodes.Const) and isinstance(item.value, str):
                    yield item.value, node.lineno, kind
