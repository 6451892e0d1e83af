"""Every seed source loads to the same rows and the same content hash."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from plotpalette.errors import SeedFormatError
from plotpalette.seeds import SeedSet, load_seeds, scan_seeds

# The same three rows written by hand in each format below.
JSONL = (
    '{"topic": "rain", "author": {"name": "Ada", "born": "1815"}, "note": "NA"}\n'
    '{"topic": "tides\\nat night", "author": {"name": "Bo", "born": "1901"}, "note": ""}\n'
    '{"topic": "caf\u00e9 \U0001f375", "author": {"name": "C, Jr.", "born": "007"}, '
    '"note": "null"}\n'
)
CSV = (
    "topic,author.name,author.born,note\n"
    "rain,Ada,1815,NA\n"
    '"tides\nat night",Bo,1901,\n'
    'caf\u00e9 \U0001f375,"C, Jr.",007,null\n'
)
TSV = (
    "topic\tauthor.name\tauthor.born\tnote\n"
    "rain\tAda\t1815\tNA\n"
    '"tides\nat night"\tBo\t1901\t\n'
    "caf\u00e9 \U0001f375\tC, Jr.\t007\tnull\n"
)
JSON_ARRAY = json.dumps([json.loads(line) for line in JSONL.splitlines()], indent=2)


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, text in [
        ("s.jsonl", JSONL),
        ("s.csv", CSV),
        ("s.tsv", TSV),
        ("s.json", JSON_ARRAY),
    ]:
        paths[name] = tmp_path / name
        paths[name].write_text(text, encoding="utf-8")
    return paths


def test_csv_jsonl_json_tsv_give_the_same_rows_and_hash(files):
    loaded = {name: load_seeds(path) for name, path in files.items()}
    reference = loaded["s.jsonl"]
    assert len(reference) == 3
    for name, seeds in loaded.items():
        assert seeds.rows == reference.rows, name
        assert seeds.sha256 == reference.sha256, name
    assert {s.format for s in loaded.values()} == {"jsonl", "csv", "json", "tsv"}


def test_csv_dotted_columns_nest_and_cells_stay_strings(files):
    seeds = load_seeds(files["s.csv"])
    assert seeds[0]["author"] == {"name": "Ada", "born": "1815"}
    assert seeds[0]["note"] == "NA"  # pandas would have made this NaN
    assert seeds[2]["note"] == "null"
    assert seeds[2]["author"]["born"] == "007"  # not the number 7
    assert seeds[1]["note"] == ""
    assert seeds.fields() == ["author.born", "author.name", "note", "topic"]


def test_row_numbers_are_physical_lines(files):
    # The CSV's second record spans lines 3-4, so the third starts on line 5.
    assert load_seeds(files["s.csv"]).row_numbers == [2, 3, 5]
    assert load_seeds(files["s.jsonl"]).row_numbers == [1, 2, 3]
    assert load_seeds(files["s.json"]).unit == "row"


def test_blank_jsonl_lines_are_skipped_but_counted(tmp_path):
    path = tmp_path / "gaps.jsonl"
    path.write_text('\n{"topic": "a"}\n\n  \n{"topic": "b"}\n')
    seeds = load_seeds(path)
    assert seeds.row_numbers == [2, 5]
    assert seeds.where(1) == "line 5"


def test_utf8_bom_is_not_part_of_the_first_column(tmp_path, files):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV.encode("utf-8"))
    assert load_seeds(path).sha256 == load_seeds(files["s.csv"]).sha256


def test_json_single_object_and_rows_container(tmp_path):
    one = tmp_path / "one.json"
    one.write_text('{"topic": "rain", "rows": 3}')
    seeds = load_seeds(one)
    assert seeds.rows == [{"topic": "rain", "rows": 3}]
    boxed = tmp_path / "boxed.json"
    boxed.write_text('{"rows": [{"topic": "rain"}, {"topic": "sea"}]}')
    assert [r["topic"] for r in load_seeds(boxed)] == ["rain", "sea"]


def test_dataframe_round_trip_keeps_hash_and_nests_dotted_columns(files):
    seeds = load_seeds(files["s.jsonl"])
    frame = seeds.to_pandas()
    assert "author.name" in frame.columns
    again = load_seeds(frame)
    assert again.format == "dataframe"
    assert again.rows == seeds.rows
    assert again.sha256 == seeds.sha256


def test_dataframe_missing_values_and_numpy_types_become_json():
    frame = pd.DataFrame(
        {
            "topic": ["a", None, "c"],
            "n": [1.5, float("nan"), 3.0],
            "k": pd.array([1, None, 3], dtype="Int64"),
            "when": pd.to_datetime(["2024-01-02", None, "2024-03-04"]),
        }
    )
    seeds = load_seeds(frame)
    assert seeds[0] == {"topic": "a", "n": 1.5, "k": 1, "when": "2024-01-02T00:00:00"}
    assert seeds[1] == {"topic": None, "n": None, "k": None, "when": None}
    assert type(seeds[2]["k"]) is int


def test_list_of_dicts_keeps_keys_as_written():
    seeds = load_seeds([{"topic": "rain", "author.name": "kept flat"}, {"topic": "sea"}])
    assert seeds.format == "list"
    assert seeds[0]["author.name"] == "kept flat"
    assert len(seeds) == 2


def test_same_rows_from_list_and_jsonl_share_a_hash(files):
    rows = [json.loads(line) for line in JSONL.splitlines()]
    assert load_seeds(rows).sha256 == load_seeds(files["s.jsonl"]).sha256
    # key order does not matter for the canonical form
    reordered = [dict(reversed(list(r.items()))) for r in rows]
    assert load_seeds(reordered).sha256 == load_seeds(rows).sha256
    assert load_seeds(rows[:2]).sha256 != load_seeds(rows).sha256


def test_parquet_round_trip_with_nested_struct_and_dotted_columns(tmp_path, files):
    seeds = load_seeds(files["s.jsonl"])
    flat = tmp_path / "flat.parquet"
    seeds.to_pandas().to_parquet(flat)
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.Table.from_pylist(seeds.rows), nested)
    for path in (flat, nested):
        again = load_seeds(path)
        assert again.rows == seeds.rows
        assert again.sha256 == seeds.sha256


def _parquet_with_damaged_last_group(tmp_path):
    table = pa.table({"topic": [f"topic {i} " * 6 for i in range(40)]})
    path = tmp_path / "groups.parquet"
    pq.write_table(table, path, row_group_size=10, compression="snappy")
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(3).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    for i in range(start + 20, start + column.total_compressed_size - 5):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def test_parquet_streams_by_row_group(tmp_path):
    # Only the last of four row groups is damaged: a limited load never reads it,
    # a full load reports which group is broken.
    path = _parquet_with_damaged_last_group(tmp_path)
    first = load_seeds(path, limit=25)
    assert len(first) == 25
    assert first[24]["topic"].startswith("topic 24 ")
    with pytest.raises(SeedFormatError, match="row group 3"):
        load_seeds(path)


def test_hf_dataset_and_saved_folder(tmp_path, files):
    datasets = pytest.importorskip("datasets")
    seeds = load_seeds(files["s.jsonl"])
    ds = datasets.Dataset.from_pandas(seeds.to_pandas())
    from_ds = load_seeds(ds)
    assert from_ds.format == "hf"
    assert from_ds.sha256 == seeds.sha256
    ds.save_to_disk(str(tmp_path / "saved"))
    assert load_seeds(tmp_path / "saved").sha256 == seeds.sha256


def test_limit_keeps_first_rows_and_hashes_only_those(files):
    two = load_seeds(files["s.csv"], limit=2)
    assert [r["topic"] for r in two] == ["rain", "tides\nat night"]
    assert two.sha256 == load_seeds(load_seeds(files["s.jsonl"]).rows[:2]).sha256


def test_scan_streams_the_same_hash_and_fields(files):
    scan = scan_seeds(files["s.csv"])
    seeds = load_seeds(files["s.csv"])
    assert (scan.rows, scan.sha256, scan.fields) == (3, seeds.sha256, seeds.fields())


def test_fields_lists_items_of_lists_of_mappings():
    seeds = load_seeds([{"lines": [{"speaker": "A", "text": "hi"}], "tags": ["x"]}])
    assert seeds.fields() == ["lines", "lines[].speaker", "lines[].text", "tags"]


def test_format_override_for_an_unusual_extension(tmp_path):
    path = tmp_path / "seeds.txt"
    path.write_text('{"topic": "rain"}\n')
    assert load_seeds(path, format="jsonl")[0] == {"topic": "rain"}


def test_seedset_is_a_sequence(files):
    seeds = load_seeds(files["s.jsonl"])
    assert isinstance(seeds, SeedSet)
    assert [r["author"]["name"] for r in seeds] == ["Ada", "Bo", "C, Jr."]
    assert "3 rows" in repr(seeds)
