"""validate_rows: every problem named by row number, field path and reason."""

from __future__ import annotations

import pytest

from plotpalette.errors import SeedValidationError
from plotpalette.seeds import load_seeds, validate_rows
from plotpalette.templates import parse_template
from plotpalette.templates.inputs import infer_inputs

TEMPLATE = """
name: validation_probe
description: reads a scalar, a nested scalar, a loop with item fields and an optional field
category: test
steps:
  - id: poem
    model: cheap
    prompt: |
      Write about {{ topic }} like {{ author.name }}, feeling {{ mood | default('calm') }}.
      {% for word in words %}Use {{ word.text }}. {% endfor %}
output:
  poem: "{{ steps.poem.output }}"
"""

GOOD = '{"topic": "rain", "author": {"name": "Ada"}, "words": [{"text": "tin"}]}'


@pytest.fixture(scope="module")
def schema():
    return infer_inputs(parse_template(TEMPLATE))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(report):
    return [(e.row, e.field, e.reason) for e in report.errors]


def test_schema_fixture_reads_what_the_template_uses(schema):
    # guards the tests below against a change in inference
    assert schema.field("topic").required
    assert schema.field("author.name").kind == "scalar"
    assert schema.field("words").kind == "list"
    assert not schema.field("mood").required


def test_valid_rows_pass(tmp_path, schema):
    extra = '{"topic": "sea", "author": {"name": "Bo"}, "words": [], "mood": "wry"}'
    report = validate_rows(load_seeds(write(tmp_path, "ok.jsonl", f"{GOOD}\n{extra}\n")), schema)
    assert report.ok and report.ok_rows == [0, 1] and report.errors == []
    assert "all 2 seed rows" in report.summary()


def test_each_reason_names_line_and_field(tmp_path, schema):
    lines = [
        GOOD,  # line 1: fine
        '{"topic": ["sea", "sky"], "author": {"name": "Bo"}, "words": []}',
        "",  # a blank line still counts
        '{"topic": "frost", "words": "cold"}',
        '{"topic": "dawn", "author": {"name": null}, "words": [{"txt": "gold"}, "x"]}',
        '{"topic": {"a": 1}, "author": "Cy", "words": []}',
        '{"topic": "", "author": {"name": "Di"}, "words": [{"text": ["a"]}]}',
    ]
    report = validate_rows(load_seeds(write(tmp_path, "mixed.jsonl", "\n".join(lines))), schema)
    assert problems(report) == [
        (2, "topic", "a list where a single value is needed"),
        (4, "author", "missing"),  # not also author.name
        (4, "words", "a string, not a list, but the template loops over it"),
        (5, "author.name", "null (no value)"),
        (5, "words[0].text", "item field missing"),
        (5, "words[1]", "a string, but the loop reads text from each item"),
        (6, "author", "a string, not a mapping, but the template reads fields from it"),
        (6, "topic", "a mapping where a single value is needed"),
        (7, "topic", "empty string"),
        (7, "words[0].text", "a list where a single value is needed"),
    ]
    assert report.ok_rows == [0]
    assert report.invalid_rows == [1, 2, 3, 4, 5]
    assert all(e.unit == "line" for e in report.errors)


def test_csv_rows_are_reported_by_physical_line(tmp_path, schema):
    text = 'topic,author.name,words\nrain,Ada,\n"two\nlines",,\n'
    report = validate_rows(load_seeds(write(tmp_path, "s.csv", text)), schema)
    found = problems(report)
    assert (3, "author.name", "empty string") in found
    assert (2, "words", "a string, not a list, but the template loops over it") in found


def test_raise_lists_problems_with_lines(tmp_path, schema):
    path = write(tmp_path, "s.jsonl", f'{GOOD}\n{{"topic": "sea"}}\n')
    report = validate_rows(load_seeds(path), schema)
    with pytest.raises(SeedValidationError) as info:
        report.raise_if_invalid()
    message = info.value.message
    assert "1 of 2 seed rows" in message
    assert "line 2: author: missing" in message
    assert "line 2: words: missing" in message
    assert "on_invalid='drop'" in info.value.fix


def test_long_reports_list_twenty_problems_and_count_the_rest(schema):
    seeds = load_seeds([{"topic": "t"} for _ in range(15)])  # 2 problems per row
    report = validate_rows(seeds, schema)
    text = report.summary()
    assert len(report.errors) == 30
    assert text.count(": missing") == 20
    assert "… and 10 more problems" in text


def test_drop_keeps_valid_rows_with_their_original_line_numbers(tmp_path, schema):
    bad = '{"topic": "sea"}'
    seeds = load_seeds(write(tmp_path, "s.jsonl", f"{bad}\n{GOOD}\n{bad}\n{GOOD}\n"))
    report = validate_rows(seeds, schema)
    valid = report.valid_seedset()
    assert len(valid) == 2 and valid.row_numbers == [2, 4]
    assert valid.sha256 != seeds.sha256
    assert seeds.validate(schema, on_invalid="drop").rows == valid.rows
    with pytest.raises(SeedValidationError, match="line 1: author: missing"):
        seeds.validate(schema)  # on_invalid="raise" is the default
    with pytest.raises(SeedValidationError, match="on_invalid must be"):
        report.resolve("ignore")


def test_raise_mode_returns_the_same_seeds_when_all_rows_fit(schema):
    seeds = load_seeds([{"topic": "rain", "author": {"name": "Ada"}, "words": []}])
    assert seeds.validate(schema) is seeds


def test_dropping_everything_is_an_error(schema):
    report = validate_rows(load_seeds([{"topic": "x"}]), schema)
    with pytest.raises(SeedValidationError, match="no valid rows are left"):
        report.valid_seedset()


def test_a_file_is_validated_by_streaming(tmp_path, schema):
    path = write(tmp_path, "s.jsonl", f'{GOOD}\n{{"topic": "sea"}}\n{GOOD}\n')
    streamed = validate_rows(path, schema)
    loaded = validate_rows(load_seeds(path), schema)
    assert problems(streamed) == problems(loaded)
    assert streamed.valid_seedset().rows == loaded.valid_seedset().rows
    assert streamed.to_dict()["invalid"] == 1


def test_bundled_sample_fits_every_builtin_template(workspace):
    from plotpalette.seeds import sample_seeds
    from plotpalette.templates.library import TemplateLibrary

    library = TemplateLibrary(workspace)
    names = library.names()
    assert "question_answer" in names and "dialogue" in names
    poetry = sample_seeds("poetry")
    for name in names:
        report = validate_rows(poetry, infer_inputs(library.get(name), library))
        assert report.ok, f"{name}: {report.summary()}"
