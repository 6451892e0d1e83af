"""Bad seed input: each case is a SeedFormatError/SeedError naming where and how to fix it."""

from __future__ import annotations

import pandas as pd
import pytest

from plotpalette.errors import PlotPaletteError, SeedError, SeedFormatError
from plotpalette.seeds import load_seeds, scan_seeds

from ._watchdog import finishes


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def fails(source, match, **kwargs):
    with pytest.raises(SeedFormatError, match=match) as info:
        load_seeds(source, **kwargs)
    assert info.value.fix  # every error says how to recover
    return info.value


# -- empty --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["e.jsonl", "e.json", "e.csv", "e.parquet"])
def test_zero_byte_file(tmp_path, name):
    fails(write(tmp_path, name, b""), r"is empty \(0 bytes\)")


def test_blank_lines_only_jsonl(tmp_path):
    fails(write(tmp_path, "w.jsonl", "\n   \n\n"), "contains no seed rows")


def test_csv_header_without_rows(tmp_path):
    fails(write(tmp_path, "h.csv", "topic,author.name\n\n"), "has a header but no rows")


def test_empty_json_array_and_empty_inputs(tmp_path):
    fails(write(tmp_path, "a.json", "[]"), "contains no seed rows")
    fails([], "contains no seed rows")
    fails(pd.DataFrame({"topic": []}), "contains no seed rows")


# -- truncated --------------------------------------------------------------------------
def test_truncated_jsonl_names_the_physical_line(tmp_path):
    path = write(tmp_path, "t.jsonl", '{"a": "x"}\n\n{"a": "y"}\n{"a": "z", "b')
    err = fails(path, r"line 4, column \d+: invalid JSON")
    assert "truncated" in err.message


def test_truncated_json_array_names_line(tmp_path):
    err = fails(write(tmp_path, "t.json", '[\n {"a": 1},\n {"a": 2'), r"line 3, column \d+")
    assert "truncated" in err.message


def test_csv_unclosed_quote_at_end(tmp_path):
    err = fails(write(tmp_path, "q.csv", 'a,b\n1,2\n3,"never closed\nstill\n'), "line 3")
    assert "truncated" in err.message


def test_bad_jsonl_line_in_the_middle(tmp_path):
    path = write(tmp_path, "m.jsonl", '{"a": 1}\n{"a": 2,}\n{"a": 3}\n')
    # Python 3.13's json points at the trailing comma (column 8); earlier versions at the
    # character after it (column 9). Either way the line and a column are named.
    err = fails(path, r"line 2, column [89]\b")
    assert "truncated" not in err.message


def test_json_array_in_a_jsonl_file_suggests_format(tmp_path):
    err = fails(write(tmp_path, "arr.jsonl", '[\n{"a": 1}\n]\n'), "line 1")
    assert "format='json'" in err.fix


# -- encoding -------------------------------------------------------------------------
def test_latin1_csv_names_line_and_byte_offset(tmp_path):
    path = write(tmp_path, "l.csv", "topic\nrain\ncaf\u00e9\n".encode("latin-1"))
    err = fails(path, r"line 3 is not valid UTF-8 \(byte 0xe9 at byte offset 14\)")
    assert "UTF-8" in err.fix and "latin" in err.fix


def test_latin1_jsonl_and_json(tmp_path):
    fails(
        write(tmp_path, "l.jsonl", '{"a": "ok"}\n{"a": "na\u00efve"}\n'.encode("latin-1")),
        "line 2 is not valid UTF-8",
    )
    fails(
        write(tmp_path, "l.json", '[\n{"a": "na\u00efve"}]'.encode("latin-1")),
        "line 2 is not valid UTF-8",
    )


def test_utf16_file(tmp_path):
    fails(write(tmp_path, "u.csv", "topic\nrain\n".encode("utf-16")), "UTF-16")


# -- values JSON cannot carry -----------------------------------------------------
def test_nan_in_jsonl_names_line_and_field(tmp_path):
    path = write(tmp_path, "n.jsonl", '{"a": 1}\n{"a": {"b": NaN}}\n')
    fails(path, r"line 2: field a\.b is NaN or Infinity")


def test_infinity_and_overflow_in_json_array(tmp_path):
    fails(write(tmp_path, "i.json", '[{"a": 1}, {"a": Infinity}]'), "row 2: field a")
    fails(write(tmp_path, "o.json", '[{"a": 1e999}]'), "row 1: field a")


def test_lone_surrogate_names_row_and_field(tmp_path):
    path = write(tmp_path, "s.jsonl", '{"a": "ok"}\n{"poem": {"text": "x\\ud83d"}}\n')
    fails(path, r"line 2: field poem\.text contains a lone surrogate")


def test_infinite_float_in_dataframe():
    fails(pd.DataFrame({"x": [1.0, float("inf")]}), "row 2: field x is infinite")


def test_unsupported_python_value_in_list():
    fails([{"a": 1}, {"a": object()}], "row 2: field a has a value of type object")


# -- structure ------------------------------------------------------------------------
def test_duplicate_csv_columns_are_named(tmp_path):
    err = fails(write(tmp_path, "d.csv", "topic,n,topic\na,1,b\n"), "duplicate column")
    assert "'topic'" in err.message


def test_duplicate_dataframe_columns():
    frame = pd.DataFrame([[1, 2]], columns=["topic", "topic"])
    fails(frame, "duplicate column name.*'topic'")


def test_ragged_csv_row_names_line(tmp_path):
    path = write(tmp_path, "r.csv", "a,b\n1,2\n\n3,4,5\n6,7\n")
    fails(path, r"line 4 has 3 cells but the header \(line 1\) has 2 columns")


def test_short_csv_row(tmp_path):
    fails(write(tmp_path, "r.csv", "a,b,c\n1,2,3\n4,5\n"), "line 3 has 2 cells")


def test_conflicting_dotted_columns(tmp_path):
    fails(write(tmp_path, "c.csv", "author,author.name\nx,y\n"), "conflicts with 'author.name'")
    fails(write(tmp_path, "e.csv", "author..name\nx\n"), "empty name part")


def test_jsonl_line_that_is_not_an_object(tmp_path):
    fails(write(tmp_path, "x.jsonl", '{"a": 1}\n[1, 2]\n'), "line 2 holds an array")


def test_json_array_element_that_is_not_an_object(tmp_path):
    fails(write(tmp_path, "x.json", '[{"a": 1}, "oops"]'), "row 2 of the array is a string")
    fails(write(tmp_path, "y.json", "42"), "holds a number")


def test_list_with_a_non_mapping():
    fails([{"a": 1}, ["not", "a", "dict"]], "row 2 is a list, not a mapping")


def test_not_parquet(tmp_path):
    fails(write(tmp_path, "p.parquet", b"PAR1 this is not parquet"), "not a readable Parquet")


# -- paths and arguments ----------------------------------------------------------
def test_missing_file_and_unknown_extension_and_folder(tmp_path):
    fails(tmp_path / "nope.csv", "does not exist")
    err = fails(write(tmp_path, "seeds.xlsx", b"x"), "cannot tell the format")
    assert "format=" in err.fix
    fails(tmp_path, "is a folder")
    fails(write(tmp_path, "a.jsonl", "{}\n"), "unknown seed format", format="xml")


def test_unsupported_object_and_bad_limit(tmp_path):
    fails(42, "cannot load seeds from a int")
    with pytest.raises(SeedError, match="positive number of rows"):
        load_seeds([{"a": 1}], limit=0)


def test_hf_dataset_dict_asks_for_a_split():
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"a": ["x"]})})
    err = fails(dd, "DatasetDict with splits 'train'")
    assert "ds['train']" in err.fix


def test_hf_folder_without_datasets_installed(tmp_path, monkeypatch):
    import sys

    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "dataset_info.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    err = fails(folder, "`datasets` package is not installed")
    assert err.fix == 'pip install "plotpalette[hf]"'


def test_scan_reports_the_same_errors(tmp_path):
    with pytest.raises(SeedFormatError, match="line 2 has 1 cells"):
        scan_seeds(write(tmp_path, "r.csv", "a,b\nonly\n"))


def test_errors_are_plot_palette_errors_with_codes(tmp_path):
    with pytest.raises(PlotPaletteError) as info:
        load_seeds(write(tmp_path, "e.jsonl", b""))
    assert info.value.to_dict()["code"] == "PP301"


def test_duplicate_keys_in_a_jsonl_object_name_line_and_key(tmp_path):
    # json.loads silently keeps the last value: "a" would vanish from the seed set
    path = write(tmp_path, "d.jsonl", '{"topic": "a"}\n\n{"topic": "a", "n": {"x": 1, "x": 2}}\n')
    error = fails(path, r"line 3: duplicate key 'x'")
    assert "keep only the last" in error.message


def test_duplicate_keys_in_a_json_array_name_the_key(tmp_path):
    fails(write(tmp_path, "d.json", '[{"topic": "a", "topic": "b"}]'), r"duplicate key 'topic'")


# -- class 1: input that makes the parser itself fail ---------------------------------
# Each case must be a SeedFormatError naming the file and the line/row, never a raw
# RecursionError or ValueError.
DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5_000  # beyond Python's 4,300-digit int/str conversion limit


def test_pathologically_nested_jsonl_line(tmp_path):
    path = write(tmp_path, "deep.jsonl", '{"a": 1}\n{"a": ' + DEEP + "}\n")
    err = fails(path, r"deep\.jsonl: line 2: JSON nested more than \d+ levels deep")
    assert "Flatten" in err.fix


def test_pathologically_nested_json_document(tmp_path):
    fails(write(tmp_path, "deep.json", DEEP), r"deep\.json: JSON nested more than")


def test_nested_objects_in_a_json_array_name_the_row(tmp_path):
    row = '{"a": ' * 300 + "1" + "}" * 300  # parses, but deeper than any seed row
    path = write(tmp_path, "rows.json", f'[{{"a": 1}}, {row}]')
    fails(path, r"rows\.json: row 2: JSON nested more than")


def test_integer_beyond_the_digit_limit_in_jsonl(tmp_path):
    path = write(tmp_path, "big.jsonl", '{"n": 1}\n\n{"n": ' + HUGE_INT + "}\n")
    err = fails(path, r"big\.jsonl: line 3: a number has more digits than Python converts")
    assert "strings" in err.fix


def test_integer_beyond_the_digit_limit_in_json(tmp_path):
    fails(write(tmp_path, "big.json", '[{"n": ' + HUGE_INT + "}]"), r"big\.json: a number has")


def test_deeply_nested_python_rows_name_the_row():
    row: dict = {}
    inner = row
    for _ in range(5_000):
        inner["a"] = {}
        inner = inner["a"]
    fails([{"a": 1}, row], r"row 2: the row nests too deeply")


def test_huge_python_integer_names_row_and_field():
    fails([{"n": 1}, {"n": 10**5000}], r"row 2: field n is an integer with more digits")


def test_parser_failures_are_the_same_in_scan_seeds(tmp_path):
    with pytest.raises(SeedFormatError, match=r"line 1: JSON nested more than"):
        scan_seeds(write(tmp_path, "deep.jsonl", DEEP + "\n"))


# -- class 2: special files and unbounded reads -----------------------------------------
@pytest.mark.parametrize("name", ["pipe.jsonl", "pipe.csv", "pipe.json", "pipe.parquet"])
def test_a_fifo_is_refused_not_read(tmp_path, name):
    import os

    path = tmp_path / name
    os.mkfifo(path)
    with pytest.raises(SeedFormatError, match=r"is a FIFO \(named pipe\), not a regular file"):
        finishes(load_seeds, path)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_link_to_a_character_device_is_refused(tmp_path, device):
    import os

    if not os.path.exists(device):
        pytest.skip(f"{device} not present")
    link = tmp_path / "seeds.jsonl"
    link.symlink_to(device)
    err = fails(link, r"seeds\.jsonl is a character device, not a regular file")
    assert "regular seed file" in err.fix


def test_a_folder_named_like_a_seed_file(tmp_path):
    (tmp_path / "rows.csv").mkdir()
    fails(tmp_path / "rows.csv", r"rows\.csv is a folder")


def test_a_symlink_loop_is_named_as_such(tmp_path):
    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    err = fails(tmp_path / "a.jsonl", "symbolic link loop")
    assert "does not exist" not in err.message


def test_a_dangling_symlink_names_its_target(tmp_path):
    (tmp_path / "s.jsonl").symlink_to(tmp_path / "gone.jsonl")
    fails(tmp_path / "s.jsonl", r"symbolic link to .*gone\.jsonl, which does not exist")


def test_a_line_longer_than_the_limit_is_refused(tmp_path, monkeypatch):
    from plotpalette.seeds import text_formats

    monkeypatch.setattr(text_formats, "MAX_LINE_BYTES", 1_000)
    path = write(tmp_path, "long.jsonl", '{"a": 1}\n{"a": "' + "x" * 5_000 + '"}\n')
    fails(path, r"long\.jsonl: line 2 is longer than 1,000 bytes")
    fails(write(tmp_path, "long.csv", "a\n" + "y" * 5_000 + "\n"), r"line 2 is longer")


def test_a_json_document_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    from plotpalette.seeds import text_formats

    monkeypatch.setattr(text_formats, "MAX_JSON_BYTES", 1_000)
    rows = "[" + ",".join(f'{{"a": {i}}}' for i in range(500)) + "]"
    err = fails(write(tmp_path, "big.json", rows), r"big\.json is larger than 1,000 bytes")
    assert "JSON Lines" in err.fix


def test_special_files_are_refused_by_scan_and_cli(tmp_path):
    import os

    from plotpalette.cli import main

    os.mkfifo(tmp_path / "pipe.jsonl")
    with pytest.raises(SeedFormatError, match="FIFO"):
        finishes(scan_seeds, tmp_path / "pipe.jsonl")
    code = finishes(main, ["seeds", "inspect", str(tmp_path / "pipe.jsonl")])
    assert code != 0
