"""Template format: parsing, validation errors with paths/lines/suggestions, round trips."""

from __future__ import annotations

import json

import pytest

from plotpalette.errors import TemplateFormatError, TemplateSecurityError
from plotpalette.templates import Renderer, parse_template, template_json_schema

GOOD = """
name: qa
description: Ask and answer.
category: qa
models: {asker: cheap}
steps:
  - id: ask
    model: asker
    prompt: |
      Ask about {{ poem.title }}.
  - id: answer
    model: premium
    prompt: "Answer: {{ steps.ask.output }}"
    max_tokens: 300
    stop: ["\\n\\n"]
output:
  question: "{{ steps.ask.output }}"
"""


def test_good_template_parses_and_round_trips():
    tpl = parse_template(GOOD)
    assert [s.id for s in tpl.steps] == ["ask", "answer"]
    assert tpl.models == {"asker": "cheap"}
    again = parse_template(tpl.to_yaml())
    assert again == tpl
    assert again.content_hash == tpl.content_hash
    changed = parse_template(GOOD.replace("Ask about", "Ask a question about"))
    assert changed.content_hash != tpl.content_hash


def test_version_in_a_file_is_ignored():
    assert parse_template(GOOD + "version: 7\n").version is None


# (yaml text, fragments the error message must contain) — the bad-input suite.
BAD_INPUTS = [
    pytest.param("name: qa\nsteps: [\n", ["malformed YAML", "line"], id="malformed-yaml"),
    pytest.param("name: qa\n  bad indent: 1\n", ["malformed YAML"], id="bad-indent"),
    pytest.param("", ["empty"], id="empty-file"),
    pytest.param("- a\n- b\n", ["a YAML mapping", "a list"], id="not-a-mapping"),
    pytest.param(
        "name: a\nname: b\nsteps: []\n", ["duplicate key 'name'", "line 2"], id="duplicate-yaml-key"
    ),
    pytest.param("name: a\nx: &a [1]\nsteps: *a\n", ["aliases"], id="yaml-alias"),
    pytest.param(
        "name: qa\nsteps:\n  - id: ask\n    promt: hi\n",
        ["steps[0].promt (line 4): unknown key, did you mean prompt?"],
        id="unknown-step-key-suggestion",
    ),
    pytest.param(
        "name: qa\ndescripton: x\nsteps:\n  - id: a\n    prompt: hi\n",
        ["descripton", "did you mean description?"],
        id="unknown-top-key",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\n  - id: a\n    prompt: yo\n",
        ["steps[1].id", "duplicate step id 'a'"],
        id="duplicate-step-id",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: '{{ steps.b.output }}'\n"
        "  - id: b\n    prompt: hi\n",
        ["steps[0].prompt (line 4)", "steps.b", "runs later"],
        id="later-step",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: ask\n    prompt: hi\n  - id: b\n"
        "    prompt: '{{ steps.aks.output }}'\n",
        ["steps.aks is not a step", "did you mean ask?"],
        id="unknown-step",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\n    when: steps.a.output\n",
        ["steps[0].when", "runs later"],
        id="when-references-itself",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: [one, two]\n",
        ["steps[0].prompt", "expected text, got a list"],
        id="list-where-string",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\n    max_tokens: lots\n",
        ["steps[0].max_tokens", "whole number"],
        id="bad-number",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\n    temperature: 9\n",
        ["steps[0].temperature"],
        id="out-of-range",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: |\n      line one\n      {{ x }\n",
        ["steps[0].prompt (line 6)", "syntax error"],
        id="jinja-syntax-error-line",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\n    when: 'x >'\n",
        ["steps[0].when"],
        id="bad-when-expression",
    ),
    pytest.param("name: QA Template\nsteps:\n  - id: a\n    prompt: hi\n", ["name"], id="bad-name"),
    pytest.param(
        "name: qa\nsteps:\n  - id: 1st\n    prompt: hi\n", ["steps[0].id"], id="bad-step-id"
    ),
    pytest.param("name: qa\nsteps: []\n", ["at least one step"], id="no-steps"),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\n    json_schema: {type: object}\n",
        ["json_schema", "format: json"],
        id="schema-without-json-format",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\n    format: json\n"
        "    json_schema: {type: 12}\n",
        ["not a JSON Schema"],
        id="invalid-json-schema",
    ),
    pytest.param(
        "name: qa\nmodels: {cheap: x}\nsteps:\n  - id: a\n    prompt: hi\n",
        ["models.cheap", "tier"],
        id="alias-shadows-tier",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\noutput:\n  col: '{{ steps.z }}'\n",
        ["output.col", "steps.z"],
        id="output-unknown-step",
    ),
    pytest.param(
        "name: qa\nsteps:\n  - id: a\n    prompt: hi\n    format: xml\n",
        ["steps[0].format"],
        id="bad-format",
    ),
    pytest.param(
        "name: f\nfragment: hi\nsteps:\n  - id: a\n    prompt: hi\n",
        ["fragment"],
        id="fragment-with-steps",
    ),
    pytest.param(b"name: qa\xff\xfe\n", ["UTF-8"], id="not-utf8"),
    pytest.param(
        "!!python/object/apply:os.system ['echo hacked']\n",
        ["malformed YAML"],
        id="python-tag-refused",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_INPUTS)
def test_bad_templates_raise_clear_format_errors(text, expected):
    with pytest.raises(TemplateFormatError) as info:
        parse_template(text, source="t.yaml")
    message = info.value.message
    for piece in expected:
        assert piece in message, (piece, message)
    assert info.value.fix


def test_size_is_checked_before_parsing():
    with pytest.raises(TemplateSecurityError, match="over the 256,000-byte limit"):
        parse_template("name: x\n" + "# padding\n" * 30_000)


def test_missing_include_names_step_and_line():
    tpl = parse_template(
        "name: qa\nsteps:\n  - id: a\n    prompt: |\n      hi\n"
        "      {% include 'no_such_fragment' %}\n"
    )
    with pytest.raises(TemplateFormatError) as info:
        Renderer(tpl)
    assert "step 'a' prompt, line 2" in info.value.message
    assert "no_such_fragment" in info.value.message


def test_including_a_template_with_steps_is_refused():
    tpl = parse_template("name: qa\nsteps:\n  - id: a\n    prompt: \"{% include 'poem' %}\"\n")
    with pytest.raises(TemplateFormatError, match="not a fragment"):
        Renderer(tpl)


def test_json_schema_export_validates_builtin_templates():
    from jsonschema import Draft202012Validator

    from plotpalette.templates import builtin_templates

    schema = template_json_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for tpl in builtin_templates().values():
        assert not list(validator.iter_errors(json.loads(json.dumps(tpl.canonical()))))
    assert not validator.is_valid({"name": "x", "steps": [{"id": "a", "promt": "x"}]})


def test_published_schema_file_is_current():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "book" / "reference" / "template-schema.json"
    assert json.loads(path.read_text(encoding="utf-8")) == template_json_schema(), (
        "run scripts/export_template_schema.py"
    )


@pytest.mark.parametrize(
    ("value", "read_as"),
    [("012", "10"), ("-012", "-10"), ("1:30", "90"), ("1:30.5", "90.5")],
)
def test_yaml_legacy_numbers_are_refused_not_silently_converted(value, read_as):
    # YAML 1.1 reads 012 as octal 10 and 1:30 as 90 (base 60): max_tokens: 012 would
    # silently become 10. Refuse with the line and both ways to write what was meant.
    text = f"name: t\nsteps:\n  - id: a\n    prompt: hi\n    max_tokens: {value}\n"
    with pytest.raises(TemplateFormatError, match=r"line 5") as info:
        parse_template(text)
    assert f"as {read_as}" in info.value.message
    assert "quote" in info.value.message


def test_yaml_exponent_without_dot_is_explained():
    # YAML 1.1 reads 1e3 as text; the error should say how to write the number
    text = "name: t\nsteps:\n  - id: a\n    prompt: hi\n    max_tokens: 1e3\n"
    with pytest.raises(TemplateFormatError, match=r"max_tokens.*1e3.*1000"):
        parse_template(text)


def test_leading_zero_text_stays_usable_when_quoted():
    tpl = parse_template("name: t\ncategory: '012'\nsteps:\n  - id: a\n    prompt: hi\n")
    assert tpl.category == "012"
