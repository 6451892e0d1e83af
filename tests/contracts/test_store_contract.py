"""The Store contract, run unchanged over every implementation.

``local``: a folder. ``s3``: S3Store on moto's threaded server (real HTTP; moto enforces
S3's conditional writes, so put-if-absent and compare-and-swap are really exercised).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading

import pytest

from plotpalette.errors import WorkspaceError
from plotpalette.store import LocalStore, Store, store_from_url


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    bucket = request.getfixturevalue("s3_bucket")
    return store_from_url(f"s3://{bucket}/ws/team-a")


def test_implements_the_protocol(store):
    assert isinstance(store, Store)


def test_missing_key_reads_as_key_error(store):
    with pytest.raises(KeyError):
        store.read_bytes("jobs/nope/spec.json")
    assert store.stat("jobs/nope/spec.json") is None
    assert store.etag("jobs/nope/spec.json") is None
    assert not store.exists("jobs/nope/spec.json")


def test_write_replaces_atomically_and_reads_back(store):
    store.write_bytes("jobs/a/spec.json", b"one")
    store.write_bytes("jobs/a/spec.json", "zwei ✓".encode())
    assert store.read_bytes("jobs/a/spec.json") == "zwei ✓".encode()
    info = store.stat("jobs/a/spec.json")
    assert info is not None and info.key == "jobs/a/spec.json"
    assert info.size == len("zwei ✓".encode())


def test_create_is_put_if_absent(store):
    assert store.create("templates/t/v000001.yaml", b"first") is True
    assert store.create("templates/t/v000001.yaml", b"second") is False
    assert store.read_bytes("templates/t/v000001.yaml") == b"first"


def test_concurrent_creates_from_threads_have_one_winner(store):
    barrier = threading.Barrier(8)

    def claim(i: int) -> bool:
        barrier.wait()
        return store.create("claims/c1", str(i).encode())

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(8)))
    assert results.count(True) == 1
    assert store.read_bytes("claims/c1") == str(results.index(True)).encode()


def _create_in_child(url: str, env: dict[str, str], key: str, value: str, queue) -> None:
    os.environ.update(env)
    queue.put(store_from_url(url).create(key, value.encode()))


def test_concurrent_creates_from_processes_have_one_winner(store):
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_create_in_child, args=(store.url, env, "claims/p", str(i), queue))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(results) == [False, False, True]
    assert store.read_bytes("claims/p") in {b"0", b"1", b"2"}


def test_etag_changes_with_the_content(store):
    store.write_bytes("k", b"a")
    first = store.etag("k")
    store.write_bytes("k", b"b")
    second = store.etag("k")
    assert first and second and first != second


def test_replace_if_is_compare_and_swap(store):
    store.write_bytes("budget.json", b"100")
    seen = store.etag("budget.json")
    assert seen is not None
    new = store.replace_if("budget.json", b"90", seen)
    assert new is not None and new == store.etag("budget.json")
    assert store.replace_if("budget.json", b"80", seen) is None  # stale ETag loses
    assert store.read_bytes("budget.json") == b"90"
    assert store.replace_if("missing.json", b"1", seen) is None


def test_concurrent_compare_and_swap_loses_no_update(store):
    store.write_bytes("counter", b"0")

    def increment(_: int) -> int:
        tries = 0
        while True:
            tries += 1
            etag = store.etag("counter")
            value = int(store.read_bytes("counter"))
            if etag is not None and store.replace_if("counter", str(value + 1).encode(), etag):
                return tries

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(increment, range(30)))
    assert store.read_bytes("counter") == b"30"


def test_listing_is_by_string_prefix_in_key_order(store):
    for key in ["jobs/ab/x", "jobs/a/records/2", "jobs/a/records/1", "jobs/b/spec.json", "top"]:
        store.write_bytes(key, b".")
    assert store.list("jobs/a/") == ["jobs/a/records/1", "jobs/a/records/2"]
    assert store.list("jobs/a") == ["jobs/a/records/1", "jobs/a/records/2", "jobs/ab/x"]
    assert store.list() == sorted(
        ["jobs/ab/x", "jobs/a/records/1", "jobs/a/records/2", "jobs/b/spec.json", "top"]
    )
    assert store.list("nothing/") == []


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 1000])
def test_list_page_pages_through_every_key_once(store, limit):
    keys = [f"jobs/j/records/{i:04d}.jsonl" for i in range(7)]
    for key in reversed(keys):
        store.create(key, b"r")
    seen, token, pages = [], None, 0
    while True:
        page = store.list_page("jobs/j/records/", token, limit=limit)
        assert len(page.keys) <= limit
        seen += page.keys
        pages += 1
        if page.next_token is None:
            break
        token = page.next_token
    assert seen == keys
    assert pages == -(-len(keys) // limit)


def test_delete_and_delete_prefix(store):
    for key in ["jobs/a/1", "jobs/a/2", "jobs/a/sub/3", "jobs/b/1"]:
        store.write_bytes(key, b".")
    store.delete("jobs/a/1")
    store.delete("jobs/a/1")  # deleting a missing key is harmless
    assert store.delete_prefix("jobs/a/") == 2
    assert store.list() == ["jobs/b/1"]
    assert store.delete_prefix("jobs/none/") == 0


def test_writer_publishes_only_on_success(store):
    with store.open_writer("exports/data.csv") as fh:
        fh.write(b"a,b\n")
        fh.write(b"1,2\n")
        assert not store.exists("exports/data.csv")  # nothing visible before the end
    assert store.read_bytes("exports/data.csv") == b"a,b\n1,2\n"
    with pytest.raises(RuntimeError), store.open_writer("exports/other.csv") as fh:
        fh.write(b"half")
        raise RuntimeError("disk pulled")
    assert store.list("exports/") == ["exports/data.csv"]


def test_writer_streams_an_object_larger_than_one_part(store):
    chunk = bytes(range(256)) * 4096  # 1 MiB
    with store.open_writer("exports/big.bin") as fh:
        for _ in range(11):  # 11 MiB: more than one 8 MiB multipart part on S3
            fh.write(chunk)
        assert fh.tell() == 11 * len(chunk)
    data = store.read_bytes("exports/big.bin")
    assert len(data) == 11 * len(chunk) and data[: len(chunk)] == chunk
    with pytest.raises(RuntimeError), store.open_writer("exports/big2.bin") as fh:
        for _ in range(11):
            fh.write(chunk)
        raise RuntimeError("interrupted after a part was uploaded")
    assert store.list("exports/") == ["exports/big.bin"]


@pytest.mark.parametrize("key", ["", "../escape", "a/../../b", "/abs", "a//b", "a/.pp-tmp"])
def test_bad_keys_are_refused(store, key):
    with pytest.raises(WorkspaceError):
        store.write_bytes(key, b"x")


def test_url_reopens_the_same_objects(store):
    store.write_bytes("notes/a.txt", b"hello")
    again = store_from_url(store.url)
    assert again.read_bytes("notes/a.txt") == b"hello"
    assert again.location("notes/a.txt").endswith("a.txt")
