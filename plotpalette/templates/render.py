"""Render a template's steps for one record, in the sandbox, under limits.

:class:`Renderer` compiles every text of a template once (prompts, system prompts,
``when`` conditions, output columns) and checks that every include resolves. For each
record the caller makes a fresh :meth:`Renderer.context`, then per step calls
:meth:`~Renderer.should_run`, :meth:`~Renderer.render_step`, and after the model answers
:meth:`~Renderer.record_step_output`; finally :meth:`~Renderer.map_output` gives the
flat columns. Every error names the step, the part (prompt/system/when/output) and the
line of the template text.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError

from ..errors import (
    PlotPaletteError,
    TemplateError,
    TemplateFormatError,
    TemplateRenderError,
    TemplateSecurityError,
)
from .fragments import FragmentLoader, resolve_fragment
from .guards import check_expanded_size, limit_error, rendering
from .inputs import InputSchema, infer_inputs, infer_texts
from .limits import DEFAULT_LIMITS, Limits
from .model import Template
from .render_context import RenderContext
from .render_support import (
    MISS,
    StepOutput,
    column_value,
    fast_expression,
    fast_text,
    fast_value,
    parse_json_output,
    translate_error,
)
from .sandbox import PromptSandbox
from .syntax import constant_includes, parse_text, strip_expression

if TYPE_CHECKING:
    from ..llm.base import ModelRequest
    from .library import TemplateLibrary

__all__ = ["RenderContext", "RenderedStep", "Renderer", "StepOutput", "render_string"]

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%|\{#).)*)\}\}\s*$", re.S)


@dataclass(frozen=True)
class RenderedStep:
    """A step ready to send: rendered texts and the step's inference parameters."""

    step_id: str
    model: str  # template alias resolved; may still be a tier
    prompt: str
    system: str | None = None
    max_tokens: int = 512
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    fallback: tuple[str, ...] = ()

    def request(self, model_id: str | None = None, *, seed: int | None = None) -> ModelRequest:
        """A :class:`~plotpalette.llm.base.ModelRequest` for ``model_id`` (resolved id)."""
        from ..llm.base import ModelRequest

        return ModelRequest.from_prompt(
            model_id or self.model,
            self.prompt,
            system=self.system,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=self.stop,
            json_schema=self.json_schema,
            seed=seed,
        )


class Renderer:
    """Compiled, sandboxed renderer for one template (see the module docstring)."""

    def __init__(
        self,
        tpl: Template,
        library: TemplateLibrary | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if tpl.is_fragment:
            raise TemplateFormatError(
                f"{tpl.name!r} is a fragment; it has no steps to render",
                fix='Include it from a template with {% include "' + tpl.name + '" %}.',
            )
        self.template = tpl
        self.library = library
        self.limits = limits
        self._loader = FragmentLoader(library)
        self.env = PromptSandbox(loader=self._loader, limits=limits)
        self._texts: dict[tuple[str, str], Any] = {}
        self._fast: dict[tuple[str, str], Any] = {}  # the same texts, without Jinja
        self._when: dict[str, Any] = {}
        self._columns: dict[str, tuple[bool, Any]] = {}
        self._fast_columns: dict[str, Any] = {}
        self._needs: dict[str, InputSchema] = {}
        for step in tpl.steps:
            for part in ("system", "prompt"):
                text = getattr(step, part)
                if text is not None:
                    self._texts[(step.id, part)] = self._compile(text, f"step {step.id!r} {part}")
                    self._fast[(step.id, part)] = fast_text(self.env, text, limits.max_output_chars)
            if step.when:
                self._when[step.id] = self._compile_expr(step.when, f"step {step.id!r} when")
            texts = [
                (t, f"step {step.id!r} {p}", False)
                for p in ("system", "prompt")
                if (t := getattr(step, p))
            ]
            self._needs[step.id] = infer_texts(texts, library)
        for column, text in self.columns().items():
            match = _SINGLE_EXPRESSION.match(text)
            where = f"output {column!r}"
            self._columns[column] = (
                (True, self._compile_expr(match.group("expr"), where))
                if match
                else (False, self._compile(text, where))
            )
            self._fast_columns[column] = (
                fast_expression(self.env, strip_expression(match.group("expr")))
                if match
                else fast_text(self.env, text, limits.max_output_chars)
            )

    # -- compilation ---------------------------------------------------------------------
    def _check_includes(self, text: str, where: str, depth: int = 0) -> None:
        for name, line, kind in constant_includes(
            parse_text(text, where=where, limits=self.limits)
        ):
            if name in self._loader.resolved:
                continue
            try:
                fragment = resolve_fragment(name, self.library)
            except TemplateError as exc:
                raise TemplateFormatError(
                    f"{where}, line {line}: {kind} {name!r}: {exc.message}", fix=exc.fix
                ) from None
            self._loader.resolved[name] = fragment.ref
            if depth < 8:
                self._check_includes(fragment.fragment or "", f"fragment {fragment.ref}", depth + 1)

    def _compile(self, text: str, where: str) -> Any:
        self._check_includes(text, where)
        with _compile_errors(where, lines=True):
            code = self.env.compile(text, name=where, filename=where)
            # A plain dict: Jinja copies these per render, and a ChainMap copies slowly.
            return self.env.template_class.from_code(self.env, code, dict(self.env.globals))

    def _compile_expr(self, text: str, where: str) -> Any:
        source = strip_expression(text)
        self._check_includes("{{ " + source + " }}", where)
        with _compile_errors(where, lines=False):
            expression = self.env.compile_expression(source, undefined_to_none=False)
            template = getattr(expression, "_template", None)
            if template is not None:  # same per-render speed-up as in _compile
                template.globals = dict(self.env.globals)
            return expression

    # -- public API ----------------------------------------------------------------------
    @property
    def dependencies(self) -> dict[str, str]:
        """Includes/imports as written -> the ``name@version`` they resolved to."""
        return dict(self._loader.resolved)

    def columns(self) -> dict[str, str]:
        """The output mapping (default: one column per step, holding its output)."""
        if self.template.output:
            return dict(self.template.output)
        return {s.id: "{{ steps." + s.id + ".output }}" for s in self.template.steps}

    def context(
        self, seed_row: dict[str, Any], *, record_index: int, rng_seed: int
    ) -> RenderContext:
        """A fresh per-record context."""
        if not isinstance(seed_row, dict):
            raise TemplateRenderError(
                f"record {record_index}: a seed row must be a mapping of fields, got "
                f"{type(seed_row).__name__}",
                fix="Load seeds with plotpalette.seeds.load_seeds.",
            )
        return RenderContext(dict(seed_row), record_index, rng_seed)

    def model_for(self, step_id: str) -> str:
        """The step's model with template aliases resolved (may still be a tier)."""
        model = self.template.step(step_id).model
        return self.template.models.get(model, model)

    def fallback_for(self, step_id: str) -> list[str]:
        return [self.template.models.get(m, m) for m in self.template.step(step_id).fallback]

    def inputs(self) -> InputSchema:
        """The inferred (and declared) input schema of the whole template."""
        return infer_inputs(self.template, self.library)

    def should_run(self, step_id: str, ctx: RenderContext) -> bool:
        """Evaluate the step's ``when`` condition (True when it has none)."""
        self.template.step(step_id)
        expr = self._when.get(step_id)
        if expr is None:
            return True
        where = f"step {step_id!r} when"
        with rendering(self.limits, ctx.rng(step_id, "when")):
            try:
                return bool(expr(**ctx._shared_variables()))
            except Exception as exc:
                raise translate_error(exc, where) from None

    def render_step(self, step_id: str, ctx: RenderContext) -> RenderedStep:
        """Render the step's system prompt and prompt for this record."""
        step = self.template.step(step_id)
        self._check_row(step_id, ctx)
        texts: dict[str, str | None] = {"system": None}
        for part in ("system", "prompt"):
            compiled = self._texts.get((step_id, part))
            if compiled is not None:
                fast = self._fast[(step_id, part)]
                text = None if fast is None else fast.render(ctx._shared_variables())
                if text is None or len(text) > self.limits.max_rendered_chars:
                    text = self._run(
                        compiled, ctx, f"step {step_id!r} {part}", ctx.rng(step_id, part)
                    )
                texts[part] = text.strip()
        if not texts["prompt"]:
            raise TemplateRenderError(
                f"step {step_id!r} prompt rendered empty for record {ctx.record_index}",
                fix="Check the conditions in the prompt; a model needs some text.",
            )
        return RenderedStep(
            step_id,
            self.model_for(step_id),
            str(texts["prompt"]),
            texts["system"] or None,
            step.max_tokens,
            step.temperature,
            step.top_p,
            tuple(step.stop),
            step.json_schema,
            tuple(self.fallback_for(step_id)),
        )

    def record_step_output(
        self,
        ctx: RenderContext,
        step_id: str,
        text: str,
        parsed_json: Any = None,
        *,
        model: str = "",
    ) -> None:
        """Make ``steps.<id>`` visible to later steps (JSON is parsed if not given).

        ``model`` is the model that answered (``steps.<id>.model``); it defaults to the
        step's model as written (alias resolved, possibly a tier)."""
        step = self.template.step(step_id)
        if step.format == "json" and parsed_json is None:
            parsed_json = parse_json_output(text)
        ctx.steps[step_id] = StepOutput(text, parsed_json, model=model or self.model_for(step_id))

    def record_step_skipped(self, ctx: RenderContext, step_id: str) -> None:
        """Mark a step whose ``when`` was false: ``.skipped`` is true, ``.output`` ''."""
        self.template.step(step_id)
        ctx.steps[step_id] = StepOutput("", None, skipped=True, model=self.model_for(step_id))

    def map_output(self, ctx: RenderContext) -> dict[str, Any]:
        """The output mapping: flat columns. A column that is a single ``{{ expr }}``
        keeps the value's type (text, number, list, mapping); others render to text."""
        out: dict[str, Any] = {}
        variables = ctx._shared_variables()
        for column, (is_expr, compiled) in self._columns.items():
            where = f"output {column!r}"
            fast = self._fast_columns[column]
            if not is_expr:
                text = None if fast is None else fast.render(variables)
                if text is None or len(text) > self.limits.max_rendered_chars:
                    text = self._run(compiled, ctx, where, ctx.rng("output", column))
                out[column] = text.strip()
                continue
            value = MISS if fast is None else fast_value(variables, fast)
            if value is MISS:
                with rendering(self.limits, ctx.rng("output", column)):
                    try:
                        value = compiled(**variables)
                    except Exception as exc:
                        raise translate_error(exc, where) from None
            check_expanded_size(value, self.limits, f"{where}: the value")
            out[column] = column_value(value, where)
        return out

    # -- internals -----------------------------------------------------------------------
    def _check_row(self, step_id: str, ctx: RenderContext) -> None:
        schema = self._needs[step_id]
        found = [(p, why) for p, why in schema.problems(ctx.seed) if "[" not in p]
        if not found:
            return  # problems inside loop items are reported by the render itself
        described = []
        for path, reason in found:
            line = schema.lines.get(path)
            described.append(f"{path!r} {reason}" + (f" (used on line {line})" if line else ""))
        raise TemplateRenderError(
            f"step {step_id!r}: seed row {ctx.record_index}: " + "; ".join(described),
            fix="Give every row these fields (see `plotpalette.seeds.validate_rows`), or "
            "guard them in the template with {% if ... %} or |default(...).",
        )

    def _run(
        self, compiled: Any, ctx: RenderContext, where: str, rng: Callable[[], random.Random]
    ) -> str:
        limit = self.limits.max_rendered_chars
        with rendering(self.limits, rng):
            try:
                parts, total = [], 0
                for chunk in compiled.generate(ctx._shared_variables()):
                    total += len(chunk)
                    if total > limit:
                        raise limit_error("the rendered text", total, limit)
                    parts.append(chunk)
                return "".join(parts)
            except Exception as exc:
                raise translate_error(exc, where) from None


def render_string(
    text: str,
    variables: dict[str, Any] | None = None,
    *,
    rng_seed: int = 0,
    library: TemplateLibrary | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """Render one Jinja text in the sandbox (for quick experiments and docs).

    >>> render_string("{{ words | join_natural }}", {"words": ["salt", "stone", "tide"]})
    'salt, stone and tide'
    """
    tpl = Template(name="scratch", steps=[{"id": "text", "prompt": text}])
    renderer = Renderer(tpl, library, limits=limits)
    ctx = renderer.context(dict(variables or {}), record_index=0, rng_seed=rng_seed)
    return renderer.render_step("text", ctx).prompt


@contextlib.contextmanager
def _compile_errors(where: str, *, lines: bool) -> Iterator[None]:
    """Turn whatever compiling a prompt or condition raises into a template error."""
    try:
        yield
    except TemplateSyntaxError as exc:
        at = f", line {exc.lineno}" if lines else ""
        raise TemplateFormatError(f"{where}{at}: {exc.message}") from None
    except (RecursionError, MemoryError):
        raise TemplateSecurityError(f"{where}: too deeply nested to compile") from None
    except PlotPaletteError:
        raise
    except Exception as exc:
        raise TemplateFormatError(f"{where}: cannot compile: {exc}") from None
