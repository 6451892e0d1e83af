"""The embedded model generates real text offline (SmolLM2-135M via llama.cpp)."""

from __future__ import annotations

import asyncio
import socket
import time

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
    assert first.text.strip() and second.text.strip() and first.model == LOCAL_MODEL_ID
    # each call is decoded alone (its own decoder, or after the other): the seed
    # reproduces it, concurrent or not (calls batched in one context would round
    # differently: see local_batch)
    alone = [asyncio.run(backend.generate(request)).text for _ in range(2)]
    assert first.text == second.text == alone[0] == alone[1]
    assert 0 < first.usage.output_tokens <= 12
    assert first.usage.input_tokens >= backend.count_tokens("Name three colours.")
    assert backend.max_input_tokens(request) >= first.usage.input_tokens
    assert PriceTable.load().cost(first.model, first.usage) == 0.0
    assert backend.stats()[0].rpm >= 2


def test_calls_decoded_together_keep_their_own_limits_and_stops():
    # the calls share each llama.cpp step (local_batch); each still ends on its own terms
    backend = make_backend(Settings(backend="local"))
    short = ModelRequest.from_prompt("cheap", "Tell a long story.", max_tokens=3, seed=1)
    lines = ModelRequest.from_prompt(
        "cheap",
        "Write a poem of ten lines about rain.",
        max_tokens=80,
        temperature=0.7,
        seed=2,
        stop=["\n"],
    )
    greedy = ModelRequest.from_prompt(
        "cheap", "Count from 1 to 30.", max_tokens=40, temperature=0.0
    )

    async def together():
        return await asyncio.gather(*(backend.generate(r) for r in (short, lines, greedy)))

    a, b, c = asyncio.run(together())
    assert a.usage.output_tokens == 3 and a.stop_reason == "max_tokens" and a.text
    assert "\n" not in b.text and b.stop_reason == "end_turn"
    assert b.usage.output_tokens < 80
    assert "1" in c.text and 0 < c.usage.output_tokens <= 40
    assert a.usage.input_tokens != c.usage.input_tokens  # each its own prompt


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


# -- stop means stop: the engine keeps no queue of local calls ---------------------------


class CountingLocalBackend:
    """The real local backend, counting calls started and finished (the model's own
    view of the work; records settle only after their calls finish)."""

    def __init__(self) -> None:
        self.inner = make_backend(Settings(backend="local"))
        self.started = 0
        self.finished = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def generate(self, request):
        self.started += 1
        try:
            return await self.inner.generate(request)
        finally:
            self.finished += 1


@pytest.mark.parametrize("stop", ["cancel", "pause"])
def test_pause_and_cancel_on_the_local_model_let_only_the_decoding_calls_finish(tmp_path, stop):
    # the model decodes max_concurrency calls together (local_batch); those finish
    # together, within about one call's time: nothing queued behind them still runs
    from plotpalette.jobs import JobHandle, JobSpec
    from plotpalette.testing import qa_template, topic_seeds, until, workspace_with_template

    ws = workspace_with_template(tmp_path / "ws", qa_template("one", steps=1, max_tokens=(6, 6)))
    backend = CountingLocalBackend()
    spec = JobSpec(template="one", seeds=topic_seeds(40), records=40, concurrency=8)
    handle = JobHandle(ws, spec, backend=backend).start()
    assert until(lambda: backend.finished >= 2, timeout=120)
    getattr(handle, stop)()
    finished_at_stop = backend.finished
    if stop == "pause":
        time.sleep(1.0)  # a paused job stays RUNNING: give queued work every chance to run
        after = backend.finished
        handle.cancel()
    result = handle.wait(120)
    after = after if stop == "pause" else backend.finished
    in_flight = backend.max_concurrency
    assert in_flight < spec.concurrency
    assert after - finished_at_stop <= in_flight  # before: every queued call (8) still ran
    assert backend.started - finished_at_stop <= in_flight
    assert result.records_ok <= finished_at_stop + in_flight


def test_the_console_says_free_for_a_local_job(tmp_path):
    from plotpalette.jobs import JobSpec, run_job
    from plotpalette.testing import qa_template, topic_seeds, workspace_with_template
    from plotpalette.ui import JobConsole, JobsTable

    ws = workspace_with_template(tmp_path / "ws", qa_template("one", steps=1, max_tokens=(4, 4)))
    spec = JobSpec(template="one", seeds=topic_seeds(1), records=1, backend="local")
    result = run_job(ws, spec)
    console = JobConsole(result.job_id, workspace=ws, watch=False)
    assert console.spend_label.value == "free (local model)"  # not "$0.0000 of no limit"
    assert console.records_grid.data["cost"].tolist() == ["free"]  # not "$0.0000"
    table = JobsTable(workspace=ws)
    assert table.grid.data["spend"].tolist() == ["free (local model)"]
    table.close()
