"""BedrockBackend: Amazon Bedrock through the boto3 ``bedrock-runtime`` Converse API.

One request builder serves every model family (Converse normalises them; no
per-family JSON bodies). boto3 is synchronous, so calls run in a thread pool sized to
``settings.concurrency`` and the asyncio loop never blocks. botocore's own retries are
pinned off (``standard`` mode, ``total_max_attempts=1``); :mod:`.retry` retries
throttling and transient errors with full-jitter backoff, and :mod:`.limits` paces
calls per (model, Region). Requests are pre-checked (``max_tokens`` range, context
size, JSON schema) so obviously bad ones fail before costing anything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._version import __version__
from ..config import Settings
from ..errors import (
    ModelError,
    ModelRequestError,
    PlotPaletteError,
    ThrottledError,
    TransientModelError,
)
from .attempts import before_retry, mark_unknown
from .base import LimiterStats, ModelRequest, ModelResponse, Usage
from .bedrock_errors import map_bedrock_error
from .limits import Clock, LimiterRegistry
from .model_limits import model_limits
from .retry import RetryPolicy, final_error
from .schema import check_json_schema
from .tiers import resolve_model_id
from .tokens import approx_tokens, tokens_lower_bound, tokens_upper_bound

__all__ = [
    "BedrockBackend",
    "StreamEvent",
    "build_converse_request",
    "check_json_schema",
    "validate_request",
]

SCHEMA_PROMPT_ALLOWANCE = 512  # tokens some families add when enforcing a JSON schema


@dataclasses.dataclass(frozen=True)
class StreamEvent:
    """A piece of a streamed reply; the last event carries the whole ``response``."""

    text: str
    response: ModelResponse | None = None


def validate_request(request: ModelRequest, model: str) -> None:
    """Refuse requests Bedrock would reject, naming the parameter (no call is made)."""
    if not request.messages or request.messages[0].role != "user":
        raise ModelRequestError(
            "a request must start with a user message", fix="Give the step a prompt."
        )
    for i, message in enumerate(request.messages):
        if message.role not in ("user", "assistant"):
            raise ModelRequestError(
                f"message {i} has role {message.role!r}", fix="Use 'user' or 'assistant'."
            )
        if not message.text.strip():
            raise ModelRequestError(
                f"message {i} ({message.role}) is blank",
                fix="Check that the step's prompt renders to some text.",
            )
    limits = model_limits(model)
    top = limits.max_output_tokens if limits else None
    if (
        not isinstance(request.max_tokens, int)
        or request.max_tokens < 1
        or (top is not None and request.max_tokens > top)
    ):
        allowed = f"1..{top}" if top else "at least 1"
        raise ModelRequestError(
            f"max_tokens={request.max_tokens!r} is out of range for {model} (allowed {allowed})",
            fix=f"Set the step's max_tokens to {allowed}.",
        )
    for name in ("temperature", "top_p"):
        value = getattr(request, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ModelRequestError(
                f"{name}={value} is out of range (0..1)",
                fix=f"Set the step's {name} between 0 and 1.",
            )
    if request.json_schema is not None:
        check_json_schema(request.json_schema)
    if limits is not None:
        least = tokens_lower_bound(request.prompt_text)
        if least + request.max_tokens > limits.context_tokens:
            raise ModelRequestError(
                f"prompt too long for {model}: at least {least:,} tokens + max_tokens "
                f"{request.max_tokens:,} exceed its context of {limits.context_tokens:,}",
                fix="Shorten the prompt (or the seed fields it includes), lower max_tokens, "
                "or use a model with a larger context.",
            )


def build_converse_request(request: ModelRequest, model: str) -> dict[str, Any]:
    """The Converse keyword arguments for ``request`` — the same for every model family."""
    kwargs: dict[str, Any] = {
        "modelId": model,
        "messages": [{"role": m.role, "content": [{"text": m.text}]} for m in request.messages],
    }
    if request.system:
        kwargs["system"] = [{"text": request.system}]
    config: dict[str, Any] = {"maxTokens": request.max_tokens}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    kwargs["inferenceConfig"] = config
    if request.json_schema is not None:
        kwargs["outputConfig"] = {
            "textFormat": {
                "type": "json_schema",
                "structure": {
                    "jsonSchema": {
                        "schema": json.dumps(request.json_schema),
                        "name": schema_name(request.json_schema),
                    }
                },
            }
        }
    return kwargs


def schema_name(schema: dict[str, Any]) -> str:
    """A name Bedrock accepts for a structured-output schema, from its ``title``.

    Bedrock names (tools, schemas) are letters, digits, ``_`` and ``-``, at most 64
    characters; a title such as "Poem ideas" would be refused, so it is normalised.
    """
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(schema.get("title") or "")).strip("_")
    return name[:64] or "output"


def parse_converse_response(
    raw: dict[str, Any], request: ModelRequest, model: str, latency_ms: float
) -> ModelResponse:
    """A :class:`ModelResponse` from Converse output (or from collected stream events)."""
    try:
        content = raw["output"]["message"]["content"]
        stop_reason = str(raw["stopReason"])
        usage = raw["usage"]
        text = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        tokens = Usage(
            int(usage.get("inputTokens", 0)),
            int(usage.get("outputTokens", 0)),
            int(usage.get("cacheReadInputTokens", 0) or 0),
            int(usage.get("cacheWriteInputTokens", 0) or 0),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise mark_unknown(  # the call ran (and was billed); its usage is lost
            TransientModelError(f"{model} returned a malformed response (keys: {sorted(raw)[:6]})")
        ) from None
    parsed = None
    if request.json_schema is not None:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None  # e.g. cut off at max_tokens; the caller sees stop_reason
    return ModelResponse(
        text=text,
        stop_reason=stop_reason,
        usage=tokens,
        latency_ms=latency_ms,
        model=model,
        parsed_json=parsed,
    )


class BedrockBackend:
    """The :class:`~plotpalette.llm.base.Backend` for Amazon Bedrock.

    Args:
        settings: region, profile, endpoint URL (the emulator), tiers, concurrency and
            rate limits.
        client: a ready ``bedrock-runtime`` client (tests, the emulator, custom config);
            its retry configuration is left as given.
        session: a ``boto3.Session`` to build the client from (default: the AWS chain).
        retry: the retry policy; clock: time source for the rate limiters.
    """

    name = "bedrock"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client: Any = None,
        session: Any = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or Settings(backend="bedrock")
        self._client = client
        self._session = session
        self._client_lock = threading.Lock()
        self.retry = retry or RetryPolicy()
        self.limiters = LimiterRegistry(
            self.settings.rate_limits, concurrency=self.settings.concurrency, clock=clock
        )
        self._executor = ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix="bedrock"
        )
        self._rng = rng or random.Random()

    # -- client --------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 client, built on first use (so constructing the backend is free)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> Any:
        import boto3
        from botocore.config import Config

        s = self.settings
        try:
            session = self._session or boto3.Session(
                profile_name=s.aws_profile, region_name=s.region
            )
            config = Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                max_pool_connections=max(10, 2 * s.concurrency),
                connect_timeout=10,
                read_timeout=300,
                user_agent_extra=f"plotpalette/{__version__}",
            )
            return session.client(
                "bedrock-runtime",
                region_name=s.region or None,
                endpoint_url=s.bedrock_endpoint_url,
                config=config,
            )
        except Exception as exc:
            raise map_bedrock_error(exc, model="bedrock-runtime", region=s.region) from exc

    @property
    def region(self) -> str | None:
        if self.settings.region:
            return self.settings.region
        client = self._client
        return getattr(getattr(client, "meta", None), "region_name", None)

    # -- Backend protocol ------------------------------------------------------------
    def resolve_model(self, model: str) -> str:
        return resolve_model_id(model, self.name, self.settings.tiers)

    def max_input_tokens(self, request: ModelRequest) -> int:
        texts = [request.system or "", *(m.text for m in request.messages)]
        bound = tokens_upper_bound(texts)
        if request.json_schema is not None:
            bound += len(json.dumps(request.json_schema).encode()) + SCHEMA_PROMPT_ALLOWANCE
        return bound

    def count_tokens(self, text: str, model: str) -> int:
        return approx_tokens(text)

    def stats(self) -> list[LimiterStats]:
        return self.limiters.stats()

    async def generate(self, request: ModelRequest) -> ModelResponse:
        model = self.resolve_model(request.model)
        validate_request(request, model)
        kwargs = build_converse_request(request, model)
        limiter = self.limiters.get(model, self.region)
        reserve = approx_tokens(request.prompt_text) + request.max_tokens
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            permit = await limiter.acquire(reserve)
            started = time.perf_counter()
            try:
                raw = await loop.run_in_executor(self._executor, self._converse, kwargs, model)
                response = parse_converse_response(
                    raw, request, model, (time.perf_counter() - started) * 1000
                )
            except ModelError as err:
                throttled = isinstance(err, ThrottledError)
                limiter.release(permit, "throttled" if throttled else "error")
                if not self.retry.should_retry(err, attempt):
                    raise final_error(err, attempt) from None
                await before_retry(err)  # the engine books an unknown bill, or refuses
                limiter.note_retry()
                await limiter.clock.sleep(self.retry.delay(attempt, self._rng))
                continue
            except BaseException:
                limiter.release(permit, "error")
                raise
            limiter.release(
                permit, "ok", response.usage.input_tokens + response.usage.output_tokens
            )
            return dataclasses.replace(response, attempts=attempt)

    def _converse(self, kwargs: dict[str, Any], model: str) -> dict[str, Any]:
        """Runs in a worker thread; botocore errors become Plot Palette errors here."""
        try:
            return self.client.converse(**kwargs)
        except PlotPaletteError:
            raise
        except Exception as exc:
            raise map_bedrock_error(exc, model=model, region=self.region) from exc

    # -- streaming -------------------------------------------------------------------
    def stream(self, request: ModelRequest) -> Iterator[StreamEvent]:
        """Text as it is generated (ConverseStream), for a live sample view.

        A synchronous iterator (one call, outside the job's rate limiter); the last event
        carries the complete :class:`ModelResponse` with usage. Errors before the first
        token are retried like :meth:`generate`; a failure mid-stream is raised.
        """
        model = self.resolve_model(request.model)
        validate_request(request, model)
        kwargs = build_converse_request(request, model)
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                events = self.client.converse_stream(**kwargs)["stream"]
                break
            except Exception as exc:
                err: PlotPaletteError = (
                    exc
                    if isinstance(exc, PlotPaletteError)
                    else map_bedrock_error(exc, model=model, region=self.region)
                )
                if not self.retry.should_retry(err, attempt):
                    raise err from exc
                time.sleep(self.retry.delay(attempt, self._rng))
        parts: list[str] = []
        stop_reason, usage = "end_turn", {}
        try:
            for event in events:
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text", "")
                    if text:
                        parts.append(text)
                        yield StreamEvent(text)
                elif "messageStop" in event:
                    stop_reason = event["messageStop"].get("stopReason", stop_reason)
                elif "metadata" in event:
                    usage = event["metadata"].get("usage", {})
        except Exception as exc:
            raise map_bedrock_error(exc, model=model, region=self.region) from exc
        raw = {
            "output": {"message": {"content": [{"text": "".join(parts)}]}},
            "stopReason": stop_reason,
            "usage": usage,
        }
        response = parse_converse_response(
            raw, request, model, (time.perf_counter() - started) * 1000
        )
        yield StreamEvent("", dataclasses.replace(response, attempts=attempt))

    def close(self) -> None:
        """Stop the worker threads (the backend is unusable afterwards)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
