"""How many threads and slots the embedded model uses (no model needed)."""

from __future__ import annotations

import os

import pytest

from plotpalette.llm import local_speed


@pytest.fixture
def two_cores(monkeypatch):
    for env in (
        "PLOTPALETTE_LLAMA_THREADS",
        "PLOTPALETTE_LLAMA_DECODE_THREADS",
        "PLOTPALETTE_LOCAL_DECODERS",
        "PLOTPALETTE_LOCAL_BATCH",
    ):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)


def test_decoding_uses_one_thread_while_cores_are_free_and_all_when_they_are_busy(
    two_cores, monkeypatch
):
    monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 1.0, 0.5))  # our own job, idle box
    assert local_speed.threads() == 2 and local_speed.decode_threads() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (7.5, 6.0, 4.0))  # five others computing
    assert local_speed.decode_threads() == 2  # a thread is a share of the CPU now


def test_environment_overrides_threads_and_slots(two_cores, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    monkeypatch.setenv("PLOTPALETTE_LLAMA_DECODE_THREADS", "1")
    assert local_speed.decode_threads() == 1
    monkeypatch.setenv("PLOTPALETTE_LLAMA_THREADS", "3")
    monkeypatch.delenv("PLOTPALETTE_LLAMA_DECODE_THREADS")
    assert local_speed.threads() == 3 and local_speed.decode_threads() == 3
    monkeypatch.setenv("PLOTPALETTE_LOCAL_BATCH", "2")
    assert local_speed.slots() == 2
    monkeypatch.setenv("PLOTPALETTE_LOCAL_BATCH", "lots")  # not a number: the default
    assert local_speed.slots() == 1


def test_one_decoder_per_core_each_running_one_call(two_cores, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    assert local_speed.decoders() == 2 and local_speed.slots() == 1
    monkeypatch.setenv("PLOTPALETTE_LOCAL_DECODERS", "1")
    assert local_speed.decoders() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    monkeypatch.delenv("PLOTPALETTE_LOCAL_DECODERS")
    assert local_speed.decoders() == 4  # capped: each holds its own KV cache (~90 MB)
