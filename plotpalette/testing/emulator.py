"""BedrockEmulator: a local HTTP server speaking the Bedrock runtime REST protocol.

A **test double**, not a model: point a real boto3 ``bedrock-runtime`` client at
``emulator.endpoint_url`` and ``converse``, ``converse_stream`` and ``invoke_model``
work offline, with deterministic text (see :mod:`plotpalette.testing.synth`), usage
counted with the documented approximation of :mod:`plotpalette.llm.tokens`, and
Bedrock's error shapes (HTTP status + ``x-amzn-ErrorType``). Configurable: latency
(log-normal around a median), RPM/TPM quotas enforced like Bedrock's (token buckets;
TPM reserves input + maxTokens at admission and refunds unused output at the end),
injected failures (``500``, ``503``, ``408``, ``429``, ``reset``, ``malformed``) by
rate or by script, models without access, models missing from the Region, and
expired or invalid credentials. It does not verify SigV4 signatures; it only
requires that a request is signed.

This module decides what to answer; the quotas live in :mod:`.emulator_quotas` and the
server and reply writing in :mod:`.emulator_http`.

Usage::

    with BedrockEmulator(latency_median_s=0.05, rpm=600) as emu:
        client = boto3.client("bedrock-runtime", endpoint_url=emu.endpoint_url, ...)
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import unquote

from ..llm.model_limits import MODEL_LIMITS, PROFILE_PREFIXES, ModelLimits, base_model_id
from .emulator_http import (
    EmulatorHandler,
    EmulatorServer,
    break_connection,
    send_json,
    send_stream,
)
from .emulator_quotas import ModelQuotas
from .protocol import RequestError, converse_body, invoke_body, parse_converse, parse_invoke
from .synth import SynthOutput, synth_reply

__all__ = ["FAILURE_KINDS", "BedrockEmulator", "EmulatorConfig"]

FAILURE_KINDS = ("500", "503", "408", "429", "reset", "malformed")
_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|invoke)$")
_ERRORS = {
    "500": (500, "InternalServerException", "The server encountered an error."),
    "503": (503, "ServiceUnavailableException", "The service is unavailable."),
    "408": (408, "ModelTimeoutException", "The request took too long to process."),
    "429": (
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying your request again.",
    ),
}


@dataclasses.dataclass
class EmulatorConfig:
    """Everything :meth:`BedrockEmulator.configure` can change."""

    latency_median_s: float = 0.0
    latency_jitter: float = 0.0  # sigma of the log-normal; 0 = always the median
    rpm: float | None = None  # requests per minute per model; None = unlimited
    tpm: float | None = None  # tokens per minute per model
    burst_s: float = 1.0  # quota bucket depth, in seconds of quota
    failure_rate: float = 0.0
    failure_kinds: tuple[str, ...] = ("500", "503", "408")
    output_tokens: int | None = None  # fixed reply length (approximate tokens)
    region: str = "us-east-1"
    models: dict[str, ModelLimits] = dataclasses.field(default_factory=lambda: dict(MODEL_LIMITS))
    no_access: frozenset[str] = frozenset()  # -> AccessDeniedException
    not_in_region: frozenset[str] = frozenset()  # -> ResourceNotFoundException
    credentials: str = "valid"  # "valid" | "expired" | "invalid"
    seed: int = 0


class BedrockEmulator:
    """The emulator; start with ``with`` (or :meth:`start`), read :attr:`endpoint_url`."""

    def __init__(self, **config: Any) -> None:
        self.config = EmulatorConfig()
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self._script: list[str | None] = []
        self._quotas = ModelQuotas(None, None, 1.0)  # replaced by configure() below
        self.counts: Counter[str] = Counter()  # requests, throttled, failures, ok, ...
        self.requests: list[dict[str, Any]] = []  # bodies received (converse/stream)
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        # called as on_billed(model, reply, lost) for every call the "provider" ran and
        # would bill, lost=True when the reply never reached the client (see .billing)
        self.on_billed: Any = None
        self.configure(**config)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> BedrockEmulator:
        if self._server is None:
            self._server = EmulatorServer(("127.0.0.1", 0), self._handle)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="bedrock-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> BedrockEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("BedrockEmulator is not running; use `with` or start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- configuration -----------------------------------------------------------
    def configure(self, **changes: Any) -> BedrockEmulator:
        """Change settings (names of :class:`EmulatorConfig`); resets the quotas."""
        known = {f.name for f in dataclasses.fields(EmulatorConfig)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown emulator setting(s): {sorted(unknown)}; use {sorted(known)}")
        for name in ("no_access", "not_in_region"):
            if name in changes:
                changes[name] = frozenset(changes[name])
        bad = set(changes.get("failure_kinds", ())) - set(FAILURE_KINDS)
        if bad:
            raise ValueError(f"unknown failure kind(s) {sorted(bad)}; use {FAILURE_KINDS}")
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            cfg = self.config
            self._quotas = ModelQuotas(cfg.rpm, cfg.tpm, cfg.burst_s)
            if "seed" in changes:
                self._rng = random.Random(changes["seed"])
        return self

    def add_model(
        self, model_id: str, context_tokens: int = 8_000, max_output_tokens: int = 2_000
    ) -> None:
        """Make another model id known (e.g. a tiny-context model for tests)."""
        models = {**self.config.models, model_id: ModelLimits(context_tokens, max_output_tokens)}
        self.configure(models=models)

    def script_failures(self, kinds: list[str | None]) -> None:
        """Fail the next requests in order (``None`` = answer normally)."""
        bad = {k for k in kinds if k is not None} - set(FAILURE_KINDS)
        if bad:
            raise ValueError(f"unknown failure kind(s) {sorted(bad)}; use {FAILURE_KINDS}")
        with self._lock:
            self._script.extend(kinds)

    # -- request handling ----------------------------------------------------------
    def _handle(self, h: EmulatorHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        match = _PATH.match(h.path.split("?")[0])
        with self._lock:
            self.counts["requests"] += 1
        try:
            if match is None:
                raise RequestError(404, "UnknownOperationException", f"no route {h.path}")
            self._check_auth(h)
            model = unquote(match["model"])
            limits = self._resolve_model(model)
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                raise RequestError(400, "SerializationException", "body is not JSON") from None
            op = match["op"]
            reply, reserved = self._reply(op, model, limits, payload)
            failure = self._next_failure()
            if failure in ("reset", "malformed"):
                self._count("failures")
                if self.on_billed is not None:
                    self.on_billed(model, reply, True)
                return break_connection(h, failure)
            if failure is not None:
                status, etype, message = _ERRORS[failure]
                self._count("throttled" if failure == "429" else "failures")
                raise RequestError(status, etype, message)
            self._admit(model, reserved)
            started = time.monotonic()
            time.sleep(self._latency())
            self._release(model, reserved, reply.input_tokens + reply.output_tokens)
            self._count("ok")
            if self.on_billed is not None:
                self.on_billed(model, reply, False)
            latency_ms = int((time.monotonic() - started) * 1000)
            if op == "converse-stream":
                return send_stream(h, reply, latency_ms)
            if op == "invoke":
                return send_json(h, 200, invoke_body(model, reply))
            return send_json(h, 200, converse_body(reply, latency_ms))
        except RequestError as err:
            send_json(
                h,
                err.status,
                {"message": err.message},
                {"x-amzn-ErrorType": f"{err.error_type}:http://internal.amazon.com/"},
            )

    def _check_auth(self, h: EmulatorHandler) -> None:
        auth = h.headers.get("Authorization", "")
        if not auth:
            raise RequestError(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        if self.config.credentials == "expired":
            raise RequestError(
                403,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            )
        if self.config.credentials == "invalid":
            raise RequestError(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )

    def _resolve_model(self, model: str) -> ModelLimits:
        cfg = self.config
        base = base_model_id(model)
        limits = cfg.models.get(model) or (cfg.models.get(base) if base != model else None)
        if limits is None:
            raise RequestError(
                400, "ValidationException", "The provided model identifier is invalid."
            )
        if model in cfg.not_in_region or base in cfg.not_in_region:
            raise RequestError(
                404,
                "ResourceNotFoundException",
                f"Could not resolve the foundation model from the provided "
                f"model identifier in {cfg.region}.",
            )
        if model in cfg.no_access or base in cfg.no_access:
            raise RequestError(
                403,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            )
        if limits.requires_profile and not model.startswith(PROFILE_PREFIXES):
            raise RequestError(
                400,
                "ValidationException",
                f"Invocation of model ID {model} with on-demand throughput "
                "isn't supported. Retry your request with the ID or ARN of an "
                "inference profile that contains this model.",
            )
        return limits

    def _reply(
        self, op: str, model: str, limits: ModelLimits, payload: dict[str, Any]
    ) -> tuple[SynthOutput, int]:
        if op == "invoke":
            system, texts, max_tokens, stop, schema = parse_invoke(payload)
        else:
            system, texts, max_tokens, stop, schema = parse_converse(payload)
            with self._lock:
                self.requests.append(payload)
        if max_tokens is None:
            max_tokens = min(limits.max_output_tokens, 4096)
        if not 1 <= max_tokens <= limits.max_output_tokens:
            raise RequestError(
                400,
                "ValidationException",
                f"The maximum tokens you requested ({max_tokens}) is not in "
                f"the model's range [1, {limits.max_output_tokens}].",
            )
        reply = synth_reply(
            model=model,
            system=system,
            messages=texts,
            max_tokens=max_tokens,
            stop=stop,
            json_schema=schema,
            output_tokens=self.config.output_tokens,
        )
        if reply.input_tokens + max_tokens > limits.context_tokens:
            raise RequestError(
                400,
                "ValidationException",
                f"Input is too long for requested model: {reply.input_tokens} "
                f"input tokens + maxTokens {max_tokens} exceed the context of "
                f"{limits.context_tokens}.",
            )
        return reply, reply.input_tokens + max_tokens

    def _next_failure(self) -> str | None:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            if self.config.failure_rate and self._rng.random() < self.config.failure_rate:
                return self._rng.choice(self.config.failure_kinds)
        return None

    def _admit(self, model: str, reserved: int) -> None:
        with self._lock:
            if not self._quotas.admit(model, reserved):
                self.counts["throttled"] += 1
                raise RequestError(*_ERRORS["429"])

    def _release(self, model: str, reserved: int, used: int) -> None:
        """Refund the part of the TPM reservation that was not used."""
        with self._lock:
            self._quotas.release(model, reserved, used)

    def _latency(self) -> float:
        cfg = self.config
        if cfg.latency_median_s <= 0:
            return 0.0
        with self._lock:
            z = self._rng.gauss(0.0, 1.0)
        return cfg.latency_median_s * math.exp(cfg.latency_jitter * z)

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1
