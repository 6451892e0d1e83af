"""Budgets and operand checks for rendering (the checked filters that use them are in
:mod:`plotpalette.templates.checked_filters`).

Every check raises :class:`~plotpalette.errors.TemplateSecurityError` naming the limit.
The per-render :class:`RenderState` (deadline, loop/output/call/include budgets and the
seeded RNG) lives in a context variable, so concurrent renders in threads or tasks never
share budgets.
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..errors import TemplateRenderError, TemplateSecurityError
from .limits import Limits

__all__ = [
    "LOOP_GUARD",
    "RenderState",
    "check_args",
    "check_binop",
    "check_expanded_size",
    "check_format_spec",
    "check_join",
    "check_percent_format",
    "check_replace",
    "check_str_method",
    "current_rng",
    "current_state",
    "limit_error",
    "materialise",
    "rendering",
    "sized",
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
def check_percent_format(fmt: str, limits: Limits) -> None:
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


def check_args(args: Any, kwargs: dict[str, Any], limits: Limits, what: str) -> None:
    for arg in (*args, *kwargs.values()):
        check_expanded_size(arg, limits, what)


def check_format_spec(spec: str, limits: Limits) -> None:
    for digits in _DIGITS.findall(spec):
        if len(digits) > 6 or int(digits) > limits.max_width:
            raise limit_error("a format width", int(digits[:12]), limits.max_width)


def sized(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple, bytes)) else None


def check_binop(op: str, left: Any, right: Any, limits: Limits) -> None:
    int_types = (int,)
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            if sized(seq) is not None and isinstance(n, int_types):
                total = sized(seq) * max(n, 0)  # type: ignore[operator]
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
        a, b = sized(left), sized(right)
        if a is not None and b is not None and a + b > limits.max_string_chars:
            raise limit_error("a concatenation", a + b, limits.max_string_chars)
    elif op == "%" and isinstance(left, str):
        check_percent_format(left, limits)
        check_expanded_size(right, limits, "a formatted value")


def check_str_method(
    name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any], limits: Limits
) -> tuple[Any, ...]:
    """Check an amplifying ``str`` method call; may return materialised ``args``."""
    check_args(args, kwargs, limits, f"an argument of str.{name}")
    if name in ("center", "ljust", "rjust") and args and isinstance(args[0], int):
        if args[0] > limits.max_width:
            raise limit_error(f"str.{name} width", args[0], limits.max_width)
    elif name == "replace" and len(args) >= 2:
        check_replace(text, str(args[0]), str(args[1]), limits)
    elif name == "join" and args:
        items = materialise(args[0], limits)
        check_join(items, text, limits)
        return (items, *args[1:])
    return args


def materialise(value: Any, limits: Limits) -> list[Any]:
    items: list[Any] = []
    state = current_state()
    for item in value:
        items.append(item)
        if len(items) > limits.max_string_chars:
            raise limit_error("a joined sequence", len(items), limits.max_string_chars)
        if state is not None and not len(items) % 4096:
            state.tick()
    return items


def check_join(items: list[Any], sep: str, limits: Limits) -> None:
    total = len(sep) * max(len(items) - 1, 0)
    for item in items:
        check_expanded_size(item, limits, "a joined item")
        total += len(item) if isinstance(item, str) else 16
        if total > limits.max_string_chars:
            raise limit_error("a joined string", total, limits.max_string_chars)


def check_replace(text: str, old: str, new: str, limits: Limits) -> None:
    hits = text.count(old) if old else len(text) + 1
    total = len(text) + hits * (len(new) - len(old))
    if total > limits.max_string_chars:
        raise limit_error("a replaced string", total, limits.max_string_chars)
