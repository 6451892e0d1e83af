"""The Jinja sandbox prompts render in: attribute safety plus resource limits.

Jinja's ``SandboxedEnvironment`` blocks attribute walks (``__class__``, ``__globals__``)
but not resource exhaustion. This environment adds, for every render:

- operand checks on ``*``, ``**``, ``+``, ``%`` and ``~`` (string/list sizes, integer
  bits, format widths). Intercepted operators are never constant-folded by Jinja, so
  ``'a' * 10**9`` cannot run inside compilation either;
- checked versions of the amplifying filters (``center``, ``format``, ``indent``,
  ``join``, ``replace``, ``batch``, ``slice``, ``wordwrap``, ``sum``) and string methods
  (``center``, ``ljust``, ``rjust``, ``replace``, ``join``, ``format``); filters that
  raise are not folded at compile time, so their checks hold there too;
- a guard on every ``for`` loop (iteration budget and deadline), a call-depth limit
  (recursive macros and loops), a budget of include/import executions, a cap on
  everything emitted (buffers of macros and ``set`` blocks included) and a deadline;
- a whitelist of methods on built-in types (no ``to_bytes``, ``translate``, ...);
- no ``urlize`` (super-linear on some input) and no ``lipsum``; ``random`` is seeded.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from functools import update_wrapper
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter, SecurityError

from ..errors import TemplateRenderError, TemplateSecurityError
from .checked_filters import CHECKED_FILTERS, size_checked_filters
from .filters import PROMPT_FILTERS
from .guards import (
    LOOP_GUARD,
    check_binop,
    check_expanded_size,
    check_format_spec,
    check_str_method,
    current_state,
    limit_error,
)
from .limits import DEFAULT_LIMITS, Limits
from .syntax import JINJA_OPTIONS

__all__ = ["PromptSandbox", "PromptUndefined"]

_STR_METHODS = frozenset(
    "capitalize casefold center count endswith find format format_map index isalnum "  # noqa: SIM905
    "isalpha isascii isdecimal isdigit isidentifier islower isnumeric isspace istitle "
    "isupper join ljust lower lstrip partition removeprefix removesuffix replace rfind "
    "rindex rjust rpartition rsplit rstrip split splitlines startswith strip swapcase "
    "title upper".split()
)
_SAFE_METHODS: tuple[tuple[type, frozenset[str]], ...] = (
    (str, _STR_METHODS),
    (dict, frozenset({"get", "items", "keys", "values"})),
    (list, frozenset({"count", "index"})),
    (tuple, frozenset({"count", "index"})),
    (
        (set, frozenset),
        frozenset({"difference", "intersection", "isdisjoint", "issubset", "issuperset", "union"}),
    ),  # type: ignore[dict-item]
    ((int, float), frozenset({"bit_length", "is_integer", "as_integer_ratio"})),  # type: ignore
)


def _no_lipsum(*args: Any, **kwargs: Any) -> str:
    raise TemplateSecurityError(
        "lipsum() is not available in prompt templates (it generates unbounded filler text)",
        fix="Write the placeholder text yourself, or draw it from a seed field.",
    )


# -- undefined --------------------------------------------------------------------------
class PromptUndefined(StrictUndefined):
    """Strict, except that missing values are false and chain through attributes.

    ``{{ author.era }}`` with no ``era`` is an error naming it, but
    ``{% if author.era %}`` is simply false, so ``if`` guards optional fields.
    """

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, name: Any) -> Any:
        return self


# -- code generation hooks ---------------------------------------------------------------
class _GuardedCodeGenerator(CodeGenerator):
    """Routes every ``for`` iterable through the loop guard and ``~`` through a check."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Wrap loop iterables before code generation starts: the generator collects the
        # filters a template uses up front.
        for loop in node.find_all(nodes.For):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == LOOP_GUARD):
                loop.iter = nodes.Filter(
                    loop.iter, LOOP_GUARD, [], [], None, None, lineno=loop.lineno
                )
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _CheckedFormatter(SandboxedFormatter):
    def __init__(self, env: PromptSandbox) -> None:
        super().__init__(env)
        self._limits = env.limits

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(format_spec, self._limits)
        return super().format_field(value, format_spec)


# -- the environment --------------------------------------------------------------------
class PromptSandbox(ImmutableSandboxedEnvironment):
    """An immutable Jinja sandbox with resource limits (see the module docstring)."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS, **kwargs: Any) -> None:
        super().__init__(
            undefined=PromptUndefined,
            finalize=self._finalize,
            autoescape=False,
            auto_reload=False,
            **JINJA_OPTIONS,
            **kwargs,
        )
        self.limits = limits
        self.globals["lipsum"] = _no_lipsum  # named, so the error says why it is missing
        self.globals["range"] = self._range
        self.filters.pop("urlize", None)
        self.filters.update(PROMPT_FILTERS)
        self.filters.update(CHECKED_FILTERS)
        # Shared items make small containers expand hugely when serialised ([a] * 20).
        self.filters.update(size_checked_filters(self.filters))

    # Attribute access --------------------------------------------------------------
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if callable(value):
            for types_, allowed in _SAFE_METHODS:
                if isinstance(obj, types_):
                    return attr in allowed
        return True

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Fail at the access itself: nothing downstream can test or swallow it.
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is not "
            "allowed in templates"
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        state = current_state()
        if state is not None:
            state.tick()
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Any:
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        text = value.__self__
        if not isinstance(text, str):
            return None
        is_map = value.__name__ == "format_map"
        formatter = _CheckedFormatter(self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            for arg in (*args, *kwargs.values()):
                check_expanded_size(arg, self.limits, "a formatted value")
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return self._cap(str(formatter.vformat(text, args, kwargs)), "a formatted string")

        return update_wrapper(wrapper, value)

    # Operators and calls --------------------------------------------------------------
    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        state = current_state()
        if state is not None:
            state.tick()
        check_binop(operator, left, right, self.limits)
        return self.binop_table[operator](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        state = current_state()
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            args = check_str_method(__obj.__name__, __obj.__self__, args, kwargs, __self.limits)
        if state is None:
            return super().call(__context, __obj, *args, **kwargs)
        state.tick()
        state.call_depth += 1
        try:
            if state.call_depth > state.limits.max_call_depth:
                raise TemplateSecurityError(
                    f"calls nested more than {state.limits.max_call_depth} deep "
                    "(a recursive macro or loop?)",
                    fix="Make sure recursive macros and loops stop early.",
                )
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            state.call_depth -= 1

    def get_template(self, name: Any, parent: Any = None, globals: Any = None) -> Any:
        state = current_state()
        if state is not None:
            state.tick()
            state.template_loads += 1
            if state.template_loads > state.limits.max_template_loads:
                raise TemplateSecurityError(
                    f"more than {state.limits.max_template_loads} includes/imports in one "
                    "render (a fragment including itself?)",
                    fix="Remove the include cycle.",
                )
        return super().get_template(name, parent, globals)

    # Output ---------------------------------------------------------------------------
    def _cap(self, text: str, what: str) -> str:
        if len(text) > self.limits.max_string_chars:
            raise limit_error(what, len(text), self.limits.max_string_chars)
        return text

    def _finalize(self, value: Any) -> Any:
        """Every ``{{ }}`` value passes here (inside macros and ``set`` blocks too)."""
        if isinstance(value, Undefined):
            return value  # str() raises the strict undefined error with its name
        if callable(value) and not isinstance(value, Undefined):
            name = getattr(value, "__name__", "").lstrip("_")
            raise TemplateRenderError(
                f"an expression rendered a function ({name or 'a helper'}), not text",
                fix="Call it with (...), or, for a seed field named like a template helper "
                "(range, dict, namespace, cycler, joiner, loop, ...), write seed.<name>.",
            )
        if value is None:
            raise TemplateRenderError(
                "an expression rendered None (a null seed field?)",
                fix="Give the row a value, or write `|default('', true)`.",
            )
        if isinstance(value, (list, tuple, dict, set, frozenset)):
            kind = "mapping" if isinstance(value, dict) else "list"
            raise TemplateRenderError(
                f"an expression rendered a {kind} where text is needed",
                fix="Write `|join(', ')` for a list, `|tojson` for a mapping, or pick a field.",
            )
        text = str(value)
        state = current_state()
        if state is not None:
            state.tick()
            state.output_chars += len(text)
            if state.output_chars > state.limits.max_output_chars:
                raise limit_error(
                    "the rendered output", state.output_chars, state.limits.max_output_chars
                )
        return text

    @staticmethod
    def checked_concat(parts: Iterable[Any]) -> str:
        """``a ~ b``: sizes are checked before the string is built."""
        state = current_state()
        limits = state.limits if state else DEFAULT_LIMITS
        limit = limits.max_string_chars
        parts = list(parts)
        for part in parts:
            check_expanded_size(part, limits, "a concatenated value")
        strs = [str(p) for p in parts]
        total = sum(map(len, strs))
        if total > limit:
            raise limit_error("a concatenation", total, limit)
        return "".join(strs)

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Joins the buffers of macros, ``set`` and ``call`` blocks."""
        strs = parts if isinstance(parts, list) else list(parts)
        total = sum(map(len, strs))
        if total > self.limits.max_string_chars:
            raise limit_error("a block's output", total, self.limits.max_string_chars)
        return "".join(strs)

    def _range(self, *args: int) -> range:
        rng = range(*args)
        if len(rng) > self.limits.max_range:
            raise limit_error("range()", len(rng), self.limits.max_range)
        return rng
