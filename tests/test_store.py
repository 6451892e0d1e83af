import threading

import pytest

from plotpalette.errors import WorkspaceError
from plotpalette.store import LocalStore, Store


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "s")


def test_is_a_store(store):
    assert isinstance(store, Store)


def test_write_read_list_delete(store):
    store.write_bytes("jobs/a/spec.json", b"1")
    store.write_bytes("jobs/a/records/0001.jsonl", b"2")
    store.write_bytes("jobs/b/spec.json", b"3")
    assert store.read_bytes("jobs/a/spec.json") == b"1"
    assert store.list("jobs/a") == ["jobs/a/records/0001.jsonl", "jobs/a/spec.json"]
    store.write_bytes("jobs/a/spec.json", b"new")
    assert store.read_bytes("jobs/a/spec.json") == b"new"
    store.delete("jobs/a")
    assert store.list("jobs") == ["jobs/b/spec.json"]
    with pytest.raises(KeyError):
        store.read_bytes("jobs/a/spec.json")


def test_create_never_overwrites(store):
    assert store.create("v/1", b"first") is True
    assert store.create("v/1", b"second") is False
    assert store.read_bytes("v/1") == b"first"


def test_concurrent_creates_have_exactly_one_winner(store):
    wins = []
    barrier = threading.Barrier(8)

    def claim(i):
        barrier.wait()
        if store.create("claim", str(i).encode()):
            wins.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert store.read_bytes("claim") == str(wins[0]).encode()


def test_interrupted_writer_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.open_writer("exports/data.csv") as fh:
        fh.write(b"half")
        raise RuntimeError("disk pulled")
    assert not store.exists("exports/data.csv")
    assert store.list("exports") == []


def test_finished_writer_publishes(store):
    with store.open_writer("exports/data.csv") as fh:
        fh.write(b"a,b\n")
    assert store.read_bytes("exports/data.csv") == b"a,b\n"


@pytest.mark.parametrize("key", ["", "../escape", "a/../../b", "/"])
def test_bad_keys_are_refused(store, key):
    with pytest.raises(WorkspaceError):
        store.write_bytes(key, b"x")
