"""SeedExplorer driven headless: load files, check against templates, keep valid rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from plotpalette.errors import SeedError, SeedFormatError
from plotpalette.seeds import SeedSet
from plotpalette.templates.library import TemplateLibrary
from plotpalette.ui import SeedExplorer

TOPIC_READER = """\
name: topic_reader
steps:
  - id: write
    model: cheap
    prompt: "Write about {{ topic }} for {{ reader }}{% if mood %} in a {{ mood }} mood{% endif %}."
"""


@pytest.fixture
def topic_reader(workspace):
    return TemplateLibrary(workspace).save(TOPIC_READER)


@pytest.fixture
def bad_file(tmp_path):
    rows = [
        {"topic": "rain", "reader": "a child"},  # line 1 ok
        {"topic": "tides"},  # line 2: reader missing
        {"topic": "", "reader": "a sailor"},  # line 3: empty topic
        {"topic": "fog", "reader": "a pilot", "extra": 1},  # line 4 ok
        {"topic": ["a", "b"], "reader": None},  # line 5: list topic, null reader
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_lists_invalid_rows_of_a_bad_file_with_reasons(workspace, topic_reader, bad_file):
    app = SeedExplorer(workspace=workspace)
    app.source.value = str(bad_file)
    app.load_button.click()
    assert len(app.loaded) == 5
    app.template.value = "topic_reader"
    app.check_button.click()
    assert app.errors == []
    problems = app.problems_frame
    assert sorted(set(problems["row"])) == [2, 3, 5]
    by_row = {(r.row, r.field): r.reason for r in problems.itertuples()}
    assert by_row[(2, "reader")].startswith("missing")
    assert by_row[(3, "topic")].startswith("empty")
    assert by_row[(5, "topic")].startswith("a list")
    assert by_row[(5, "reader")].startswith("null")
    assert "3 of 5 rows" in app.status.value
    shown = app.problems_grid.data  # the grid, indexed by the user's row numbers
    assert app.problems_grid.layout.display != "none"
    assert sorted(set(shown.index)) == [2, 3, 5] and "reader" in set(shown["field"])
    rows = app.rows_grid.data  # every row, with a problem count to sort or filter by
    assert rows.loc[5, "problems"] == 2 and rows.loc[1, "problems"] == 0


def test_rows_and_problems_are_sortable_filterable_grids(workspace, topic_reader, bad_file):
    from ipydatagrid import DataGrid

    app = SeedExplorer(str(bad_file), template="topic_reader", workspace=workspace)
    for grid in (app.rows_grid, app.schema_grid, app.problems_grid):
        assert isinstance(grid, DataGrid)  # the JobsTable's widget: headers sort and filter
    rows = app.rows_grid.data
    assert list(rows.index) == [1, 2, 3, 4, 5]  # the numbers the user sees, not 0..4
    assert rows.loc[4, "topic"] == "fog" and rows.loc[4, "extra"] == 1
    assert app.rows_grid.layout.display != "none" and app.problems_view.value == ""
    # counts stay numbers, so the browser sorts and filters them as numbers ("> 0")
    assert rows["problems"].dtype.kind == "i"
    assert rows["problems"].sum() == len(app.problems_frame) == 4


def test_schema_table_compares_seed_fields_with_template_inputs(workspace, topic_reader, bad_file):
    app = SeedExplorer(str(bad_file), template="topic_reader", workspace=workspace)
    schema = app.schema_frame.set_index("field")
    assert schema.loc["topic", "template"] == "required"
    assert schema.loc["reader", "template"] == "required"
    assert schema.loc["mood", "template"] == "optional"  # guarded by {% if %}
    assert schema.loc["mood", "in seeds"] == "missing"
    assert schema.loc["extra", "template"] == "not used"
    assert schema.loc["reader", "rows with a value"] == "3/5"
    assert schema.loc["reader", "rows with problems"] == "2"
    assert "rain" in schema.loc["topic", "sample values"]
    assert "mood" in app.schema_grid.data.index


def test_keep_valid_rows_gives_a_stored_seedset(workspace, topic_reader, bad_file):
    app = SeedExplorer(str(bad_file), template="topic_reader", workspace=workspace)
    app.keep_button.click()
    assert [r["topic"] for r in app.seeds.rows] == ["rain", "fog"]
    assert app.seeds.row_numbers == [1, 4]
    stored = SeedSet.from_workspace(workspace, app.seeds.sha256)
    assert stored.rows == app.seeds.rows
    assert app.seeds.sha256[:12] in "".join(o["text"] for o in app.log.outputs)


def test_sample_set_fits_the_builtin_template(workspace):
    app = SeedExplorer("sample:poetry", template="question_answer", workspace=workspace)
    assert app.report.ok and app.problems_frame.empty
    assert "✔" in app.status.value
    schema = app.schema_frame.set_index("field")
    assert schema.loc["poem.title", "in seeds"] == "present"
    assert app.valid_seeds().sha256 == app.loaded.sha256


def test_dataframe_passed_in_and_checked_against_a_template_object(workspace, topic_reader):
    frame = pd.DataFrame([{"topic": "snow", "reader": "me"}, {"topic": "sun", "reader": ""}])
    app = SeedExplorer(frame, workspace=workspace)
    assert app.source.value == "<DataFrame>"
    report = app.check(topic_reader)
    assert report.invalid_rows == [1]
    assert app.problems_frame["field"].tolist() == ["reader"]


def test_a_stored_seed_hash_loads(workspace, bad_file):
    first = SeedExplorer(str(bad_file), workspace=workspace).valid_seeds()
    again = SeedExplorer(first.sha256[:12], workspace=workspace)
    assert again.loaded.rows == first.rows


def test_missing_file_is_shown_in_the_log_not_raised_from_the_button(workspace, tmp_path):
    app = SeedExplorer(workspace=workspace)
    app.source.value = str(tmp_path / "nowhere.jsonl")
    app.load_button.click()
    assert isinstance(app.errors[-1], SeedFormatError)
    assert "does not exist" in app.status.value
    assert "fix:" in "".join(o["text"] for o in app.log.outputs)
    with pytest.raises(SeedFormatError):
        app.load(str(tmp_path / "nowhere.jsonl"))


def test_check_before_load_and_without_template_explain_what_to_do(workspace, bad_file):
    app = SeedExplorer(workspace=workspace)
    app.check_button.click()
    assert isinstance(app.errors[-1], SeedError) and "Load" in app.errors[-1].fix
    app.load(str(bad_file))
    app.check_button.click()
    assert "no template" in app.status.value


def test_a_failed_load_clears_the_previous_rows_and_disables_keep(workspace, tmp_path):
    app = SeedExplorer("sample:poetry", workspace=workspace)
    assert app.loaded is not None and not app.keep_button.disabled
    assert len(app.rows_grid.data) == 40 and len(app.schema_grid.data)
    with pytest.raises(SeedError):
        app.load(str(tmp_path / "missing.jsonl"))
    assert app.loaded is None and app.seeds is None
    assert app.rows_grid.data.empty and app.schema_grid.data.empty
    assert app.rows_grid.layout.display == "none" and app.summary.value == ""
    assert app.keep_button.disabled  # nothing left to keep
    app.keep_button.click()  # a stale click still explains itself
    assert isinstance(app.errors[-1], SeedError)


def test_loading_with_a_template_chosen_checks_the_rows(workspace, topic_reader, bad_file):
    app = SeedExplorer(template=topic_reader.name, workspace=workspace)
    app.load(str(bad_file))
    assert app.report is not None and not app.report.ok  # checked without a click
    assert "do not fit" in app.status.value
