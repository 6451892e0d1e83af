"""Batched decoding for the embedded model: the calls of several records share each step.

Why: the README's job spends about two thirds of its time decoding, and decoding one
token of one sequence reads every weight of the model (~145 MB as ``Q8_0``) for one row
of arithmetic, so it is bound by memory bandwidth. Decoding the next token of several
sequences in one ``llama_decode`` reads the weights once for all of them (see
:mod:`.local_speed` for the figures).

One thread owns a llama.cpp context with one KV-cache sequence per slot (a unified
cache sized ``n_ctx``). Calls arrive from any thread and wait on a future. Each step
feeds, in one batch, the next token of every generating sequence plus prompt chunks of
newly admitted ones; each sequence then samples from its own logits with its own
sampler chain: the chain and defaults of llama-cpp-python's ``create_chat_completion``
(top-k 40, typical 1.0, top-p 0.95, min-p 0.05, temperature 0.2 unless given, then the
seeded draw), so a template behaves as before. One difference: a seed reproduces a call
exactly only when it decodes alone; beside other calls the batch's arithmetic rounds
differently, so the sampled tokens can differ from run to run
(so the default is one sequence, :func:`~.local_speed.slots`; ``PLOTPALETTE_LOCAL_BATCH``
above 1 trades reproducibility for a little speed). A sequence is admitted only when the
cache has room for its prompt plus ``max_tokens``, so no step runs out of cache.

Prompt steps run with the batch thread count, decode-only steps with the decode thread
count (:func:`.local_speed.decode_threads`, asked again every few seconds as it follows
the machine's load).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchDecoder", "Completion", "SamplingParams"]

N_BATCH = 512  # tokens per llama_decode (prompt chunks beyond it run in later steps)
DEFAULT_TEMPERATURE = 0.2  # create_chat_completion's default
THREADS_EVERY_S = 5.0  # how often the decode thread count follows the machine's load


@dataclass(frozen=True)
class SamplingParams:
    """How one call samples and when it stops."""

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    """One call's result: the text, token counts and why it ended."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of turn or a stop string) or "length"


@dataclass(eq=False)
class _Sequence:
    prompt: list[int]
    params: SamplingParams
    future: Future[Completion]
    sampler: Any = None
    slot: int = -1
    fed: int = 0  # prompt tokens already in the cache
    next_token: int = -1
    generated: int = 0
    text: bytearray = field(default_factory=bytearray)

    @property
    def reserve(self) -> int:
        return len(self.prompt) + self.params.max_tokens


class BatchDecoder:
    """Runs chat calls on ``llm``'s weights, up to ``slots`` of them decoded together."""

    def __init__(
        self,
        llm: Any,
        *,
        slots: int,
        n_ctx: int,
        decode_threads: Callable[[], int],
        batch_threads: int,
    ) -> None:
        import llama_cpp.llama_cpp as lib
        from llama_cpp import _internals

        self._lib = lib
        self._model = llm._model
        self.slots = max(1, slots)
        self.n_ctx = n_ctx
        self._decode_threads = decode_threads  # asked again every few seconds (the load)
        self._threads = (max(1, decode_threads()), max(1, batch_threads))
        self._threads_at = time.monotonic()
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = N_BATCH
        params.n_seq_max = self.slots
        params.kv_unified = True  # one cache shared by the slots, not n_ctx / slots each
        params.n_threads, params.n_threads_batch = self._threads[1], self._threads[1]
        self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._batch = _internals.LlamaBatch(n_tokens=N_BATCH, embd=0, n_seq_max=1, verbose=False)
        self._memory = lib.llama_get_memory(self._ctx.ctx)
        self._vocab = lib.llama_model_get_vocab(self._model.model)
        self._cond = threading.Condition()
        self._waiting: collections.deque[_Sequence] = collections.deque()
        self._active: list[_Sequence] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="plotpalette-local", daemon=True)
        self._thread.start()

    # -- callers' side -------------------------------------------------------------------
    def submit(self, prompt: list[int], params: SamplingParams) -> Future[Completion]:
        """Queue a call (``prompt`` are chat-formatted tokens, shorter than ``n_ctx``)."""
        if not 0 < len(prompt) < self.n_ctx:
            raise ValueError(f"a prompt of {len(prompt)} tokens does not fit {self.n_ctx}")
        # like create_chat_completion: the output is cut to the room left in the context
        room = min(params.max_tokens, self.n_ctx - len(prompt))
        params = SamplingParams(room, params.temperature, params.top_p, params.seed, params.stop)
        sequence = _Sequence(prompt=prompt, params=params, future=Future())
        with self._cond:
            if self._closed:
                raise RuntimeError("the embedded model was closed")
            self._waiting.append(sequence)
            self._cond.notify()
        return sequence.future

    @property
    def load(self) -> int:
        """Calls queued or decoding here (a new call goes to the least loaded decoder)."""
        with self._cond:
            return len(self._waiting) + len(self._active)

    def close(self) -> None:
        """Stop the decoding thread (calls still queued fail) and free the context."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self._batch.close()
        self._ctx.close()

    # -- the decoding thread -------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._waiting and not self._active:
                    self._cond.wait()
                if self._closed:
                    self._fail([*self._waiting, *self._active], RuntimeError("model closed"))
                    self._waiting.clear()
                    return
                self._admit()
            try:
                self._step()
            except Exception as exc:  # a llama.cpp failure fails the calls, not the thread
                self._fail(list(self._active), exc)

    def _admit(self) -> None:
        """Move waiting calls into free slots while the cache has room for them."""
        used = {s.slot for s in self._active}
        reserved = sum(s.reserve for s in self._active)
        while self._waiting and len(self._active) < self.slots:
            sequence = self._waiting[0]
            if self._active and reserved + sequence.reserve > self.n_ctx:
                break
            self._waiting.popleft()
            sequence.slot = min(set(range(self.slots)) - used)
            sequence.sampler = self._sampler(sequence.params)
            used.add(sequence.slot)
            reserved += sequence.reserve
            self._active.append(sequence)

    def _step(self) -> None:
        batch = self._batch.batch
        count = 0
        sample_at: list[tuple[_Sequence, int]] = []

        def put(token: int, pos: int, slot: int, logits: bool) -> None:
            nonlocal count
            batch.token[count], batch.pos[count] = token, pos
            batch.seq_id[count][0], batch.n_seq_id[count] = slot, 1
            batch.logits[count] = logits
            count += 1

        for seq in self._active:  # one token each for the sequences already generating
            if seq.fed == len(seq.prompt):
                sample_at.append((seq, count))
                put(seq.next_token, len(seq.prompt) + seq.generated - 1, seq.slot, True)
        decoding_only = True
        for seq in self._active:  # then prompt chunks, in the room left in this batch
            take = min(len(seq.prompt) - seq.fed, N_BATCH - count)
            if take <= 0:
                continue
            decoding_only = False
            for i in range(seq.fed, seq.fed + take):
                put(seq.prompt[i], i, seq.slot, i == len(seq.prompt) - 1)
            seq.fed += take
            if seq.fed == len(seq.prompt):
                sample_at.append((seq, count - 1))
        batch.n_tokens = count
        if time.monotonic() - self._threads_at > THREADS_EVERY_S:
            self._threads = (max(1, self._decode_threads()), self._threads[1])
            self._threads_at = time.monotonic()
        threads = self._threads[0] if decoding_only else self._threads[1]
        self._lib.llama_set_n_threads(self._ctx.ctx, threads, threads)
        status = self._lib.llama_decode(self._ctx.ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        for seq, index in sample_at:
            token = self._lib.llama_sampler_sample(seq.sampler.sampler, self._ctx.ctx, index)
            self._advance(seq, token)

    def _advance(self, seq: _Sequence, token: int) -> None:
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            self._finish(seq, "stop")
            return
        seq.generated += 1
        seq.next_token = token
        seq.text += self._model.detokenize([token], special=False)
        if seq.params.stop:
            text = seq.text.decode("utf-8", "ignore")
            cuts = [i for i in (text.find(s) for s in seq.params.stop) if i >= 0]
            if cuts:
                seq.text = bytearray(text[: min(cuts)].encode("utf-8"))
                self._finish(seq, "stop")
                return
        if seq.generated >= seq.params.max_tokens:
            self._finish(seq, "length")

    def _finish(self, seq: _Sequence, reason: str) -> None:
        self._release(seq)
        text = seq.text.decode("utf-8", "ignore")
        seq.future.set_result(Completion(text, len(seq.prompt), seq.generated, reason))

    def _fail(self, sequences: list[_Sequence], exc: BaseException) -> None:
        for seq in sequences:
            if seq in self._active:
                self._release(seq)
            if not seq.future.done():
                seq.future.set_exception(exc)

    def _release(self, seq: _Sequence) -> None:
        self._lib.llama_memory_seq_rm(self._memory, seq.slot, -1, -1)
        self._active.remove(seq)
        if seq.sampler is not None:
            seq.sampler.close()

    def _sampler(self, params: SamplingParams) -> Any:
        """create_chat_completion's chain (penalties are off by default there too)."""
        from llama_cpp import _internals

        sampler = _internals.LlamaSampler()
        temperature = DEFAULT_TEMPERATURE if params.temperature is None else params.temperature
        if temperature == 0.0:
            sampler.add_greedy()
            return sampler
        seed = self._lib.LLAMA_DEFAULT_SEED if params.seed is None else params.seed
        sampler.add_top_k(40)
        sampler.add_typical(1.0, 1)
        sampler.add_top_p(0.95 if params.top_p is None else params.top_p, 1)
        sampler.add_min_p(0.05, 1)
        sampler.add_temp(temperature)
        sampler.add_dist(seed)
        return sampler
