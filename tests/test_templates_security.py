"""Injection suite: sandbox escapes and resource exhaustion are blocked by a named limit.

Every escape must be refused by the sandbox (TemplateSecurityError) or find nothing to
walk to (an undefined attribute); every exhaustion case must be stopped by the limit
built for it — a TemplateSecurityError naming that limit, never the wall-clock deadline,
a syntax error, a raw Python error or a hang — whether the attack runs at compile time
(constant folding) or at render time. How fast each is stopped is measured by
``benchmarks/bench_templates.py``, not asserted here.
"""

from __future__ import annotations

import pytest

from plotpalette.errors import (
    TemplateError,
    TemplateFormatError,
    TemplateRenderError,
    TemplateSecurityError,
)
from plotpalette.templates import Renderer, TemplateLibrary, parse_template, render_string

ESCAPES = {
    "str-class": "{{ ''.__class__ }}",
    "mro-subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "mro-method": "{{ ''.__class__.mro() }}",
    "getitem-dunder": "{{ ''['__class__'] }}",
    "attr-filter": "{{ ''|attr('__class__') }}",
    "map-attribute": "{{ [''] | map(attribute='__class__') | list }}",
    "sort-attribute": "{{ [1, 2] | sort(attribute='__class__') }}",
    "format-field-walk": "{{ '{0.__class__}'.format('') }}",
    "format-map-walk": "{{ '{x.__class__}'.format_map({'x': ''}) }}",
    "cycler-globals": "{{ cycler.__init__.__globals__ }}",
    "cycler-instance": "{{ cycler(1).__class__ }}",
    "joiner-globals": "{{ joiner.__init__.__globals__.os }}",
    "namespace-globals": "{{ namespace.__init__.__globals__ }}",
    "namespace-instance": "{{ namespace(a=1).__class__ }}",
    "self-context": "{{ self._TemplateReference__context }}",
    "loop-class": "{% for x in [1] %}{{ loop.__class__ }}{% endfor %}",
    "range-self": "{{ range.__self__ }}",
    "func-globals": "{% macro m() %}{% endmacro %}{{ m.__globals__ }}",
    "int-to-bytes": "{{ (1).to_bytes(1000000000, 'big') }}",
    "str-translate": "{{ 'a'.translate({97: 'x'}) }}",
    "str-expandtabs": "{{ '\\t'.expandtabs(1000000000) }}",
    "list-append": "{% set l = [] %}{{ l.append(1) }}",
    "dict-update": "{% set d = {} %}{{ d.update({'a': 1}) }}",
    "guarded-if-walk": "{% if ''.__class__ %}leak{% endif %}",
    "defined-walk": "{{ ''.__class__ is defined }}",
}

EXHAUSTION = {
    "range-10e9": "{% for i in range(10**9) %}x{% endfor %}",
    "range-literal": "{% for i in range(1000000000) %}x{% endfor %}",
    "nested-loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}"
    "{% endfor %}",
    "triple-loops": "{% for a in range(100) %}{% for b in range(100) %}{% for c in range(100) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "str-mul-runtime": "{% set n = 10**9 %}{{ 'a' * n }}",
    "str-mul-folded": "{{ 'a' * 1000000000 }}",
    "str-mul-power": "{{ 'a' * 10**9 }}",
    "list-mul": "{{ ([1] * 1000) * 1000000 }}",
    "power-tower": "{{ 10**(10**10) }}",
    "power-nested": "{{ 2**(2**(2**(2**5))) }}",
    "float-power": "{{ 10.0 ** 100000 }}",
    "int-squaring": "{% set ns = namespace(n=3) %}{% for i in range(100) %}"
    "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
    "tilde-doubling": "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "plus-doubling": "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "list-doubling": "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}"
    "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
    "center-width": "{{ 'x'|center(1000000000) }}",
    "center-method": "{{ 'x'.center(1000000000) }}",
    "ljust-method": "{{ 'x'.ljust(1000000000) }}",
    "format-filter-width": "{{ '%999999999s'|format('x') }}",
    "format-star-width": "{{ '%*s'|format(999999999, 'x') }}",
    "percent-operator": "{{ '%0999999999d' % 1 }}",
    "format-method-width": "{{ '{:>999999999}'.format('x') }}",
    "format-nested-width": "{{ '{:>{w}}'.format('x', w=999999999) }}",
    "indent-amplify": "{{ ('a\\n' * 50000)|indent(100) }}",
    "replace-amplify": "{{ ('a' * 100000)|replace('', 'bbbbbbbbbb') }}",
    "replace-method": "{{ ('a' * 100000).replace('a', 'b' * 1000) }}",
    "join-filter": "{{ range(10000)|join('x' * 1000) }}",
    "join-method": "{{ ('x' * 100000).join(['a'] * 1000) }}",
    "batch-fill": "{{ [1]|batch(1000000000, 0)|list }}",
    "slice-fill": "{{ [1]|slice(1000000000, 0)|list }}",
    "wordwrap-amplify": "{{ ('a ' * 100000)|wordwrap(1, wrapstring='x' * 100) }}",
    "sum-lists": "{{ ([[1] * 100000] * 100)|sum(start=[]) }}",
    "recursive-macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "mutual-recursion": "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}"
    "{% endmacro %}{{ a() }}",
    "recursive-loop": "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "output-flood": "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}",
    "literal-flood": "{% for i in range(10000) %}" + "y" * 5000 + "{% endfor %}",
    "macro-buffer-flood": "{% macro m() %}{% for i in range(10000) %}{{ 'y' * 1000 }}"
    "{% endfor %}{% endmacro %}{{ m()|length }}",
    "set-block-flood": "{% set big %}{% for i in range(10000) %}{{ 'z' * 1000 }}{% endfor %}"
    "{% endset %}{{ big|length }}",
    "deep-parentheses": "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "lipsum-removed": "{{ lipsum(1000000) }}",
}

# What a limit says when it stops an attack (the wall-clock deadline is not among them:
# an attack that only the deadline stops ran unchecked until then).
LIMIT_WORDS = (
    "over the limit",
    "not allowed",
    "nested more than",
    "nested too deeply",
    "is not available",
)


def _blocked(text: str) -> TemplateError:
    """The error ``text`` raises; a syntax error or a success is not "blocked"."""
    with pytest.raises(TemplateError) as info:
        render_string(text)
    error = info.value
    assert not isinstance(error, TemplateFormatError) or isinstance(error, TemplateSecurityError), (
        f"not blocked, just invalid: {error.message}"
    )
    return error


@pytest.mark.parametrize("text", list(ESCAPES.values()), ids=list(ESCAPES))
def test_attribute_walks_are_blocked(text):
    error = _blocked(text)
    assert "leak" not in error.message
    if isinstance(error, TemplateSecurityError):
        assert "is not allowed in templates" in error.message
    else:  # nothing to walk to: the attribute does not exist on the sandboxed object
        assert isinstance(error, TemplateRenderError)
        assert "has no attribute" in error.message


@pytest.mark.parametrize("text", list(EXHAUSTION.values()), ids=list(EXHAUSTION))
def test_resource_exhaustion_is_blocked_by_its_limit(text):
    error = _blocked(text)
    assert isinstance(error, TemplateSecurityError), error.message
    assert any(words in error.message for words in LIMIT_WORDS), error.message
    assert "took longer than" not in error.message


def test_blocked_helper_does_not_count_a_syntax_error_as_blocked():
    with pytest.raises(AssertionError, match="not blocked, just invalid"):
        _blocked("{{ 'unclosed }}")


def test_urlize_does_not_exist_in_the_sandbox():
    # super-linear on some input (FACTS): removed, so using it is an unknown filter
    with pytest.raises(TemplateFormatError, match="No filter named 'urlize'"):
        render_string("{{ ('x' * 20000)|urlize }}")


def test_security_errors_name_step_and_line():
    with pytest.raises(TemplateSecurityError) as info:
        render_string("fine line\n{{ 'a' * 10**9 }}")
    assert "step 'text' prompt, line 2" in info.value.message


@pytest.mark.parametrize(
    "when", ["'a' * 10**9", "10**(10**10) > 1", "'x'|center(999999999)", "''.__class__"]
)
def test_when_conditions_are_sandboxed_at_compile_and_run_time(when):
    tpl = parse_template(f'name: w\nsteps:\n  - id: a\n    prompt: hi\n    when: "{when}"\n')
    renderer = Renderer(tpl)  # compiling must not evaluate the bomb
    ctx = renderer.context({}, record_index=0, rng_seed=0)
    limit = r"step 'a' when: .*(over the limit|not allowed)"
    with pytest.raises(TemplateSecurityError, match=limit):
        renderer.should_run("a", ctx)


def test_output_mapping_is_sandboxed():
    tpl = parse_template(
        "name: o\nsteps:\n  - id: a\n    prompt: hi\noutput:\n  x: \"{{ 'a' * 10**9 }}\"\n"
    )
    renderer = Renderer(tpl)
    ctx = renderer.context({}, record_index=0, rng_seed=0)
    renderer.record_step_output(ctx, "a", "out")
    with pytest.raises(TemplateSecurityError, match="output 'x'"):
        renderer.map_output(ctx)


def test_seed_data_cannot_smuggle_template_code():
    text = render_string("{{ poem }}", {"poem": "{{ ''.__class__ }}{% for i in range(10**9) %}"})
    assert text == "{{ ''.__class__ }}{% for i in range(10**9) %}"


def test_self_and_mutual_includes_stop(workspace):
    library = TemplateLibrary(workspace)
    library.save("name: loop_a\nfragment: \"a{% include 'loop_b' %}\"\n")
    library.save("name: loop_b\nfragment: \"b{% include 'loop_a' %}\"\n")
    library.save("name: selfie\nfragment: \"s{% include 'selfie' %}\"\n")
    for name in ("loop_a", "selfie"):
        tpl = parse_template(
            f"name: t\nsteps:\n  - id: a\n    prompt: \"{{% include '{name}' %}}\"\n"
        )
        renderer = Renderer(tpl, library)
        ctx = renderer.context({}, record_index=0, rng_seed=0)
        with pytest.raises(TemplateSecurityError, match=r"includes/imports|nested"):
            renderer.render_step("a", ctx)


# Shared items: `[a] * 100` is 100 references to one string, and nesting multiplies
# that again, so a tiny object graph serialises to gigabytes (Jinja's "billion laughs").
SHARED = "{% set a = 'x' * 100000 %}"
SERIALISED_SHARED = {
    "tojson": SHARED + "{{ ([a] * 100)|tojson|length }}",
    "string": SHARED + "{{ ([a] * 100)|string|length }}",
    "pprint": SHARED + "{{ ([a] * 100)|pprint|length }}",
    "join-nested": SHARED + "{{ ([[a] * 100] * 10)|join|length }}",
    "percent": SHARED + "{{ ('%s' % ([a] * 100))|length }}",
    "format-method": SHARED + "{{ '{}'.format([a] * 100)|length }}",
    "tilde": SHARED + "{{ (([a] * 100) ~ '')|length }}",
    "nested-literals": "{% set a = range(9999)|list %}{% set b = [a, a, a, a, a, a, a, a] %}"
    "{% set c = [b, b, b, b, b, b, b, b] %}{{ [c, c, c, c]|tojson|length }}",
    "bullet-prefix": "{{ range(9999)|bullet_list('x' * 100000)|length }}",
    "quote-prefix": "{{ ('\\n' * 9999)|quote_block('x' * 100000)|length }}",
}


@pytest.mark.parametrize("text", list(SERIALISED_SHARED.values()), ids=list(SERIALISED_SHARED))
def test_serialising_shared_containers_is_bounded(text):
    with pytest.raises(TemplateSecurityError, match="over the limit"):
        render_string(text)


def test_output_column_of_shared_containers_is_bounded():
    tpl = parse_template(
        "name: o\nsteps:\n  - id: a\n    prompt: hi\noutput:\n  x: \"{{ ['y' * 100000] * 100 }}\"\n"
    )
    renderer = Renderer(tpl)
    ctx = renderer.context({}, record_index=0, rng_seed=0)
    renderer.record_step_output(ctx, "a", "out")
    with pytest.raises(TemplateSecurityError, match="output 'x'"):
        renderer.map_output(ctx)


def test_small_containers_still_serialise():
    text = render_string(
        "{{ d|tojson }} {{ ('%s' % (l,)) }} {{ '{}'.format(l) }} {{ l|bullet_list }}",
        {"d": {"a": [1, 2]}, "l": ["x", "y"]},
    )
    assert text == "{\"a\": [1, 2]} ['x', 'y'] ['x', 'y'] - x\n- y"
