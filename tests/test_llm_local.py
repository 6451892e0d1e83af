"""The embedded model generates real text offline (SmolLM2-135M via llama.cpp)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from plotpalette.config import Settings
from plotpalette.errors import ModelRequestError
from plotpalette.llm import LOCAL_MODEL_ID, ModelRequest, PriceTable, make_backend
from plotpalette.llm.local_files import llama_cpp_available, local_model_file

pytestmark = pytest.mark.skipif(
    local_model_file() is None or not llama_cpp_available(),
    reason="embedded model not installed (plotpalette[local])",
)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the local backend tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_generates_text_offline_with_real_usage_and_seed(no_network):
    backend = make_backend(Settings(backend="local"))
    assert backend.resolve_model("premium") == LOCAL_MODEL_ID
    assert backend.resolve_model("amazon.nova-micro-v1:0") == LOCAL_MODEL_ID
    request = ModelRequest.from_prompt(
        "cheap", "Name three colours.", max_tokens=12, temperature=0.8, seed=11
    )

    async def both():
        return await asyncio.gather(backend.generate(request), backend.generate(request))

    first, second = asyncio.run(both())  # concurrent calls share one model safely
    assert first.text.strip() and first.model == LOCAL_MODEL_ID
    assert first.text == second.text  # the seed makes sampling reproducible
    assert 0 < first.usage.output_tokens <= 12
    assert first.usage.input_tokens >= backend.count_tokens("Name three colours.")
    assert backend.max_input_tokens(request) >= first.usage.input_tokens
    assert PriceTable.load().cost(first.model, first.usage) == 0.0
    assert backend.stats()[0].rpm >= 2


def test_structured_output_uses_a_grammar():
    backend = make_backend(Settings(backend="local"))
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string"}},
        "required": ["colour"],
    }
    out = asyncio.run(
        backend.generate(
            ModelRequest.from_prompt(
                "cheap", "Give a colour as JSON.", max_tokens=40, seed=1, json_schema=schema
            )
        )
    )
    if out.stop_reason == "end_turn":
        assert isinstance(out.parsed_json, dict) and "colour" in out.parsed_json


def test_bad_local_requests_are_clear_errors():
    backend = make_backend(Settings(backend="local"))
    with pytest.raises(ModelRequestError, match="max_tokens"):
        asyncio.run(backend.generate(ModelRequest.from_prompt("cheap", "x", max_tokens=0)))
    with pytest.raises(ModelRequestError, match="json_schema"):
        asyncio.run(
            backend.generate(ModelRequest.from_prompt("cheap", "x", json_schema={"type": 3}))
        )
    with pytest.raises(ModelRequestError, match="too long"):
        asyncio.run(
            backend.generate(ModelRequest.from_prompt("cheap", "word " * 5000, max_tokens=10))
        )


def test_counting_tokens_does_not_wait_for_a_running_generation():
    # The job engine sizes each budget reservation with max_input_tokens() on the event
    # loop thread while other records generate in worker threads: counting must not
    # queue behind inference, or the loop (pause, cancel, the console) freezes.
    import threading
    import time

    backend = make_backend(Settings(backend="local"))
    backend.count_tokens("warm up")
    request = ModelRequest.from_prompt(
        "cheap", "Write a long story about the sea.", max_tokens=200, temperature=0.8, seed=3
    )
    worker = threading.Thread(target=backend._generate_sync, args=(request,))
    worker.start()
    time.sleep(0.2)  # the generation holds the model now
    start = time.perf_counter()
    assert backend.count_tokens("How long does counting take?") > 0
    waited = time.perf_counter() - start
    alive = worker.is_alive()
    worker.join()
    assert alive, f"counting waited {waited:.2f} s, until the generation had finished"
