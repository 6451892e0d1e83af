"""Checked versions of Jinja's amplifying filters, the size check wrapped around every
filter that may serialise a container, and the loop guard.

Checked filters take the environment (``pass_environment``) so they apply its limits
even when Jinja evaluates them while compiling (constant folding). The checks
themselves live in :mod:`plotpalette.templates.guards`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

from ..errors import TemplateRenderError
from .guards import (
    LOOP_GUARD,
    RenderState,
    check_args,
    check_expanded_size,
    check_join,
    check_percent_format,
    check_replace,
    current_state,
    limit_error,
    materialise,
    sized,
)
from .limits import DEFAULT_LIMITS as _DEFAULT_LIMITS
from .limits import Limits

__all__ = ["CHECKED_FILTERS", "size_checked_filters"]


# -- checked filters (replace Jinja's amplifying ones) ----------------------------------
@pass_environment
def _center(env: Any, value: Any, width: int = 80) -> str:
    if width > env.limits.max_width:
        raise limit_error("center width", width, env.limits.max_width)
    return str(value).center(width)


@pass_environment
def _format(env: Any, value: Any, *args: Any, **kwargs: Any) -> str:
    check_percent_format(str(value), env.limits)
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
    items = materialise(value, limits)
    for item in items:
        check_expanded_size(item, limits, "a joined item")
    if attribute is None:
        check_join([str(i) for i in items], str(d), limits)
    elif len(str(d)) * len(items) > limits.max_string_chars:
        raise limit_error("a joined string", len(str(d)) * len(items), limits.max_string_chars)
    return _cap(sync_do_join(eval_ctx, items, d, attribute), "a joined string", limits)


@pass_environment
def _replace(env: Any, s: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(s)
    check_replace(text, str(old), str(new), env.limits)
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
    items = materialise(iterable, env.limits)
    if attribute is None:
        sizes = [sized(i) for i in [*items, start]]
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
        check_args(values, kwargs, limits, f"the input of |{name}")
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
