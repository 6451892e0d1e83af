"""Preview (dry run): render every step for sample rows, count tokens, estimate cost.

By default nothing is called: each step's output is a clearly marked placeholder
(``⟨output of step 'ask'⟩``; for JSON steps an object shaped by the step's schema), so
later prompts show where earlier answers go. Token counts come from the project's
documented approximation (:func:`plotpalette.llm.tokens.approx_tokens`); a preview with
a model shows the usage the model reported. The cost shown is a *worst case*: every
input token plus ``max_tokens`` output tokens per call, and each reference to an
earlier step counted at that step's ``max_tokens``. With ``call_model=True`` (or a
``backend``) the steps are really called — as a small job charged to ``budget_usd``, so
every call goes through the budget governor and the cost ledger
(:mod:`plotpalette.templates.preview_paid`) — and the real cost is shown too.

Without a model call, tiers and ids resolve for the *configured* backend
(:func:`plotpalette.llm.tiers.resolve_model_id`, by name only — nothing is loaded): under
``local`` every step shows ``local/smollm2-135m-instruct`` at $0, under ``bedrock`` the
tier's Bedrock id at its price.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import PricingError
from ..llm.capabilities import json_output_mode
from .model import Template, parse_template
from .render import Renderer
from .syntax import parse_text, step_references

__all__ = ["PreviewResult", "PreviewRow", "PreviewStep", "placeholder", "preview"]


def placeholder(step_id: str, field_name: str | None = None) -> str:
    """The marker standing in for a step output that was not generated."""
    return f"⟨output of step {step_id!r}{'.' + field_name if field_name else ''}⟩"


@dataclass
class PreviewStep:
    step_id: str
    model: str  # as the template names it (alias resolved)
    model_id: str  # concrete id the call would use
    ran: bool  # False when `when` was false
    condition: str  # "none", "true", "false", or "unknown (depends on step outputs)"
    system: str | None
    prompt: str
    input_tokens: int
    max_output_tokens: int
    worst_case_input_tokens: int
    output: str
    generated: bool  # True when a real model produced ``output``
    worst_case_usd: float | None
    actual_usd: float | None = None
    note: str = ""
    output_tokens: int | None = None  # what the model really returned (a paid preview)
    structured_output: str | None = None  # JSON steps: native, tool or prompt


@dataclass
class PreviewRow:
    index: int
    seed: dict[str, Any]
    steps: list[PreviewStep]
    outputs: dict[str, Any]
    error: str | None = None

    @property
    def worst_case_usd(self) -> float | None:
        costs = [s.worst_case_usd for s in self.steps if s.ran]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    @property
    def actual_usd(self) -> float | None:
        costs = [s.actual_usd for s in self.steps if s.generated]
        return sum(c or 0.0 for c in costs) if costs and None not in costs else None


@dataclass
class PreviewResult:
    """Rendered prompts per row and step, tokens, and cost per record and for ``records``."""

    template: str
    rows: list[PreviewRow]
    records: int
    token_counting: str  # "backend <name>" or "approximation"
    price_table: str | None
    notes: list[str] = field(default_factory=list)
    backend: str = ""  # the backend whose model ids and prices are shown
    job_id: str | None = None  # the job a preview with a model was charged to
    spent_usd: float | None = None  # what that job spent (from its ledger)

    @property
    def cost_per_record(self) -> float | None:
        """Mean worst-case USD per record over the previewed rows (None if unpriced)."""
        costs = [r.worst_case_usd for r in self.rows if r.error is None]
        if not costs or any(c is None for c in costs):
            return None
        return sum(c or 0.0 for c in costs) / len(costs)

    @property
    def cost_for_records(self) -> float | None:
        per = self.cost_per_record
        return None if per is None else per * self.records

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "backend": self.backend,
            "records": self.records,
            "token_counting": self.token_counting,
            "price_table": self.price_table,
            "cost_per_record_usd": self.cost_per_record,
            "cost_for_records_usd": self.cost_for_records,
            "notes": self.notes,
            "job_id": self.job_id,
            "spent_usd": self.spent_usd,
            "rows": [{**asdict(r), "worst_case_usd": r.worst_case_usd} for r in self.rows],
        }

    def to_text(self) -> str:
        lines = [
            f"Preview of {self.template} ({len(self.rows)} row(s); backend: "
            f"{self.backend or 'unknown'}; tokens: {self.token_counting}; prices: "
            f"{self.price_table or 'none'})"
        ]
        for row in self.rows:
            lines.append(f"\n=== row {row.index}")
            if row.error:
                lines.append(f"  error: {row.error}")
            for s in row.steps:
                state = "" if s.ran else "  [skipped: when is false]"
                cost = "unpriced" if s.worst_case_usd is None else f"≤ ${s.worst_case_usd:.6f}"
                json_mode = f", JSON: {s.structured_output}" if s.structured_output else ""
                lines.append(
                    f"--- step {s.step_id} -> {s.model_id} ({s.input_tokens} input "
                    f"tokens, max {s.max_output_tokens} out, {cost}{json_mode}){state}"
                )
                if s.system:
                    lines.append(f"[system] {s.system}")
                lines.append(s.prompt)
            lines.append(f"outputs: {json.dumps(row.outputs, ensure_ascii=False)[:500]}")
        per, total = self.cost_per_record, self.cost_for_records
        if per is None:
            lines.append("\ncost: not estimated (a model has no price; see notes)")
        else:
            lines.append(
                f"\nworst-case cost: ${per:.6f} per record, ${total:.4f} for {self.records} records"
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    __str__ = to_text

    def _repr_markdown_(self) -> str:
        return "```text\n" + self.to_text() + "\n```"


def _placeholder_value(step_id: str, schema: dict[str, Any] | None) -> Any:
    props = (schema or {}).get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return None
    out: dict[str, Any] = {}
    for name, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        if spec.get("enum"):
            out[name] = spec["enum"][0]
        elif kind in ("integer", "number"):
            out[name] = 0
        elif kind == "boolean":
            out[name] = False
        elif kind == "array":
            out[name] = [placeholder(step_id, name)]
        else:
            out[name] = placeholder(step_id, name)
    return out


def preview(
    template: Template | str,
    rows: Any,
    *,
    backend: Any = None,
    prices: Any = None,
    records: int = 100,
    settings: Any = None,
    library: Any = None,
    rng_seed: int = 0,
    backend_name: str | None = None,
    call_model: bool = False,
    budget_usd: float | None = None,
    workspace: Any = None,
) -> PreviewResult:
    """Render every step of ``template`` for ``rows`` and estimate tokens and cost.

    ``template`` is a :class:`Template`, YAML text, or a library reference
    (``"question_answer"``, ``"question_answer@2"``) looked up in ``library`` (default:
    the configured workspace's library); ``rows`` a list of dicts or any
    object with ``.rows`` (a SeedSet). ``settings`` defaults to :meth:`Settings.load`;
    ``prices`` to the bundled :class:`~plotpalette.llm.PriceTable` with
    ``settings.price_overrides``. Models resolve for the backend named ``backend_name``
    (default ``settings.backend``) with ``settings.tiers``. ``records`` is the job size
    the total cost is estimated for.

    ``call_model=True`` (or passing a ``backend``) really calls the models: the rows run
    as a small job in ``workspace`` (default: the library's, else the configured one)
    with ``budget_usd`` as its budget, which is required. Every call is reserved and
    settled by the budget governor and recorded in the job's ledger; the result carries
    ``job_id`` and ``spent_usd``. ``backend`` defaults to the configured one — pass one
    to reuse its client across previews.
    """
    from ..llm.tiers import KNOWN_BACKENDS, resolve_model_id

    if isinstance(template, Template):
        tpl = template
    elif _looks_like_ref(template):
        if library is None:
            from ..workspace import Workspace
            from .library import TemplateLibrary

            library = TemplateLibrary(Workspace.open(settings=settings))
        tpl = library.get(template)
    else:
        tpl = parse_template(template)
    seed_rows = list(getattr(rows, "rows", rows))
    renderer = Renderer(tpl, library)
    if settings is None:
        from ..config import Settings

        settings = Settings.load()
    if prices is None:
        from ..llm import PriceTable

        prices = PriceTable.load(
            getattr(settings, "price_overrides", None), region=getattr(settings, "region", None)
        )
    if call_model or backend is not None:
        from .preview_paid import paid_preview

        if backend is None:
            from ..llm import make_backend

            backend = make_backend(settings)
        return paid_preview(  # type: ignore[no-any-return]
            tpl,
            seed_rows,
            budget_usd=budget_usd,
            backend=backend,
            workspace=workspace,
            library=library,
            settings=settings,
            prices=prices,
            records=records,
            rng_seed=rng_seed,
        )
    notes: list[str] = []
    name = backend_name or settings.backend
    tiers = getattr(settings, "tiers", None)

    def resolve(model: str) -> str:
        return resolve_model_id(model, name, tiers)

    if name not in KNOWN_BACKENDS:  # fail once here, not once per row
        from ..errors import ConfigError

        raise ConfigError(
            f"preview: unknown backend {name!r}",
            fix=f"Use one of: {', '.join(KNOWN_BACKENDS)}.",
        )
    result = PreviewResult(
        tpl.ref, [], records, "approximation", getattr(prices, "version", None), notes, name
    )
    result.rows = _preview_rows(renderer, seed_rows, resolve, prices, rng_seed, notes)
    notes.append(
        "outputs are placeholders; pass call_model=True with budget_usd= to call real models"
    )
    json_steps = {s.id for s in tpl.steps if s.format == "json"}
    for preview_row in result.rows:  # how each JSON step's schema is enforced
        for ps in preview_row.steps:
            if ps.step_id in json_steps and ps.ran:
                ps.structured_output = json_output_mode(name, ps.model_id)
    if name == "local":
        notes.append(
            "backend local: every step runs on the embedded local model at $0; "
            "set backend 'bedrock' (settings or backend_name=) to see Bedrock models and prices"
        )
    return result


def _preview_rows(
    renderer: Renderer,
    rows: list[Any],
    resolve: Any,
    prices: Any,
    rng_seed: int,
    notes: list[str],
) -> list[PreviewRow]:
    from ..llm.tokens import approx_tokens

    tpl = renderer.template
    refs = {s.id: _references(s) for s in tpl.steps}
    max_out = {s.id: s.max_tokens for s in tpl.steps}

    def model_id(step_id: str) -> str:
        return str(resolve(renderer.model_for(step_id)))

    out_rows: list[PreviewRow] = []
    for index, row in enumerate(rows):
        steps: list[PreviewStep] = []
        preview_row = PreviewRow(index, row if isinstance(row, dict) else {}, steps, {})
        out_rows.append(preview_row)
        try:
            ctx = renderer.context(row, record_index=index, rng_seed=rng_seed)
            for step in tpl.steps:
                mid = model_id(step.id)
                condition = "none"
                if step.when:
                    if refs[step.id][1]:
                        condition = "unknown (depends on step outputs)"
                    else:
                        run = renderer.should_run(step.id, ctx)
                        condition = "true" if run else "false"
                        if not run:
                            renderer.record_step_skipped(ctx, step.id)
                            steps.append(
                                PreviewStep(
                                    step.id,
                                    renderer.model_for(step.id),
                                    mid,
                                    False,
                                    condition,
                                    None,
                                    "",
                                    0,
                                    step.max_tokens,
                                    0,
                                    "",
                                    False,
                                    0.0,
                                )
                            )
                            continue
                rendered = renderer.render_step(step.id, ctx)
                text = "\n".join(t for t in (rendered.system, rendered.prompt) if t)
                tokens = approx_tokens(text)
                expand = sum(max_out.get(r, 0) for r in refs[step.id][0])
                ps = PreviewStep(
                    step.id,
                    rendered.model,
                    mid,
                    True,
                    condition,
                    rendered.system,
                    rendered.prompt,
                    tokens,
                    step.max_tokens,
                    tokens + expand,
                    "",
                    False,
                    None,
                )
                try:
                    ps.worst_case_usd = prices.worst_case(
                        mid, ps.worst_case_input_tokens, step.max_tokens
                    )
                except PricingError as exc:
                    ps.note = exc.message
                    if exc.message not in notes:
                        notes.append(exc.message)
                value = (
                    _placeholder_value(step.id, step.json_schema) if step.format == "json" else None
                )
                ps.output = json.dumps(value, ensure_ascii=False) if value else placeholder(step.id)
                renderer.record_step_output(ctx, step.id, ps.output, value, model=mid)
                steps.append(ps)
            preview_row.outputs = renderer.map_output(ctx)
        except Exception as exc:  # shown per row; other rows still preview
            from ..errors import PlotPaletteError

            if not isinstance(exc, PlotPaletteError):
                raise
            preview_row.error = exc.message
    return out_rows


def _references(step: Any) -> tuple[list[str], bool]:
    """(step ids referenced in system+prompt, one per occurrence; when uses steps)."""
    found: list[str] = []
    for text in (step.system, step.prompt):
        if text:
            found += [ref for ref, _ in step_references(parse_text(text, where=step.id))]
    when_refs = False
    if step.when:
        from .syntax import parse_expression, strip_expression

        tree = parse_expression(strip_expression(step.when), where=step.id)
        when_refs = any(True for _ in step_references(tree))
    return found, when_refs


def _looks_like_ref(text: str) -> bool:
    """``name`` or ``name@version`` rather than YAML text (which has ``:`` or newlines)."""
    return "\n" not in text and ":" not in text and bool(text.strip())
