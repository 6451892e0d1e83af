"""The renderer's fast path (plain lookups rendered without Jinja, which the job engine
relies on for speed) gives exactly Jinja's text, or Jinja's error."""

from __future__ import annotations

import pytest

from plotpalette.errors import TemplateError
from plotpalette.templates.model import Template
from plotpalette.templates.render import Renderer

ROW = {
    "topic": "tides",
    "n": 3,
    "ratio": 0.5,
    "flag": True,
    "items": "a key that is also a dict method",
    "poem": {"title": "Sea Fever", "lines": ["a", "b"], "meta": {"year": 1902}},
    "none": None,
}
TEXTS = [
    "About {{ topic }}: {{ n }} {{ ratio }} {{ flag }}",
    "{{ poem.title }} ({{ poem['title'] }}, {{ poem.meta.year }})",
    "{{ seed.topic }} / {{ seed['items'] }} / {{ items }}",
    "Q: {{ steps.ask }} | {{ steps.ask.output }} | {{ steps.ask.model }} | {{ steps.ask.q }}",
    "{{ poem.lines }}",  # a list: Jinja's error
    "{{ none }}",  # null: Jinja's error
    "{{ missing }}",  # undefined: Jinja's error
    "{{ poem.nope }}",
    "{{ record_index }} {{ self }}",
]


def _template(text: str):
    return Template(
        **{
            "name": "fp",
            "steps": [
                {"id": "ask", "prompt": "Ask about {{ topic }}", "format": "json"},
                {"id": "use", "prompt": text},
            ],
            "output": {"value": text, "expr": "{{ " + text.split("{{", 1)[1].split("}}")[0] + "}}"},
        }
    )


def _render(renderer: Renderer):
    ctx = renderer.context(dict(ROW), record_index=4, rng_seed=9)
    renderer.record_step_output(ctx, "ask", '{"q": "why?"}', model="model-x")
    try:
        return renderer.render_step("use", ctx).prompt, renderer.map_output(ctx)
    except TemplateError as exc:
        return type(exc).__name__, exc.message


@pytest.mark.parametrize("text", TEXTS)
def test_fast_path_matches_jinja(text):
    fast = Renderer(_template(text))
    slow = Renderer(_template(text))
    slow._fast = dict.fromkeys(slow._fast)  # type: ignore[attr-defined]
    slow._fast_columns = dict.fromkeys(slow._fast_columns)  # type: ignore[attr-defined]
    assert _render(fast) == _render(slow)


def test_plain_lookups_take_the_fast_path_and_methods_do_not():
    renderer = Renderer(_template(TEXTS[1]))
    assert renderer._fast[("use", "prompt")] is not None  # type: ignore[attr-defined]
    ctx = renderer.context(dict(ROW), record_index=0, rng_seed=0)
    # `seed.items` is the dict method in Jinja, not the key: the fast path defers, and
    # Jinja refuses to print a method (it would put "<built-in method ...>" in a prompt)
    with pytest.raises(TemplateError, match="rendered a function"):
        Renderer(_template("{{ seed.items }}")).render_step("use", ctx)
