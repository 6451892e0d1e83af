"""Rendering: steps and outputs, filters (deterministic under a seed), input inference,
built-in templates against the bundled sample seeds."""

from __future__ import annotations

import doctest

import pytest

from plotpalette.errors import TemplateRenderError
from plotpalette.samples import sample_rows
from plotpalette.templates import (
    Renderer,
    builtin_templates,
    infer_inputs,
    parse_template,
    render_string,
)
from plotpalette.templates import filters as filters_module

TWO_STEPS = """
name: qa
models: {asker: cheap}
steps:
  - id: ask
    model: asker
    system: You write questions.
    prompt: |
      Title: {{ poem.title }}
      {% if author.era %}Era: {{ author.era }}{% endif +%}
      Focus: {{ poem.text | random_sentence }}
  - id: grade
    format: json
    json_schema: {type: object, properties: {score: {type: integer}}}
    prompt: "Grade: {{ steps.ask.output }}"
  - id: answer
    model: premium
    when: steps.grade.score >= 3
    fallback: [asker, balanced]
    prompt: "Answer {{ steps.ask }} ({{ steps.grade.score }})"
output:
  question: "{{ steps.ask.output }}"
  answer: "{{ steps.answer.output }}"
  score: "{{ steps.grade.score }}"
  label: "{{ poem.title }} / {{ author.name }}"
"""
ROW = {
    "poem": {"title": "Tide", "text": "Salt on the rope. Gulls argue. The lantern stays."},
    "author": {"name": "Mara"},
}


def test_steps_see_earlier_outputs_and_parsed_json():
    r = Renderer(parse_template(TWO_STEPS))
    ctx = r.context(ROW, record_index=0, rng_seed=1)
    ask = r.render_step("ask", ctx)
    assert ask.model == "cheap" and ask.system == "You write questions."
    assert "Title: Tide" in ask.prompt and "Era" not in ask.prompt
    r.record_step_output(ctx, "ask", "Why salt?")
    r.render_step("grade", ctx)
    r.record_step_output(ctx, "grade", '```json\n{"score": 4}\n```')
    assert r.should_run("answer", ctx)
    answer = r.render_step("answer", ctx)
    assert answer.prompt == "Answer Why salt? (4)"
    assert answer.fallback == ("cheap", "balanced")
    r.record_step_output(ctx, "answer", "Because.")
    assert r.map_output(ctx) == {
        "question": "Why salt?",
        "answer": "Because.",
        "score": 4,
        "label": "Tide / Mara",
    }


def test_when_false_skips_and_skipped_output_is_empty():
    r = Renderer(parse_template(TWO_STEPS))
    ctx = r.context(ROW, record_index=0, rng_seed=1)
    r.record_step_output(ctx, "ask", "q")
    r.record_step_output(ctx, "grade", '{"score": 1}')
    assert not r.should_run("answer", ctx)
    r.record_step_skipped(ctx, "answer")
    assert r.map_output(ctx)["answer"] == ""


def test_same_record_and_seed_render_the_same_prompt_and_others_vary():
    r = Renderer(parse_template(TWO_STEPS))
    row = {**ROW, "poem": {"title": "T", "text": " ".join(f"Line {i}." for i in range(40))}}

    def prompt(index: int, seed: int) -> str:
        return r.render_step("ask", r.context(row, record_index=index, rng_seed=seed)).prompt

    assert prompt(3, 7) == prompt(3, 7)
    assert len({prompt(i, 7) for i in range(10)}) > 1
    assert len({prompt(3, s) for s in range(10)}) > 1


def test_missing_seed_field_names_step_field_and_line():
    r = Renderer(parse_template(TWO_STEPS))
    ctx = r.context({"poem": {"title": "x"}}, record_index=5, rng_seed=0)
    with pytest.raises(TemplateRenderError) as info:
        r.render_step("ask", ctx)
    message = info.value.message
    assert "step 'ask'" in message and "seed row 5" in message
    assert "'poem.text' missing" in message and "line 3" in message


def test_list_where_text_is_needed_is_a_clear_error():
    r = Renderer(parse_template(TWO_STEPS))
    ctx = r.context({**ROW, "poem": {"title": ["a", "b"], "text": "x"}}, record_index=0, rng_seed=0)
    with pytest.raises(TemplateRenderError, match=r"poem\.title.*a list where text is needed"):
        r.render_step("ask", ctx)
    with pytest.raises(TemplateRenderError, match="rendered a list"):
        render_string("{% set xs = [1, 2] %}{{ xs }}")


def test_undefined_variable_in_loop_item_names_line():
    with pytest.raises(TemplateRenderError, match=r"line 2.*has no attribute 'trait'"):
        render_string(
            "Cast:\n{% for c in cast %}{{ c.trait }}{% endfor %}", {"cast": [{"name": "A"}]}
        )


def test_null_values_are_refused():
    with pytest.raises(TemplateRenderError, match="'topic' null"):
        render_string("{{ topic }}", {"topic": None})


def test_filters_doctests_pass():
    result = doctest.testmod(filters_module)
    assert result.attempted >= 15 and result.failed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ t | truncate_tokens(3) }}", "one two three…"),
        ("{{ t | first_sentences(1) }}", "one two three four five."),
        ("{{ t | keywords(2) | join(',') }}", "one,two"),
        ("{{ '# H\n**b** _i_ [l](u)' | strip_markdown }}", "H\nb i l"),
        ("{{ 'a\"b' | json_safe }}", 'a\\"b'),
        ("{{ ['a', 'b', 'c'] | join_natural('or') }}", "a, b or c"),
        ("{{ ['a', 'b'] | bullet_list }}", "- a\n- b"),
        ("{{ ['a', 'b'] | numbered_list }}", "1. a\n2. b"),
        ("{{ 22 | ordinal }}", "22nd"),
        ("{{ t | token_count }}", "7"),
        ("{{ 'x  y\n z' | squash_whitespace }}", "x y z"),
    ],
)
def test_filters_in_templates(text, expected):
    assert render_string(text, {"t": "one two three four five. six"}) == expected


def test_random_filters_are_deterministic_per_seed():
    text = (
        "{{ t|random_sentence }}|{{ t|random_word }}|{{ xs|shuffle|join }}|{{ xs|random }}"
        "|{{ xs|sample(2)|join }}"
    )
    data = {"t": "Alpha beta. Gamma delta! Epsilon zeta? Eta theta.", "xs": list("abcdefgh")}
    runs = {render_string(text, data, rng_seed=seed) for seed in range(20)}
    assert render_string(text, data, rng_seed=5) == render_string(text, data, rng_seed=5)
    assert len(runs) > 5


def test_input_inference():
    tpl = parse_template("""
name: inf
steps:
  - id: a
    prompt: |
      {{ poem.title }} by {{ author.name }}{% if author.era %} ({{ author.era }}){% endif %}
      {{ mood | default('calm') }} {{ seed.day }} {{ tags | join(', ') }}
      {% for c in characters %}{{ c.name }}{{ c.trait if c.trait else '' }}{% endfor %}
      {% set local = 1 %}{{ local }}{{ note if note is defined else '' }}
      {% macro m(x) %}{{ x }}{% endmacro %}{{ m(poem.text.upper()) }}
    when: flag is not defined or flag
output:
  first_tag: "{{ tags[0] }}"
""")
    schema = infer_inputs(tpl)
    got = {f.path: (f.kind, f.required) for f in schema.fields}
    assert got["poem"] == ("mapping", True)
    assert got["poem.title"] == ("scalar", True)
    assert got["poem.text"] == ("scalar", True)
    assert got["author.name"] == ("scalar", True)
    assert got["author.era"][1] is False
    assert got["mood"][1] is False
    assert got["day"] == ("scalar", True)
    assert got["tags"] == ("list", True)
    assert got["note"][1] is False
    assert got["flag"][1] is False
    assert "local" not in got and "m" not in got and "x" not in got
    characters = schema.field("characters")
    assert characters.kind == "list" and characters.required
    items = {f.path: f.required for f in characters.item_fields}
    assert items == {"name": True, "trait": False}
    assert schema.to_dict()["fields"][0]["path"] == "author"


def test_declared_inputs_override_inference():
    tpl = parse_template("""
name: dec
inputs:
  topic: {kind: scalar, required: false, description: what to write about}
  extra: {kind: list}
steps:
  - id: a
    prompt: "{{ topic }}"
""")
    schema = infer_inputs(tpl)
    assert schema.field("topic").required is False
    assert schema.field("topic").description == "what to write about"
    assert schema.field("extra").kind == "list"


def test_sample_seed_set_is_original_and_sized():
    rows = sample_rows()
    assert 30 <= len(rows) <= 60
    assert len({r["poem"]["title"] for r in rows}) == len(rows)
    for row in rows:
        assert row["poem"]["text"] and row["author"]["name"] and row["characters"]


@pytest.mark.parametrize(
    "name", sorted(n for n, t in builtin_templates().items() if not t.is_fragment)
)
def test_every_builtin_renders_for_every_bundled_row(name):
    tpl = builtin_templates()[name]
    r = Renderer(tpl)
    schema = r.inputs()
    for index, row in enumerate(sample_rows()):
        assert schema.problems(row) == [], (index, schema.problems(row))
        ctx = r.context(row, record_index=index, rng_seed=0)
        for step in tpl.steps:
            if not r.should_run(step.id, ctx):
                r.record_step_skipped(ctx, step.id)
                continue
            rendered = r.render_step(step.id, ctx)
            assert rendered.prompt and "⟨" not in rendered.prompt
            out = '{"mood": "light", "ideas": ["x", "y"]}' if step.format == "json" else "out"
            r.record_step_output(ctx, step.id, out)
        columns = r.map_output(ctx)
        assert columns and all(v is not None for v in columns.values())


def test_builtin_catalogue_covers_the_issue():
    names = set(builtin_templates())
    assert {
        "question_answer",
        "creative_writing",
        "poem",
        "brainstorm",
        "open_question",
        "dialogue",
        "conditional_example",
        "macro_example",
        "include_example",
        "poem_context",
        "prompt_macros",
    } <= names
    qa = builtin_templates()["question_answer"]
    assert [s.model for s in qa.steps] == ["cheap", "premium"]
    assert [s.id for s in builtin_templates()["creative_writing"].steps] == [
        "outline",
        "story",
        "summary",
    ]


def test_mapping_filters_accept_seed_mappings():
    # dictsort/items need a mapping: inference must not demand text for them
    text = render_string(
        "{% for k, v in d|dictsort %}{{ k }}={{ v }};{% endfor %}{{ d|items|list|length }}",
        {"d": {"b": 2, "a": 1}},
    )
    assert text == "a=1;b=2;2"
    schema = Renderer(
        parse_template("name: m\nsteps:\n  - id: a\n    prompt: '{{ d|dictsort }}'\n")
    ).inputs()
    assert schema.field("d").kind == "mapping"
