"""BedrockBackend: Amazon Bedrock through the boto3 ``bedrock-runtime`` Converse API.

One request builder serves every model family (:mod:`.bedrock_request`; Converse
normalises them) and sends each model only what it accepts (:mod:`.capabilities`).
boto3 is synchronous, so calls run in daemon threads (:mod:`.calls`) and the asyncio
loop never blocks; a process that decides to exit is never held by a hung call.
botocore's own retries are pinned off; :mod:`.retry` retries per error class and
:mod:`.limits` paces calls per (model, Region), counting tokens the way AWS counts
them (input + cache writes + output × the model's burndown). Every call has a deadline
derived from its ``max_tokens`` and the model's speed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import random
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from .._version import __version__
from ..config import Settings
from ..errors import (
    BudgetExceededError,
    DailyQuotaError,
    ModelError,
    ModelUnresponsiveError,
    PlotPaletteError,
    ThrottledError,
)
from .attempts import before_retry, mark_unknown, waiting_to_send
from .base import LimiterStats, ModelRequest, ModelResponse, Usage
from .bedrock_errors import map_bedrock_error
from .bedrock_request import (
    StreamEvent,
    build_converse_request,
    collect_stream,
    parse_converse_response,
    schema_name,
    validate_request,
)
from .calls import DaemonPool
from .capabilities import call_deadline_s, quota_usage, structured_output_mode
from .limits import Clock, LimiterRegistry
from .retry import RetryPolicy, final_error
from .schema import check_json_schema
from .tiers import resolve_model_id
from .tokens import approx_tokens, tokens_upper_bound

__all__ = [
    "BedrockBackend",
    "StreamEvent",
    "build_converse_request",
    "check_json_schema",
    "resolve_region",
    "schema_name",
    "validate_request",
]

SCHEMA_PROMPT_ALLOWANCE = 512  # tokens some families add when enforcing a JSON schema
DEADLINE_SLACK_S = 15.0  # the event-loop backstop fires this long after the socket timeout


def resolve_region(settings: Settings) -> str | None:
    """The Region Bedrock calls would go to: the setting, else the AWS chain's."""
    if settings.region:
        return settings.region
    import boto3

    try:
        return boto3.Session(profile_name=settings.aws_profile).region_name
    except Exception as exc:
        raise map_bedrock_error(exc, model="bedrock-runtime", region=None) from exc


def quota_tokens(model: str, usage: Usage) -> int:
    """Tokens a call took from the token quotas (see :func:`.capabilities.quota_usage`)."""
    return quota_usage(model, usage.input_tokens, usage.output_tokens, usage.cache_write_tokens)


class BedrockBackend:
    """The :class:`~plotpalette.llm.base.Backend` for Amazon Bedrock.

    Args:
        settings: region, profile, endpoint URL (the emulator), tiers, concurrency and
            rate limits.
        client: a ready ``bedrock-runtime`` client (tests, the emulator, custom config);
            its retry and timeout configuration is left as given.
        session: a ``boto3.Session`` to build the client from (default: the AWS chain).
        retry: the retry policy; clock: time source for the rate limiters.
        deadline_s: a fixed per-call deadline instead of the one computed per model.
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
        deadline_s: float | None = None,
    ) -> None:
        self.settings = settings or Settings(backend="bedrock")
        self._client = client
        self._own_client = client is None  # a given client is used as given
        self._session = session
        self._clients: dict[int, Any] = {}  # by read timeout, for per-call deadlines
        self._client_lock = threading.Lock()
        self._region: str | None = self.settings.region or None
        self.retry = retry or RetryPolicy()
        self.concurrency = self.settings.concurrency
        self.limiters = LimiterRegistry(
            self.settings.rate_limits, concurrency=self.concurrency, clock=clock
        )
        self._pool = DaemonPool(self.concurrency, "bedrock")
        self._rng = rng or random.Random()
        self.deadline_s = deadline_s

    # -- job limits --------------------------------------------------------------------
    def set_concurrency(self, concurrency: int) -> None:
        """Allow ``concurrency`` calls in flight (a job's own setting may exceed the
        settings'); the thread pool, connection pool and limiters follow."""
        concurrency = max(1, int(concurrency))
        if concurrency > self.concurrency and self._own_client:
            with self._client_lock:  # rebuilt on next use with a big enough pool
                self._client, self._clients = None, {}
        self.concurrency = concurrency
        self._pool.resize(concurrency)
        self.limiters.set_concurrency(concurrency)

    def set_rate_limits(self, rate_limits: Mapping[str, Mapping[str, int]]) -> None:
        """Quotas for this job (merged over the settings'; keys as in ``rate_limits``)."""
        self.limiters.update_limits(rate_limits)

    # -- client --------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 client, built on first use (so constructing the backend is free)."""
        return self._client_for(None)

    def _client_for(self, deadline_s: float | None) -> Any:
        """A client whose socket read timeout covers ``deadline_s`` (a user-supplied
        client is used as given)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._build_client(300)
            if self._own_client and deadline_s is not None:
                timeout = max(60, math.ceil(deadline_s / 60.0) * 60)
                if timeout not in self._clients:
                    self._clients[timeout] = self._build_client(timeout)
                return self._clients[timeout]
            return self._client

    def _build_client(self, read_timeout: int) -> Any:
        from botocore.config import Config

        s = self.settings
        try:
            # One session for every client (built under the client lock): its loader
            # cache keeps the parsed service model, so the clients for other deadlines
            # cost milliseconds instead of another ~0.1 s each.
            if self._session is None:
                from ..aws.session import new_session  # shares the service-model loader

                self._session = new_session(profile=s.aws_profile, region=s.region)
            session = self._session
            config = Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                max_pool_connections=max(10, 2 * self.concurrency),
                connect_timeout=10,
                read_timeout=read_timeout,
                tcp_keepalive=True,
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
        """The Region calls go to: the setting, else what the AWS chain resolves
        (the client is built to find out)."""
        if self._region is None:
            client = self.client
            self._region = getattr(getattr(client, "meta", None), "region_name", None)
        return self._region

    async def _resolved_region(self) -> str | None:
        """:attr:`region`, resolved off the event loop the first time. Done before the
        first call so every call of a model uses one limiter (one quota)."""
        if self._region is None:
            await asyncio.wrap_future(self._pool.submit(lambda: self.region))
        return self._region

    # -- Backend protocol ------------------------------------------------------------
    def resolve_model(self, model: str) -> str:
        return resolve_model_id(model, self.name, self.settings.tiers)

    def structured_output_mode(self, model: str) -> str:
        """How a JSON schema is enforced for ``model`` (native, tool or prompt)."""
        return structured_output_mode(self.resolve_model(model))

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

    def call_deadline(self, model: str, max_tokens: int, input_tokens: int | None = None) -> float:
        """Seconds one call may take (see :func:`.capabilities.call_deadline_s`)."""
        return self.deadline_s or call_deadline_s(model, max_tokens, input_tokens)

    def _reserve(self, request: ModelRequest, model: str) -> int:
        return quota_usage(model, approx_tokens(request.prompt_text), request.max_tokens)

    async def generate(self, request: ModelRequest) -> ModelResponse:
        model = self.resolve_model(request.model)
        validate_request(request, model)
        mode = structured_output_mode(model) if request.json_schema is not None else None
        kwargs = build_converse_request(request, model, mode)
        region = await self._resolved_region()
        limiter = self.limiters.get(model, region)
        reserve = self._reserve(request, model)
        deadline = self.call_deadline(model, request.max_tokens, self.max_input_tokens(request))
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            with waiting_to_send():  # nothing of this attempt is sent before its permit
                permit = await limiter.acquire(reserve)
            started = time.perf_counter()
            try:
                raw = await self._call(kwargs, model, deadline)
                response = parse_converse_response(
                    raw, request, model, (time.perf_counter() - started) * 1000, mode
                )
            except ModelError as err:
                limiter.release(permit, _outcome(err))
                if not self.retry.should_retry(err, attempt, waited):
                    raise final_error(err, attempt) from None
                await before_retry(err)  # the engine books an unknown bill, or refuses
                limiter.note_retry()
                pause = self.retry.delay(attempt, self._rng, err)
                waited += pause
                with waiting_to_send():  # an earlier attempt's unknown bill is booked by now
                    await limiter.clock.sleep(pause)
                continue
            except BaseException:
                limiter.release(permit, "error")
                raise
            limiter.release(permit, "ok", quota_tokens(model, response.usage))
            return dataclasses.replace(response, attempts=attempt)

    async def _call(self, kwargs: dict[str, Any], model: str, deadline: float) -> dict[str, Any]:
        """One Converse call with a deadline. The socket timeout ends a silent call in
        its thread; the event-loop backstop ends the wait even if that does not fire.
        Cancelling the awaiting task abandons the call (its thread finishes alone)."""
        future = self._pool.submit(self._converse, kwargs, model, deadline)
        limit = deadline + min(DEADLINE_SLACK_S, deadline)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), limit)
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
            err = ModelUnresponsiveError(
                f"no reply from {model} in {self.region or 'the configured Region'} within "
                f"{limit:.1f} s"
            )
            err.retry_class = "unresponsive"  # type: ignore[attr-defined]
            # the request was sent and the call is abandoned: the engine books it at worst case
            raise mark_unknown(err) from None

    def _converse(self, kwargs: dict[str, Any], model: str, deadline: float) -> dict[str, Any]:
        """Runs in a worker thread; botocore errors become Plot Palette errors here."""
        try:
            return self._client_for(deadline).converse(**kwargs)
        except PlotPaletteError:
            raise
        except Exception as exc:
            raise map_bedrock_error(exc, model=model, region=self.region) from exc

    async def probe(self, model: str) -> ModelResponse:
        """The cheapest real call to ``model`` (1 output token): proves it is known,
        offered in the Region and callable with these credentials. It is billed."""
        return await self.generate(ModelRequest.from_prompt(model, "Reply OK.", max_tokens=1))

    # -- streaming -------------------------------------------------------------------
    def stream(
        self,
        request: ModelRequest,
        *,
        prices: Any = None,
        max_cost_usd: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Text as it is generated (ConverseStream), for a live sample view.

        A synchronous iterator; the last event carries the complete
        :class:`ModelResponse` with usage. The call is paced by the same (model, Region)
        limiter as :meth:`generate`, and with ``prices`` and ``max_cost_usd`` it is
        refused (:class:`BudgetExceededError`) when its worst case exceeds the cap.
        Errors before the first token are retried like :meth:`generate`; errors that
        arrive in the stream are mapped like their non-stream forms and raised.
        """
        model = self.resolve_model(request.model)
        validate_request(request, model)
        mode = structured_output_mode(model) if request.json_schema is not None else None
        kwargs = build_converse_request(request, model, mode)
        if prices is not None and max_cost_usd is not None:
            worst = prices.worst_case(
                model, self.max_input_tokens(request), request.max_tokens, region=self.region
            )
            if worst > max_cost_usd:
                raise BudgetExceededError(
                    f"this call may cost up to ${worst:.6f}, above the cap of ${max_cost_usd:.6f}",
                    fix="Raise the cap or lower the step's max_tokens.",
                )
        limiter = self.limiters.get(model, self.region)
        deadline = self.call_deadline(model, request.max_tokens, self.max_input_tokens(request))
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            permit = limiter.pace_blocking(self._reserve(request, model))
            started = time.perf_counter()
            try:
                events = self._client_for(deadline).converse_stream(**kwargs)["stream"]
                break
            except Exception as exc:
                err = _mapped(exc, model, self.region)
                limiter.settle_blocking(permit, _outcome(err))
                if not self.retry.should_retry(err, attempt, waited):
                    raise err from exc
                pause = self.retry.delay(attempt, self._rng, err)
                waited += pause
                time.sleep(pause)
        try:
            raw = yield from collect_stream(events)
        except Exception as exc:
            err = _mapped(exc, model, self.region)
            limiter.settle_blocking(permit, _outcome(err))
            raise err from exc
        response = parse_converse_response(
            raw, request, model, (time.perf_counter() - started) * 1000, mode
        )
        limiter.settle_blocking(permit, "ok", quota_tokens(model, response.usage))
        yield StreamEvent("", dataclasses.replace(response, attempts=attempt))

    def close(self) -> None:
        """Stop the idle worker threads (the backend is unusable afterwards)."""
        self._pool.close()


def _mapped(exc: BaseException, model: str, region: str | None) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    err = map_bedrock_error(exc, model=model, region=region)
    return err if isinstance(err, ModelError) else ModelError(str(err), fix=err.fix)


def _outcome(err: BaseException) -> str:
    """How a failed call counts for the limiter: only a retryable throttle means "slow
    down"; a used-up daily or account quota is not a reason to cut concurrency."""
    if isinstance(err, ThrottledError) and not isinstance(err, DailyQuotaError):
        return "throttled" if getattr(err, "retryable", True) else "error"
    return "error"
