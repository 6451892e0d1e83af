"""The template format: pydantic models, parsing and serialisation.

A template is YAML with a name, ordered ``steps`` (each a Jinja prompt sent to one
model) and an ``output`` mapping to flat columns; a *fragment* is YAML with a name and a
``fragment`` text that templates ``{% include %}`` or ``{% import %}``. Unknown keys,
duplicate keys, duplicate step ids and references to later or unknown steps are format
errors that name the path, the line and, for typos, the key that was probably meant.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import TemplateFormatError, TemplateSecurityError
from .limits import DEFAULT_LIMITS, Limits
from .model_checks import (
    LimitProblem,
    Problem,
    expr_problems,
    external_refs,
    model_problems,
    text_problems,
)
from .yaml_io import dump_yaml, format_path, load_yaml

__all__ = ["TIERS", "InputSpec", "Step", "Template", "parse_template", "template_json_schema"]

TIERS = ("cheap", "balanced", "premium")
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
COLUMN_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"


class InputSpec(BaseModel):
    """A declared seed field (overrides what inference finds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["scalar", "list", "mapping", "any"] = Field(
        "scalar", description="scalar (text/number), list, mapping, or any"
    )
    required: bool = Field(True, description="rows without this field are invalid")
    description: str = Field("", description="shown in the seed validation report")


class Step(BaseModel):
    """One model call. Its prompt sees the seed row and the outputs of earlier steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=STEP_ID_PATTERN, description="unique; later steps use steps.<id>")
    model: str = Field(
        "balanced",
        min_length=1,
        description="model id, inference profile id, tier (cheap/balanced/premium) or alias",
    )
    description: str = ""
    system: str | None = Field(None, description="system prompt (Jinja)")
    prompt: str = Field(min_length=1, description="user prompt (Jinja)")
    max_tokens: StrictInt = Field(512, ge=1, le=64_000)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    stop: list[str] = Field(default_factory=list, max_length=8)
    when: str | None = Field(None, description="Jinja expression; the step runs when true")
    fallback: list[str] = Field(default_factory=list, description="models tried in order")
    format: Literal["text", "json"] = "text"
    json_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema the output must match (format: json)"
    )

    @field_validator("temperature", "top_p", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        # pydantic would read `true` as 1.0; a boolean is never a sampling parameter
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


class Template(BaseModel):
    """A versionable template (``steps``) or fragment (``fragment``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="lower-case letters, digits, _ . -")
    description: str = ""
    category: str = "general"
    version: int | None = Field(
        None, description="set by the template library; ignored when a file is imported"
    )
    forked_from: str | None = Field(None, description="name@version this was forked from")
    models: dict[str, str] = Field(default_factory=dict, description="alias -> model or tier")
    inputs: dict[str, InputSpec] = Field(default_factory=dict, description="declared inputs")
    steps: list[Step] = Field(default_factory=list)
    output: dict[str, str] = Field(
        default_factory=dict,
        description="column -> Jinja text or expression; default: one column per step",
    )
    fragment: str | None = Field(None, description="Jinja text of a shared fragment")

    @model_validator(mode="after")
    def _check(self) -> Template:
        problems = _semantic_problems(self)
        if any(isinstance(m, LimitProblem) for _, m, _ in problems):
            raise LimitProblems(problems)
        if problems:
            raise _Problems(problems)
        return self

    # -- derived -------------------------------------------------------------------
    @property
    def is_fragment(self) -> bool:
        return self.fragment is not None

    @property
    def ref(self) -> str:
        """``name@version`` (or just ``name`` before the library assigns a version)."""
        return f"{self.name}@{self.version}" if self.version else self.name

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise TemplateFormatError(
            f"template {self.name!r} has no step {step_id!r}",
            fix=f"Use one of: {', '.join(s.id for s in self.steps) or '(none)'}.",
        )

    def canonical(self) -> dict[str, Any]:
        """The content that defines the template (everything but ``version``)."""
        return self.model_dump(mode="json", exclude={"version"}, exclude_defaults=True)

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of the canonical content; equal content, equal hash."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_yaml(self) -> str:
        """The template as YAML (round-trips through :func:`parse_template`)."""
        return dump_yaml(self.canonical())


def _problem_text(problems: list[Problem]) -> str:
    text = "; ".join(f"{format_path(p)}{f', line {n}' if n else ''}: {m}" for p, m, n in problems)
    return f"invalid template: {text}"


class _Problems(TemplateFormatError):
    """Cross-field problems; parse_template turns text lines into file lines."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(_problem_text(problems))


class LimitProblems(TemplateSecurityError):
    """Like :class:`_Problems`, when one of them is a size or nesting limit."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(_problem_text(problems))


def _semantic_problems(tpl: Template) -> list[Problem]:
    problems: list[Problem] = []
    if tpl.fragment is not None:
        for key in ("steps", "output", "models"):
            if getattr(tpl, key):
                problems.append(
                    ((key,), "a fragment has only name, description and fragment", None)
                )
        if not problems:
            where = f"fragment {tpl.name!r}"
            problems.extend(text_problems(tpl.fragment, ("fragment",), where, set()))
        return problems
    if not tpl.steps:
        return [(("steps",), "a template needs at least one step (or a `fragment` text)", None)]
    problems.extend(model_problems(tpl, TIERS))
    seen: dict[str, int] = {}
    for i, step in enumerate(tpl.steps):
        if step.id in seen:
            msg = f"duplicate step id {step.id!r} (also steps[{seen[step.id]}])"
            problems.append((("steps", i, "id"), msg, None))
        earlier = set(seen)
        for field in ("system", "prompt"):
            text = getattr(step, field)
            if text is not None:
                where = f"step {step.id!r} {field}"
                problems.extend(text_problems(text, ("steps", i, field), where, earlier, tpl))
        if step.when is not None:
            problems.extend(
                expr_problems(
                    step.when, ("steps", i, "when"), f"step {step.id!r} when", earlier, tpl
                )
            )
        if step.json_schema is not None:
            problems.extend(
                (("steps", i, "json_schema", *where), msg, None)
                for where, msg in external_refs(step.json_schema)
            )
            if step.format != "json":
                problems.append((("steps", i, "json_schema"), "needs `format: json`", None))
            # Imported here, and without its slow optional format checker: most
            # templates (and every CLI start) never need it.
            from ..llm.schema import jsonschema_module

            jsonschema = jsonschema_module()
            try:
                jsonschema.Draft202012Validator.check_schema(step.json_schema)
            except jsonschema.exceptions.SchemaError as exc:
                msg = f"not a JSON Schema: {exc.message}"
                problems.append((("steps", i, "json_schema"), msg, None))
        seen.setdefault(step.id, i)
    for column, expr in tpl.output.items():
        if not re.match(COLUMN_PATTERN, column):
            problems.append((("output", column), "column names are letters, digits, _ . -", None))
        problems.extend(
            text_problems(expr, ("output", column), f"output {column!r}", set(seen), tpl)
        )
    return problems


# -- parsing ----------------------------------------------------------------------------
_TYPE_NAMES = {
    list: "a list",
    dict: "a mapping",
    int: "a number",
    float: "a number",
    bool: "true/false",
    type(None): "nothing (null)",
    str: "text",
}


def _fields_for(parent: tuple[Any, ...]) -> list[str]:
    if parent == ():
        model: type[BaseModel] = Template
    elif len(parent) == 2 and parent[0] == "steps":
        model = Step
    elif len(parent) == 2 and parent[0] == "inputs":
        model = InputSpec
    else:
        return []
    return list(model.model_fields)


def _describe(error: Any) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _fields_for(tuple(loc[:-1])), n=1, cutoff=0.6)
        return "unknown key" + (f", did you mean {close[0]}?" if close else "")
    if kind == "missing":
        return "required key is missing"
    if kind in (
        "string_type",
        "int_type",
        "float_type",
        "bool_type",
        "dict_type",
        "list_type",
        "int_parsing",
        "float_parsing",
        "bool_parsing",
    ):
        wanted = {
            "string": "text",
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "dict": "a mapping",
            "list": "a list",
        }
        want = wanted.get(kind.split("_")[0], kind)
        got = _TYPE_NAMES.get(type(error.get("input")), type(error.get("input")).__name__)
        extra = ""
        if want == "text" and got == "a list":
            extra = " (a list where text is needed; use a `|` block for multi-line text)"
        raw = error.get("input")
        if want in ("a whole number", "a number") and isinstance(raw, str):
            extra = f" ({raw!r}"
            try:
                number = float(raw)
            except ValueError:
                extra += ")"
            else:  # YAML 1.1 reads 1e3 as text: it needs a dot (1.0e+3)
                shown = int(number) if number.is_integer() else number
                extra += f" is text in YAML; write {shown})"
        return f"expected {want}, got {got}{extra}"
    if kind == "finite_number":
        return f"expected a finite number, got {error.get('input')!r}"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_template(
    yaml_text: str | bytes, *, source: str = "<string>", limits: Limits = DEFAULT_LIMITS
) -> Template:
    """Parse and validate a template (or fragment) from YAML text.

    Raises :class:`~plotpalette.errors.TemplateFormatError` listing every problem with
    its path and line, e.g. ``steps[1].promt (line 9): unknown key, did you mean prompt?``.
    """
    data, lines = load_yaml(yaml_text, source=source, limits=limits)
    if not isinstance(data, dict):
        raise TemplateFormatError(
            f"{source}: a template is a YAML mapping (name:, steps:, ...), got "
            f"{_TYPE_NAMES.get(type(data), type(data).__name__)}"
        )

    def at(path: tuple[Any, ...], text_line: int | None = None) -> str:
        line = lines.text_line(path, text_line) if text_line else None
        line = line or lines.key_line(path)
        return f"{format_path(path)} (line {line})" if line else format_path(path)

    data.pop("version", None)  # versions belong to the library, never to a file
    error: type[TemplateFormatError] | type[TemplateSecurityError] = TemplateFormatError
    try:
        return Template.model_validate(data)
    except (_Problems, LimitProblems) as exc:
        items = [f"{at(p, n)}: {m}" for p, m, n in exc.problems]
        if isinstance(exc, LimitProblems):
            error = TemplateSecurityError
    except ValidationError as exc:
        items = [f"{at(tuple(e['loc']))}: {_describe(e)}" for e in exc.errors()]
    name = data.get("name") if isinstance(data.get("name"), str) else None
    head = f"{source}" + (f" (template {name!r})" if name else "")
    plural = "1 problem" if len(items) == 1 else f"{len(items)} problems"
    raise error(
        f"{head}: {plural}:\n  " + "\n  ".join(items),
        fix="Correct the listed keys; the template format reference lists every key.",
    )


def template_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the template format, generated from the models."""
    schema = Template.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:plotpalette:template-format",  # an identifier, not a link
        "title": "Plot Palette template",
        **{k: v for k, v in schema.items() if k != "title"},
    }
