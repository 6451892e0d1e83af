"""The registry tables contract, run against every implementation.

Add an implementation by adding a param to the ``tables`` fixture (the tests stay
unchanged). Each param yields fresh, empty tables whose ``url`` another process can
open with :func:`plotpalette.tables.tables_from_url`.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from plotpalette.errors import ConflictError, WorkspaceError
from plotpalette.tables import (
    MAX_ITEM_BYTES,
    SQLiteTables,
    Tables,
    iter_items,
    iter_log,
    tables_from_url,
    update,
)


@pytest.fixture(params=["sqlite", "dynamodb"])
def tables(request, tmp_path):
    if request.param == "sqlite":
        t = SQLiteTables(tmp_path / "registry.sqlite")
    else:  # DynamoDB on moto's threaded server (real HTTP, fake credentials)
        from plotpalette.aws.dynamo import DynamoTables, create_table
        from plotpalette.aws.moto_server import unique_name

        server = request.getfixturevalue("aws_env")
        name = unique_name("pp-registry")
        create_table(server.client("dynamodb"), name)
        t = DynamoTables(name)
    yield t
    t.close()


def test_implements_the_protocol(tables):
    assert isinstance(tables, Tables)
    assert tables.url


def test_create_twice_keeps_the_first(tables):
    first = tables.create("job", "j1", {"n": 1})
    assert first is not None and first.version == 1 and first.data == {"n": 1}
    assert tables.create("job", "j1", {"n": 2}) is None
    got = tables.get("job", "j1")
    assert got is not None and got.data == {"n": 1} and got.version == 1


def test_kinds_are_separate_namespaces(tables):
    assert tables.create("job", "x", {"a": 1}) is not None
    assert tables.create("unit", "x", {"b": 2}) is not None
    assert tables.get("job", "x").data == {"a": 1}
    assert tables.get("unit", "x").data == {"b": 2}
    assert tables.get("budget", "x") is None


def test_replace_is_compare_and_swap(tables):
    tables.create("job", "j1", {"n": 1})
    second = tables.replace("job", "j1", {"n": 2}, version=1)
    assert second is not None and second.version == 2 and second.data == {"n": 2}
    assert tables.replace("job", "j1", {"n": 3}, version=1) is None  # stale version
    assert tables.get("job", "j1").data == {"n": 2}
    assert tables.replace("job", "missing", {"n": 1}, version=1) is None


def test_delete_with_and_without_version(tables):
    tables.create("job", "a", {})
    tables.create("job", "b", {})
    tables.replace("job", "a", {"x": 1}, version=1)
    assert tables.delete("job", "a", version=1) is False
    assert tables.get("job", "a") is not None
    assert tables.delete("job", "a", version=2) is True
    assert tables.get("job", "a") is None
    assert tables.delete("job", "b") is True
    assert tables.delete("job", "b") is False
    assert tables.create("job", "b", {"again": True}).version == 1


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
def test_query_prefix_in_key_order_with_paging(tables, limit):
    keys = ["j1/u0003", "j1/u0001", "j10/u0001", "j1/u0002", "j2/u0001", "j1"]
    for k in keys:
        tables.create("unit", k, {"k": k})
    tables.create("job", "j1/u0009", {})  # other kind: never returned
    seen, token, pages = [], None, 0
    while True:
        page = tables.query("unit", "j1/", limit=limit, token=token)
        assert len(page.items) <= limit
        seen += [i.key for i in page.items]
        assert all(i.data == {"k": i.key} and i.version == 1 for i in page.items)
        pages += 1
        if page.next_token is None:
            break
        token = page.next_token
    assert seen == ["j1/u0001", "j1/u0002", "j1/u0003"]
    assert pages == -(-3 // limit)
    everything = [i.key for i in iter_items(tables, "unit", page=limit)]
    assert everything == sorted(keys)


def test_query_of_nothing(tables):
    page = tables.query("unit", "nope/")
    assert page.items == [] and page.next_token is None


def test_append_is_idempotent_and_read_back_in_order(tables):
    assert tables.append("ledger", "j1/w1/L2", {"usd": 0.5}) is True
    assert tables.append("ledger", "j1/w1/L1", {"usd": 0.25}) is True
    assert tables.append("ledger", "j1/w1/L1", {"usd": 99.0}) is False
    assert tables.append("events", "j1/w1/L1", {"e": 1}) is True  # other log
    entries = list(iter_log(tables, "ledger", "j1/", page=1))
    assert [(e.key, e.data["usd"], e.version) for e in entries] == [
        ("j1/w1/L1", 0.25, 1),
        ("j1/w1/L2", 0.5, 1),
    ]
    page = tables.read_log("ledger", "j1/", limit=1)
    assert len(page.items) == 1 and page.next_token is not None
    # logs and items do not share a namespace
    assert tables.get("ledger", "j1/w1/L1") is None


def test_json_round_trip(tables):
    data = {
        "usd": 0.1 + 0.2,
        "tiny": 1e-12,
        "big": 2**53,
        "neg": -3,
        "flag": False,
        "none": None,
        "text": "naïve — 日本語 🎨",
        "nested": {"list": [1, 2.5, {"a": [None, True]}], "empty": {}},
    }
    tables.create("job", "rt", data)
    assert tables.get("job", "rt").data == data
    tables.append("events", "rt", data)
    assert next(iter_log(tables, "events")).data == data


def test_large_items_are_refused_with_a_clear_error(tables):
    with pytest.raises(WorkspaceError, match="limit") as info:
        tables.create("job", "big", {"blob": "x" * (MAX_ITEM_BYTES + 1)})
    assert "object store" in info.value.fix
    assert tables.get("job", "big") is None
    tables.create("job", "ok", {"blob": "x" * (MAX_ITEM_BYTES - 100)})
    with pytest.raises(WorkspaceError, match="limit"):
        tables.replace("job", "ok", {"blob": "y" * (MAX_ITEM_BYTES + 1)}, version=1)
    with pytest.raises(WorkspaceError, match="limit"):
        tables.append("events", "big", {"blob": "x" * (MAX_ITEM_BYTES + 1)})


def test_non_json_data_is_refused(tables):
    with pytest.raises(WorkspaceError, match="JSON"):
        tables.create("job", "bad", {"x": object()})
    with pytest.raises(WorkspaceError, match="JSON"):
        tables.create("job", "nan", {"x": float("nan")})


def test_update_helper_retries_and_aborts(tables):
    tables.create("budget", "j1", {"spent": 0})
    assert update(tables, "budget", "missing", lambda d: d) is None
    assert update(tables, "budget", "j1", lambda d: None) is None
    assert tables.get("budget", "j1").version == 1
    got = update(tables, "budget", "j1", lambda d: {**d, "spent": d["spent"] + 1})
    assert got.data == {"spent": 1} and got.version == 2


def test_update_gives_up_with_conflict_error():
    class AlwaysLoses(SQLiteTables):
        def replace(self, kind, key, data, *, version):
            return None

    t = AlwaysLoses(":memory:")
    t.create("job", "j", {})
    with pytest.raises(ConflictError):
        update(t, "job", "j", lambda d: d, retries=3)


def test_concurrent_cas_from_threads_has_one_winner_per_round(tables):
    tables.create("job", "race", {"n": 0})
    rounds, workers = 20, 6
    wins = [[] for _ in range(rounds)]
    barrier = threading.Barrier(workers)

    def run(me: int) -> None:
        for r in range(rounds):
            barrier.wait()
            item = tables.get("job", "race")
            barrier.wait()  # everyone has read the same version before anyone writes
            won = tables.replace("job", "race", {"n": item.data["n"] + 1}, version=item.version)
            if won is not None:
                wins[r].append(me)
            barrier.wait()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(w) == 1 for w in wins)
    item = tables.get("job", "race")
    assert item.data["n"] == rounds and item.version == rounds + 1


def test_concurrent_update_from_threads_loses_no_increment(tables):
    tables.create("budget", "b", {"spent": 0})

    def run() -> None:
        for _ in range(25):
            update(tables, "budget", "b", lambda d: {"spent": d["spent"] + 1})

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    item = tables.get("budget", "b")
    assert item.data["spent"] == 100 and item.version == 101


def _bump_in_child(url: str, n: int, queue) -> None:  # pragma: no cover - runs in a child
    t = tables_from_url(url)
    created = 0
    for i in range(n):
        update(t, "budget", "shared", lambda d: {"spent": d["spent"] + 1})
        if t.create("unit", f"u{i:04d}", {"by": "child"}) is not None:
            created += 1
    t.close()
    queue.put(created)


def test_concurrent_writes_from_processes(tables):
    tables.create("budget", "shared", {"spent": 0})
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_bump_in_child, args=(tables.url, 30, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    created = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert tables.get("budget", "shared").data["spent"] == 90
    assert sum(created) == 30  # each unit created by exactly one process
    assert len(list(iter_items(tables, "unit"))) == 30


def test_reopened_tables_see_the_same_data(tables):
    tables.create("job", "persist", {"v": 1})
    other = tables_from_url(tables.url)
    try:
        assert other.get("job", "persist").data == {"v": 1}
        assert other.replace("job", "persist", {"v": 2}, version=1) is not None
    finally:
        other.close()
    assert tables.get("job", "persist").data == {"v": 2}


def test_bad_page_token_and_limit(tables):
    with pytest.raises(WorkspaceError):
        tables.query("unit", limit=0)
    with pytest.raises(WorkspaceError):
        tables.query("unit", token="@@not-a-token@@")


def test_unknown_url_is_refused():
    with pytest.raises(WorkspaceError, match="unknown registry tables"):
        tables_from_url("ftp://nowhere")
