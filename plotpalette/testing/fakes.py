"""InstantBackend: an in-process, zero-latency test double of a model backend.

It implements the :class:`~plotpalette.llm.base.Backend` protocol without any network
or model: replies are the deterministic word salad of :mod:`plotpalette.testing.synth`
(the same text and usage the Bedrock emulator returns), JSON-schema requests get a
value that satisfies the schema, and failures can be injected by script, by callable
or at a seeded rate. Use it for job-engine tests and engine benchmarks; use the
Bedrock emulator to test the real boto3 path.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from ..errors import ModelAccessError, ModelError, ModelNotFoundError, ModelRequestError
from ..llm.base import LimiterStats, ModelRequest, ModelResponse, Usage
from ..llm.tiers import resolve_tier
from ..llm.tokens import approx_tokens, tokens_upper_bound
from .synth import synth_reply

__all__ = ["InstantBackend"]

FailureScript = (
    Sequence["BaseException | None"] | Callable[[ModelRequest, int], "BaseException | None"]
)


class InstantBackend:
    """A deterministic, instant :class:`Backend` (a test double, not a model).

    Args:
        tiers: tier -> model id (defaults to the documented Bedrock tiers).
        models: the model ids it accepts; ``None`` accepts any id.
        no_access: ids that answer :class:`ModelAccessError`.
        latency_s: optional ``asyncio.sleep`` per call (0 = instant).
        failures: a list whose i-th item (an exception or ``None``) is raised on the
            i-th call (0-based), or a callable ``(request, index) -> exception | None``.
        failure_rate: probability that a call raises ``failure_error`` (seeded by ``seed``).
        failure_error: factory for rate-injected failures.
        output_tokens: fix every reply's length (approximate tokens).
    """

    name = "instant"

    def __init__(
        self,
        *,
        tiers: dict[str, str] | None = None,
        models: Iterable[str] | None = None,
        no_access: Iterable[str] = (),
        latency_s: float = 0.0,
        failures: FailureScript | None = None,
        failure_rate: float = 0.0,
        failure_error: Callable[[], BaseException] | None = None,
        output_tokens: int | None = None,
        seed: int = 0,
    ) -> None:
        self.tiers = dict(tiers or {})
        self.models = set(models) if models is not None else None
        self.no_access = set(no_access)
        self.latency_s = latency_s
        self.failures = failures
        self.failure_rate = failure_rate
        self.failure_error = failure_error or (
            lambda: _transient("injected failure (InstantBackend failure_rate)")
        )
        self.output_tokens = output_tokens
        self.requests: list[ModelRequest] = []  # every request received, in order
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._events: dict[str, collections.deque[tuple[float, int]]] = {}
        self._counts: dict[str, dict[str, int]] = {}

    @property
    def call_count(self) -> int:
        return len(self.requests)

    def resolve_model(self, model: str) -> str:
        resolved = resolve_tier(model, self.tiers)
        if self.models is not None and resolved not in self.models:
            raise ModelNotFoundError(f"unknown model id {resolved!r} (InstantBackend)")
        return resolved

    def max_input_tokens(self, request: ModelRequest) -> int:
        texts = [request.system or "", *(m.text for m in request.messages)]
        extra = len(json.dumps(request.json_schema)) if request.json_schema else 0
        return tokens_upper_bound(texts) + extra

    def count_tokens(self, text: str, model: str) -> int:
        return approx_tokens(text)

    async def generate(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        model = self.resolve_model(request.model)
        if model in self.no_access:
            raise ModelAccessError(f"no access to model {model!r} (InstantBackend no_access)")
        if request.max_tokens < 1:
            raise ModelRequestError(
                f"max_tokens must be at least 1, got {request.max_tokens}",
                fix="Set the step's max_tokens to a positive number.",
            )
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        failure = self._failure_for(request, index)
        if failure is not None:
            self._count(model, "failures")
            raise failure
        out = synth_reply(
            model=model,
            system=request.system or "",
            messages=[m.text for m in request.messages],
            max_tokens=request.max_tokens,
            stop=request.stop,
            json_schema=request.json_schema,
            output_tokens=self.output_tokens,
        )
        parsed = None
        if request.json_schema is not None and out.stop_reason != "max_tokens":
            parsed = json.loads(out.text)
        usage = Usage(input_tokens=out.input_tokens, output_tokens=out.output_tokens)
        self._record(model, usage.input_tokens + usage.output_tokens)
        return ModelResponse(
            text=out.text,
            stop_reason=out.stop_reason,
            usage=usage,
            latency_ms=(time.perf_counter() - started) * 1000,
            model=model,
            parsed_json=parsed,
        )

    def _failure_for(self, request: ModelRequest, index: int) -> BaseException | None:
        if callable(self.failures):
            return self.failures(request, index)
        if self.failures is not None and index < len(self.failures):
            return self.failures[index]
        with self._lock:
            hit = self.failure_rate > 0 and self._rng.random() < self.failure_rate
        return self.failure_error() if hit else None

    def _count(self, model: str, key: str) -> None:
        with self._lock:
            counts = self._counts.setdefault(model, {})
            counts[key] = counts.get(key, 0) + 1

    def _record(self, model: str, tokens: int) -> None:
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(model, collections.deque())
            events.append((now, tokens))
            while events and events[0][0] < now - 60:
                events.popleft()
            counts = self._counts.setdefault(model, {})
            counts["calls"] = counts.get("calls", 0) + 1

    def stats(self) -> list[LimiterStats]:
        now = time.monotonic()
        out = []
        with self._lock:
            for model, events in sorted(self._events.items()):
                recent = [(t, n) for t, n in events if t >= now - 60]
                out.append(
                    LimiterStats(
                        model=model,
                        rpm=float(len(recent)),
                        tpm=float(sum(n for _, n in recent)),
                        extra=dict(self._counts.get(model, {})),
                    )
                )
        return out


def _transient(message: str) -> ModelError:
    from ..errors import TransientModelError

    return TransientModelError(message)
