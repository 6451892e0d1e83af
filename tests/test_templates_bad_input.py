"""Bad template input, class by class (issue 12): every case is a template error that
names the step and line to edit — never a raw Python error, a workspace error, an
internal class name, or a hang.

The case counts per class are quoted in the hardening report; they are whatever the
parametrisations below hold (``pytest --collect-only -q tests/test_templates_bad_input.py``).
"""

from __future__ import annotations

import json

import pytest

from plotpalette.errors import (
    PlotPaletteError,
    TemplateError,
    TemplateFormatError,
    TemplateRenderError,
    TemplateSecurityError,
    WorkspaceError,
)
from plotpalette.templates import Renderer, TemplateLibrary, parse_template, render_string
from plotpalette.templates.limits import Limits

from ._watchdog import finishes


def _template(prompt: str = "hi", **step: str) -> str:
    extra = "".join(f"    {k}: {v}\n" for k, v in step.items())
    return f"name: t\nsteps:\n  - id: a\n    prompt: {json.dumps(prompt)}\n{extra}"


# -- class 3: regex work inside filters is linear; the time limit stops work ---------
N = 2_000_000  # a crafted multi-megabyte seed value
HOSTILE_VALUES = {
    "open-brackets": "[" * N,
    "image-openers": "![" * (N // 2),
    "link-targets": "](" * (N // 2),
    "stars": "*" * N,
    "italic-openers": " *a" * (N // 3),
    "underscores": "_" * N,
    "backticks": "`" * N,
    "newlines": "\n" * N,
    "indented-lines": (" " * 1000 + "\n") * (N // 1001),
    "angle-brackets": "<" * N,
    "tildes": "~" * N,
    "digits": "1" * N,
    "terminators-and-quotes": '."' * (N // 2),
}
REGEX_FILTERS = [
    "strip_markdown|length",
    "sentences|length",
    "keywords|length",
    "random_sentence|length",
    "random_word|length",
]


@pytest.mark.slow
@pytest.mark.parametrize("value", list(HOSTILE_VALUES.values()), ids=list(HOSTILE_VALUES))
def test_regex_filters_finish_on_crafted_values(value):
    for expr in REGEX_FILTERS:
        text = finishes(render_string, "{{ v|" + expr + " }}", {"v": value})
        assert isinstance(text, str)


@pytest.mark.parametrize(
    "fmt", ["%(" * (N // 2), "%" * N + "s", "%(a" * (N // 3)], ids=["keys", "percents", "open"]
)
def test_percent_format_scanning_is_linear(fmt):
    # The values are not valid formats: Python's own error, in plain words, not a hang.
    with pytest.raises(TemplateRenderError, match="step 'text' prompt, line 1"):
        finishes(render_string, "{{ v|format('x') }}", {"v": fmt})


@pytest.mark.parametrize(
    "text",
    [
        "{{ '%(a(b))999999999s' % {'a(b)': 'x'} }}",  # nested key hid the width before
        "{{ '%(a)999999999s'|format(a='x') }}",
        "{{ '%-0999999999d' % 1 }}",
        "{{ '%.999999999f' % 1.5 }}",
    ],
)
def test_percent_widths_hidden_in_keys_are_caught(text):
    with pytest.raises(TemplateSecurityError, match=r"%-format (width|precision)"):
        render_string(text)


def test_render_time_limit_stops_a_slow_filter_in_progress():
    limits = Limits(max_render_seconds=0.01)
    with pytest.raises(TemplateSecurityError, match=r"step 'text' prompt.*longer than 0\.01 s"):
        render_string("{{ v|strip_markdown }}", {"v": "\n" * N}, limits=limits)


def test_linear_rules_still_strip_markdown():
    text = render_string(
        "{{ v|strip_markdown }}",
        {"v": "# T\n\n- **bold** and _it_ and *em*, ~~x~~, `c`, [l](u) ![i](p) <b>"},
    )
    assert text == "T\n\nbold and it and em, x, c, l i"


# -- class 4: names that reach the workspace from inside a template ---------------------
BAD_NAMES = [
    "../secret",
    "a/b",
    "/etc/passwd",
    "..",
    "x%2F..%2Fy",
    "a\\b",
    "Upper",
    "name\nx",
    "n" * 200,
    "",
]
TAGS = {
    "include": "{{% include {n!r} %}}",
    "import": "{{% import {n!r} as m %}}",
    "from-import": "{{% from {n!r} import x %}}",
    "extends": "{{% extends {n!r} %}}",
}


@pytest.mark.parametrize("tag", list(TAGS))
@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:20] for n in BAD_NAMES])
def test_bad_fragment_names_are_unknown_fragments_with_step_and_line(workspace, tag, name):
    prompt = "first line\n" + TAGS[tag].format(n=name)
    tpl = parse_template(_template(prompt))
    with pytest.raises(TemplateError) as info:
        Renderer(tpl, TemplateLibrary(workspace))
    error = info.value
    assert not isinstance(error, WorkspaceError)
    assert "step 'a' prompt, line 2" in error.message
    assert "unknown fragment" in error.message


@pytest.mark.parametrize("name", ["../secret", "a/b", "x%2F..", "Upper"])
def test_dynamic_include_of_a_bad_name_is_a_render_error_with_line(workspace, name):
    tpl = parse_template(_template("hello\n{% include part %}"))
    renderer = Renderer(tpl, TemplateLibrary(workspace))
    ctx = renderer.context({"part": name}, record_index=0, rng_seed=0)
    with pytest.raises(TemplateRenderError, match=r"step 'a' prompt, line 2: fragment .*unknown"):
        renderer.render_step("a", ctx)


@pytest.mark.parametrize("ref", ["../x", "a/b@2", "templates/x", "x y"])
def test_library_lookups_refuse_path_names(workspace, ref):
    from plotpalette.errors import TemplateNotFoundError

    with pytest.raises(TemplateNotFoundError, match="unknown fragment or template"):
        TemplateLibrary(workspace).get(ref)


# -- class 5: seed fields named like template helpers ------------------------------------
HELPER_USES = {
    "range": "{% for i in range(2) %}{{ i }}{% endfor %}",
    "namespace": "{% set ns = namespace(n=1) %}{{ ns.n }}",
    "cycler": "{% set c = cycler('x', 'y') %}{{ c.next() }}{{ c.next() }}",
    "joiner": "{% set j = joiner('+') %}{{ j() }}a{{ j() }}b",
    "dict": "{{ dict(a=1)|tojson }}",
    "loop": "{% for x in 'ab' %}{{ loop.index }}{% endfor %}",
    "record_index": "{{ record_index }}",
}
EXPECTED = {
    "range": "01",
    "namespace": "1",
    "cycler": "xy",
    "joiner": "a+b",
    "dict": '{"a": 1}',
    "loop": "12",
    "record_index": "0",
}


@pytest.mark.parametrize("name", list(HELPER_USES))
def test_a_seed_field_does_not_replace_a_template_helper(name):
    row = {name: "from the seed", "topic": "t"}
    assert render_string(HELPER_USES[name], row) == EXPECTED[name]
    assert render_string("{{ seed[" + repr(name) + "] }}", row) == "from the seed"


@pytest.mark.parametrize("name", ["range", "namespace", "cycler", "joiner", "dict"])
def test_printing_a_helper_says_how_to_reach_the_field(name):
    with pytest.raises(TemplateRenderError) as info:
        render_string("{{ " + name + " }}", {name: "x"})
    assert "rendered a function" in info.value.message
    assert "seed.<name>" in info.value.fix


def test_seed_and_steps_fields_are_reached_through_seed():
    row = {"seed": "s", "steps": "t"}
    assert render_string("{{ seed.seed }}/{{ seed.steps }}", row) == "s/t"


# -- class 6: template fields accepted that should not be -------------------------------
BAD_FIELDS = {
    "max_tokens-true": ({"max_tokens": "true"}, r"max_tokens .*expected a whole number"),
    "max_tokens-false": ({"max_tokens": "false"}, r"max_tokens .*expected a whole number"),
    "max_tokens-float": ({"max_tokens": "12.5"}, r"max_tokens .*whole number"),
    "temperature-nan": ({"temperature": ".nan"}, r"temperature .*finite number, got nan"),
    "temperature-inf": ({"temperature": ".inf"}, r"temperature .*finite number, got inf"),
    "temperature-true": ({"temperature": "true"}, r"temperature .*expected a number, got true"),
    "top_p-nan": ({"top_p": ".nan"}, r"top_p .*finite number"),
    "model-shell": ({"model": "'x; rm -rf /'"}, r"steps\[0\]\.model .*is not a model id"),
    "model-subshell": ({"model": "'$(id)'"}, "is not a model id"),
    "model-newline": ({"model": '"amazon.nova-lite-v1:0\\nx"'}, "is not a model id"),
    "model-space": ({"model": "'amazon nova'"}, "is not a model id"),
    "model-traversal": ({"model": "../../etc/passwd"}, "is not a model id"),
    "model-inner-traversal": ({"model": "local/../x"}, "is not a model id"),
    "model-template": ({"model": "'{{ x }}'"}, "is not a model id"),
    "model-backtick": ({"model": "'`id`'"}, "is not a model id"),
    "fallback-bad": ({"fallback": "[cheap, 'a|b']"}, r"fallback\[1\] .*is not a model id"),
    "schema-external-ref": (
        {"format": "json", "json_schema": "{properties: {a: {$ref: 'https://x.example/s.json'}}}"},
        r"json_schema\.properties\.a\.\$ref .*never fetched",
    ),
    "schema-relative-file-ref": (
        {"format": "json", "json_schema": "{items: {$ref: 'other.json#/a'}}"},
        r"\$ref 'other\.json#/a' points outside",
    ),
    "schema-dynamic-ref": (
        {"format": "json", "json_schema": "{items: {$dynamicRef: 'https://x.example/s'}}"},
        r"\$dynamicRef .*points outside",
    ),
}


@pytest.mark.parametrize("fields,match", list(BAD_FIELDS.values()), ids=list(BAD_FIELDS))
def test_bad_step_fields_are_refused_with_path_and_line(fields, match):
    with pytest.raises(TemplateFormatError, match=match) as info:
        parse_template(_template(**fields))
    assert "(line 5)" in info.value.message or "(line 6)" in info.value.message


@pytest.mark.parametrize(
    "models,match",
    [
        ("{a: b, b: amazon.nova-lite-v1:0}", r"alias 'a' refers to another alias 'b'.*a: amazon"),
        ("{a: a}", "refers to itself"),
        ("{writer: 'x y'}", r"models\.writer .*is not a model id"),
        ("{'bad alias': cheap}", "aliases are letters"),
    ],
)
def test_bad_model_aliases_are_refused(models, match):
    text = f"name: t\nmodels: {models}\nsteps:\n  - id: a\n    prompt: hi\n    model: cheap\n"
    with pytest.raises(TemplateFormatError, match=match):
        parse_template(text)


@pytest.mark.parametrize(
    "model",
    [
        "cheap",
        "amazon.nova-lite-v1:0",
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0",
        "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-micro-v1:0",
        "local/smollm2-135m-instruct",
    ],
)
def test_real_model_ids_are_accepted(model):
    assert parse_template(_template(model=repr(model))).steps[0].model == model


def test_an_internal_ref_is_accepted():
    schema = "{$defs: {x: {type: string}}, items: {$ref: '#/$defs/x'}}"
    tpl = parse_template(_template(format="json", json_schema=schema))
    assert tpl.steps[0].json_schema["items"] == {"$ref": "#/$defs/x"}


# -- class 7: messages name the line to edit, in the user's words -----------------------
UNCLOSED = {
    "double-quote-runs-on": (
        'name: x\ndescription: "unclosed\nsteps:\n  - id: a\n    prompt: hi\n'
        '  - id: b\n    prompt: "x"\n',
        2,
    ),
    "single-quote-to-end": "name: x\ndescription: 'it\nsteps:\n  - id: a\n    prompt: hi\n",
    "prompt-quote": (
        'name: x\nsteps:\n  - id: a\n    prompt: "hello\n  - id: b\n    prompt: "second"\n'
        '    model: cheap\noutput:\n  q: "{{ steps.a.output }}"\n',
        4,
    ),
    "quote-in-list": 'name: x\nsteps:\n  - id: a\n    prompt: hi\n    stop: ["a, "b"]\n',
}
UNCLOSED["single-quote-to-end"] = (UNCLOSED["single-quote-to-end"], 2)
UNCLOSED["quote-in-list"] = (UNCLOSED["quote-in-list"], 5)


@pytest.mark.parametrize("text,line", list(UNCLOSED.values()), ids=list(UNCLOSED))
def test_unclosed_quotes_are_reported_where_they_open(text, line):
    with pytest.raises(TemplateFormatError) as info:
        parse_template(text)
    assert f"line {line}," in info.value.message
    assert info.value.message.count("malformed YAML") == 1


INTERNAL_NAMES = ("PromptUndefined", "_Problems", "ZeroDivisionError", "TypeError", "ValueError")
MISLEADING = {
    "lipsum-call": ("{{ lipsum(3) }}", "lipsum() is not available"),
    "division": ("{{ 1 / 0 }}", "division by zero"),
    "wrong-type": ("{{ 'a' * 'b' }}", "wrong type"),
    "bad-filter-arg": ("{{ 'x'|truncate_tokens('a') }}", "bad value"),
    "call-a-number": ("{% set n = 3 %}{{ n() }}", "wrong type"),
}


@pytest.mark.parametrize("text,words", list(MISLEADING.values()), ids=list(MISLEADING))
def test_errors_use_plain_words_not_class_names(text, words):
    with pytest.raises(TemplateError) as info:
        render_string("ok\n" + text)
    assert words in info.value.message
    assert "step 'text' prompt, line 2" in info.value.message
    assert not any(name in info.value.message for name in INTERNAL_NAMES)


@pytest.mark.parametrize("expr", ["lipsum.x", "missing", "missing.a.b", "seed.nope"])
def test_an_undefined_output_column_names_the_missing_value(expr):
    tpl = parse_template(_template() + f'output:\n  col: "{{{{ {expr} }}}}"\n')
    renderer = Renderer(tpl)
    ctx = renderer.context({}, record_index=0, rng_seed=0)
    renderer.record_step_output(ctx, "a", "out")
    with pytest.raises(TemplateError) as info:
        renderer.map_output(ctx)
    assert "output 'col'" in info.value.message
    assert "undefined" in info.value.message or "not available" in info.value.message
    assert not any(name in info.value.message for name in INTERNAL_NAMES)


def test_template_model_errors_show_the_public_class_name():
    from plotpalette.templates import Template

    with pytest.raises(PlotPaletteError) as info:
        Template(name="t", steps=[{"id": "a", "prompt": "{{ steps.later.output }}"}])
    assert info.value.to_dict()["error"] == "TemplateFormatError"


SIZE_LIMITS = {
    "prompt-text": (_template("x" * 70_000), r"steps\[0\]\.prompt \(line 4\): 70,000 characters"),
    "system-text": (_template(system=repr("y" * 70_000)), r"steps\[0\]\.system \(line 5\)"),
    "fragment-text": ("name: f\nfragment: " + "z" * 70_000 + "\n", r"fragment \(line 2\)"),
}


@pytest.mark.parametrize("text,match", list(SIZE_LIMITS.values()), ids=list(SIZE_LIMITS))
def test_size_limits_name_the_part_and_line(text, match):
    with pytest.raises(TemplateSecurityError, match=match):
        parse_template(text)


def test_a_rendered_size_limit_names_step_and_line():
    text = "ok\n{% for i in range(300) %}{{ v }}{% endfor %}"
    with pytest.raises(TemplateSecurityError, match=r"step 'text' prompt: .*over the"):
        render_string(text, {"v": "w" * 1000})


@pytest.mark.parametrize(
    "reply",
    ["```" + " " * 20_000 + "x", "```json" + "\n" * 20_000 + "{", "```" + " \t" * 10_000 + "```x"],
    ids=["spaces", "newlines", "tabs"],
)
def test_json_fence_parsing_of_a_model_reply_is_linear(reply):
    # A reply is untrusted text too; the old fence regex took minutes on these.
    from plotpalette.jobs.checks import parse_json_output, run_checks
    from plotpalette.jobs.spec import DEFAULT_CHECKS

    assert finishes(parse_json_output, reply) == (False, None)
    outcome = finishes(
        run_checks, reply, stop_reason="end_turn", policies=DEFAULT_CHECKS, json_expected=True
    )
    assert "invalid_json" in outcome.flags


@pytest.mark.parametrize(
    "reply,value",
    [('```json\n{"a": 1}\n```', {"a": 1}), ("  ```\n[1, 2]```  ", [1, 2]), ('{"b": 2}', {"b": 2})],
)
def test_fenced_json_replies_still_parse(reply, value):
    from plotpalette.jobs.checks import parse_json_output

    assert parse_json_output(reply) == (True, value)


# -- template files are regular files, read no further than the size limit --------------
def test_importing_a_fifo_template_is_refused_not_read(workspace, tmp_path):
    import os

    from plotpalette.errors import TemplateNotFoundError

    os.mkfifo(tmp_path / "t.yaml")
    with pytest.raises(TemplateNotFoundError, match=r"t\.yaml is a FIFO"):
        finishes(TemplateLibrary(workspace).import_file, tmp_path / "t.yaml")


def test_a_template_linked_to_a_device_is_refused_by_the_cli(tmp_path, capsys):
    from plotpalette.cli import main

    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    code = finishes(main, ["--json", "template", "check", str(tmp_path / "zero.yaml")])
    assert code != 0
    assert "character device" in json.loads(capsys.readouterr().out)["message"]


def test_an_oversized_template_file_is_refused_from_a_bounded_read(workspace, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: big\nsteps:\n  - id: a\n    prompt: hi\n# " + "x" * 2_000_000 + "\n")
    with pytest.raises(TemplateSecurityError, match="over the 256,000-byte limit"):
        TemplateLibrary(workspace).import_file(big)


@pytest.mark.parametrize("reply", ["[" * 100_000, '{"a": ' * 50_000 + "1" + "}" * 50_000])
def test_a_deeply_nested_json_reply_is_invalid_json_not_a_raw_error(reply):
    from plotpalette.jobs.checks import parse_json_output, run_checks
    from plotpalette.jobs.spec import DEFAULT_CHECKS

    assert parse_json_output(reply) == (False, None)
    outcome = run_checks(reply, stop_reason="end_turn", policies=DEFAULT_CHECKS, json_expected=True)
    assert "invalid_json" in outcome.flags
    tpl = parse_template(_template(format="json") + "output:\n  a: '{{ steps.a.json }}'\n")
    renderer = Renderer(tpl)
    ctx = renderer.context({}, record_index=0, rng_seed=0)
    renderer.record_step_output(ctx, "a", reply)  # parses the reply itself
    assert ctx.steps["a"].json is None
