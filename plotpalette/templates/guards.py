"""Budgets and operand checks for rendering, and checked versions of Jinja filters.

Every check raises :class:`~plotpalette.errors.TemplateSecurityError` naming the limit.
The per-render :class:`RenderState` (deadline, loop/output/call/include budgets and the
seeded RNG) lives in a context variable, so concurrent renders in threads or tasks never
share budgets. Checked filters take the environment (``pass_environment``) so they
apply its limits even when Jinja evaluates them while compiling (constant folding).
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from jinja2 import pass_environment, pass_eval_context
from jinja2.filters import (
    do_batch,
    do_indent,
    do_wordwrap,
    sync_do_join,
    sync_do_slice,
    sync_do_sum,
)
from jinja2.utils import _PassArg

from ..errors import TemplateRenderError, TemplateSecurityError
from .limits import DEFAULT_LIMITS as _DEFAULT_LIMITS
from .limits import Limits

__all__ = [
    "CHECKED_FILTERS",
    "LOOP_GUARD",
    "RenderState",
    "check_binop",
    "check_expanded_size",
    "check_format_spec",
    "check_str_method",
    "current_rng",
    "current_state",
    "limit_error",
    "rendering",
    "size_checked_filters",
]

LOOP_GUARD = "_pp_loop_guard"
_DIGITS = re.compile(r"\d+")


# -- per-render state -------------------------------------------------------------------
@dataclass
class RenderState:
    """Budgets of one render; lives in a context variable while the render runs."""

    limits: Limits
    rng_factory: Callable[[], random.Random]
    deadline: float = 0.0
    loop_iterations: int = 0
    output_chars: int = 0
    call_depth: int = 0
    template_loads: int = 0
    notes: list[str] = field(default_factory=list)

    _rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        """Built on first use: most renders draw no random numbers at all."""
        if self._rng is None:
            self._rng = self.rng_factory()
        return self._rng

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateSecurityError(
                f"rendering took longer than {self.limits.max_render_seconds:g} s",
                fix="Reduce loops and repeated work in the template.",
            )


_STATE: ContextVar[RenderState | None] = ContextVar("plotpalette_render_state", default=None)


@contextlib.contextmanager
def rendering(limits: Limits, rng_factory: Callable[[], random.Random]) -> Iterator[RenderState]:
    """Run a render under fresh budgets; random filters use ``rng_factory()``'s RNG."""
    state = RenderState(limits, rng_factory, deadline=time.monotonic() + limits.max_render_seconds)
    token = _STATE.set(state)
    try:
        yield state
    finally:
        _STATE.reset(token)


def current_state() -> RenderState | None:
    return _STATE.get()


def current_rng() -> random.Random:
    """The seeded RNG of the running render. Outside a render (which includes Jinja's
    compile-time constant folding) this raises, so random filters are never folded."""
    state = _STATE.get()
    if state is None:
        raise TemplateRenderError("random filters work only while a template renders")
    return state.rng


def limit_error(what: str, size: int, limit: int) -> TemplateSecurityError:
    return TemplateSecurityError(f"{what} would be {size:,}, over the limit of {limit:,}")


# -- checks -----------------------------------------------------------------------------
def _check_percent_format(fmt: str, limits: Limits) -> None:
    """Refuse ``%``-format widths/precisions over the limit, and ``*`` widths.

    A single left-to-right pass that reads each conversion the way CPython does
    (``%(key)`` with nested parentheses, flags, width, precision, length, type), so it
    is linear on any input and a crafted key such as ``%(a(b))`` cannot hide a width.
    """
    n = len(fmt)
    i = fmt.find("%")
    while i != -1:
        j = i + 1
        if j < n and fmt[j] == "(":
            depth, j = 1, j + 1
            while j < n and depth:
                depth += {"(": 1, ")": -1}.get(fmt[j], 0)
                j += 1
            if depth:
                return  # Python refuses an unclosed key itself
        while j < n and fmt[j] in "#0- +":
            j += 1
        for part in ("width", "precision"):
            if part == "precision":
                if j >= n or fmt[j] != ".":
                    break
                j += 1
            if j < n and fmt[j] == "*":
                raise TemplateSecurityError("'*' widths in %-formatting are not allowed")
            k = j
            while k < n and "0" <= fmt[k] <= "9":
                k += 1
            if k - j > 6 or (k > j and int(fmt[j:k]) > limits.max_width):
                raise limit_error(
                    f"a %-format {part}", int(fmt[j : min(k, j + 12)]), limits.max_width
                )
            j = k
        while j < n and fmt[j] in "hlL":
            j += 1
        i = fmt.find("%", j + 1)


_CONTAINERS = (list, tuple, dict, set, frozenset)


def check_expanded_size(value: Any, limits: Limits, what: str = "a serialised value") -> None:
    """Bound the text a container turns into (``tojson``, ``string``, ``%s``, a column).

    Containers can share items (``[a] * 20`` holds ``a`` twenty times, and nesting that
    multiplies), so a small object graph can expand to gigabytes when serialised. The
    walk counts every item with its multiplicity and stops at the limit, so it is cheap.
    """
    if not isinstance(value, _CONTAINERS):
        return
    limit = limits.max_string_chars
    total = steps = 0
    stack = [value]
    state = current_state()
    while stack:
        item = stack.pop()
        steps += 1
        if state is not None and not steps % 4096:
            state.tick()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            total += len(item) + 1
            stack.extend(item)
        elif isinstance(item, int):
            total += 1 + item.bit_length() // 3
        else:
            total += 8
        if total > limit:
            raise limit_error(what, total, limit)


def _check_args(args: Any, kwargs: dict[str, Any], limits: Limits, what: str) -> None:
    for arg in (*args, *kwargs.values()):
        check_expanded_size(arg, limits, what)


def check_format_spec(spec: str, limits: Limits) -> None:
    for digits in _DIGITS.findall(spec):
        if len(digits) > 6 or int(digits) > limits.max_width:
            raise limit_error("a format width", int(digits[:12]), limits.max_width)


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple, bytes)) else None


def check_binop(op: str, left: Any, right: Any, limits: Limits) -> None:
    int_types = (int,)
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            if _size(seq) is not None and isinstance(n, int_types):
                total = _size(seq) * max(n, 0)  # type: ignore[operator]
                if total > limits.max_string_chars:
                    raise limit_error("a repeated string or list", total, limits.max_string_chars)
        if isinstance(left, int_types) and isinstance(right, int_types):
            bits = abs(left).bit_length() + abs(right).bit_length()
            if bits > limits.max_int_bits:
                raise limit_error("an integer product (bits)", bits, limits.max_int_bits)
    elif op == "**":
        if isinstance(left, int_types) and isinstance(right, int_types) and abs(left) > 1:
            bits = max(right, 0) * abs(left).bit_length()
            if bits > limits.max_int_bits:
                raise limit_error("a power (bits)", bits, limits.max_int_bits)
        elif isinstance(right, (int, float)) and abs(right) > 10_000:
            raise limit_error("an exponent", int(abs(right)), 10_000)
    elif op == "+":
        a, b = _size(left), _size(right)
        if a is not None and b is not None and a + b > limits.max_string_chars:
            raise limit_error("a concatenation", a + b, limits.max_string_chars)
    elif op == "%" and isinstance(left, str):
        _check_percent_format(left, limits)
        check_expanded_size(right, limits, "a formatted value")


def check_str_method(
    name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any], limits: Limits
) -> tuple[Any, ...]:
    """Check an amplifying ``str`` method call; may return materialised ``args``."""
    _check_args(args, kwargs, limits, f"an argument of str.{name}")
    if name in ("center", "ljust", "rjust") and args and isinstance(args[0], int):
        if args[0] > limits.max_width:
            raise limit_error(f"str.{name} width", args[0], limits.max_width)
    elif name == "replace" and len(args) >= 2:
        _check_replace(text, str(args[0]), str(args[1]), limits)
    elif name == "join" and args:
        items = _materialise(args[0], limits)
        _check_join(items, text, limits)
        return (items, *args[1:])
    return args


def _materialise(value: Any, limits: Limits) -> list[Any]:
    items: list[Any] = []
    state = current_state()
    for item in value:
        items.append(item)
        if len(items) > limits.max_string_chars:
            raise limit_error("a joined sequence", len(items), limits.max_string_chars)
        if state is not None and not len(items) % 4096:
            state.tick()
    return items


def _check_join(items: list[Any], sep: str, limits: Limits) -> None:
    total = len(sep) * max(len(items) - 1, 0)
    for item in items:
        check_expanded_size(item, limits, "a joined item")
        total += len(item) if isinstance(item, str) else 16
        if total > limits.max_string_chars:
            raise limit_error("a joined string", total, limits.max_string_chars)


def _check_replace(text: str, old: str, new: str, limits: Limits) -> None:
    hits = text.count(old) if old else len(text) + 1
    total = len(text) + hits * (len(new) - len(old))
    if total > limits.max_string_chars:
        raise limit_error("a replaced string", total, limits.max_string_chars)


# -- checked filters (replace Jinja's amplifying ones) ----------------------------------
@pass_environment
def _center(env: Any, value: Any, width: int = 80) -> str:
    if width > env.limits.max_width:
        raise limit_error("center width", width, env.limits.max_width)
    return str(value).center(width)


@pass_environment
def _format(env: Any, value: Any, *args: Any, **kwargs: Any) -> str:
    _check_percent_format(str(value), env.limits)
    return _cap(str(value) % (kwargs or args), "a formatted string", env.limits)


@pass_environment
def _indent(
    env: Any, s: Any, width: int | str = 4, first: bool = False, blank: bool = False
) -> str:
    text = str(s)
    per_line = len(width) if isinstance(width, str) else int(width)
    if per_line > env.limits.max_width:
        raise limit_error("indent width", per_line, env.limits.max_width)
    total = len(text) + (text.count("\n") + 1) * per_line
    if total > env.limits.max_string_chars:
        raise limit_error("an indented string", total, env.limits.max_string_chars)
    return do_indent(text, width, first, blank)


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    limits = eval_ctx.environment.limits
    items = _materialise(value, limits)
    for item in items:
        check_expanded_size(item, limits, "a joined item")
    if attribute is None:
        _check_join([str(i) for i in items], str(d), limits)
    elif len(str(d)) * len(items) > limits.max_string_chars:
        raise limit_error("a joined string", len(str(d)) * len(items), limits.max_string_chars)
    return _cap(sync_do_join(eval_ctx, items, d, attribute), "a joined string", limits)


@pass_environment
def _replace(env: Any, s: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(s)
    _check_replace(text, str(old), str(new), env.limits)
    return text.replace(str(old), str(new), -1 if count is None else count)


@pass_environment
def _batch(env: Any, value: Any, linecount: int, fill_with: Any = None) -> Any:
    if linecount > env.limits.max_width:
        raise limit_error("batch size", linecount, env.limits.max_width)
    return do_batch(value, linecount, fill_with)


@pass_environment
def _slice(env: Any, value: Any, slices: int, fill_with: Any = None) -> Any:
    if slices > env.limits.max_width:
        raise limit_error("slice count", slices, env.limits.max_width)
    return list(sync_do_slice(value, slices, fill_with))


@pass_environment
def _wordwrap(
    env: Any,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    bound = len(s) * (1 + len(wrapstring or "\n"))
    if bound > env.limits.max_output_chars:
        raise limit_error("a wrapped string", bound, env.limits.max_output_chars)
    wrapped = do_wordwrap(env, s, width, break_long_words, wrapstring, break_on_hyphens)
    return _cap(wrapped, "a wrapped string", env.limits)


@pass_environment
def _sum(env: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    items = _materialise(iterable, env.limits)
    if attribute is None:
        sizes = [_size(i) for i in [*items, start]]
        total = sum(s or 0 for s in sizes)
        if total > env.limits.max_string_chars:
            raise limit_error("a summed sequence", total, env.limits.max_string_chars)
        return sum(items, start)
    return sync_do_sum(env, items, attribute, start)


# Filters that pick from or reshape a container without turning it into text: a big
# (shared) container is harmless to them. Every other filter is size-checked first.
_NON_SERIALISING = frozenset(
    "attr batch count d default dictsort first groupby items last length list map max min "  # noqa: SIM905
    "random reject rejectattr reverse sample select selectattr shuffle slice sort sum "
    "unique".split()
)


def size_checked_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Wrap every filter that may serialise a container argument with
    :func:`check_expanded_size` (the env's limits; compile-time folding included)."""
    wrapped: dict[str, Any] = {}
    for name, func in filters.items():
        if name in _NON_SERIALISING or name == LOOP_GUARD:
            wrapped[name] = func
        else:
            wrapped[name] = _size_checked(name, func)
    return wrapped


def _size_checked(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = _PassArg.from_obj(func)

    @wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        head = args[0] if pass_arg is not None and args else None
        if pass_arg is _PassArg.environment:
            limits = head.limits
        elif pass_arg is not None and head is not None:
            limits = head.environment.limits
        else:
            state = current_state()
            limits = state.limits if state is not None else _DEFAULT_LIMITS
        values = args[1:] if pass_arg is not None else args
        _check_args(values, kwargs, limits, f"the input of |{name}")
        result = func(*args, **kwargs)
        state = current_state()
        if state is not None:
            state.tick()  # a slow filter is reported when it returns, not at the next loop
        return result

    return checked


def _cap(text: str, what: str, limits: Limits) -> str:
    if len(text) > limits.max_string_chars:
        raise limit_error(what, len(text), limits.max_string_chars)
    return text


def _loop_guard(iterable: Any) -> Iterator[Any]:
    state = current_state()
    if state is None:  # never folded at compile time
        raise TemplateRenderError("loops run only while a template renders")
    return _guarded(iterable, state)


def _guarded(iterable: Any, state: RenderState) -> Iterator[Any]:
    limit = state.limits.max_loop_iterations
    for item in iterable:
        state.loop_iterations += 1
        if state.loop_iterations > limit:
            raise limit_error("loop iterations in one render", state.loop_iterations, limit)
        state.tick()
        yield item


CHECKED_FILTERS: dict[str, Any] = {
    LOOP_GUARD: _loop_guard,
    "center": _center,
    "format": _format,
    "indent": _indent,
    "join": _join,
    "replace": _replace,
    "batch": _batch,
    "slice": _slice,
    "wordwrap": _wordwrap,
    "sum": _sum,
}
