"""BedrockEmulator: a local HTTP server speaking the Bedrock runtime REST protocol.

A **test double**, not a model: point a real boto3 ``bedrock-runtime`` client at
``emulator.endpoint_url`` and ``converse``, ``converse_stream`` and ``invoke_model``
work offline, with deterministic text (see :mod:`plotpalette.testing.synth`), usage
counted with the documented approximation of :mod:`plotpalette.llm.tokens`, and
Bedrock's error shapes (HTTP status + ``x-amzn-ErrorType``). Configurable: latency
(log-normal around a median); RPM, TPM and tokens-per-day quotas enforced like
Bedrock's (token buckets; token quotas count input + output × the model's burndown,
reserving input + maxTokens × burndown at admission and refunding the unused part);
per-model rules from the capability table (:mod:`.emulator_rules`: outputConfig only
for native structured output, temperature with topP only where allowed, forced tool
use, maxTokens limits); injected failures (see :data:`FAILURE_KINDS`: HTTP errors,
``not_ready``, ``model_error``, ``quota``, resets, malformed bodies, calls that
``hang``, calls billed but never answered within the client's read timeout
(``read_timeout``), in-stream errors, replies that ignore the JSON instruction, and the
non-``end_turn`` stop reasons) by rate or by script; models without access, needing a
Marketplace subscription, past their end of life or missing from the Region; and
expired or invalid credentials. It does not verify SigV4 signatures; it only requires
that a request is signed.

This module decides what to answer; the quotas live in :mod:`.emulator_quotas`, the
per-model rules in :mod:`.emulator_rules` and the server and reply writing in
:mod:`.emulator_http`.

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

from ..llm.capabilities import (
    PROFILE_PREFIXES,
    ModelCapabilities,
    base_model_id,
    capability_table,
)
from .emulator_http import (
    EmulatorHandler,
    ServedEmulator,
    break_connection,
    send_error,
    send_json,
    send_stream,
)
from .emulator_quotas import ModelQuotas
from .emulator_rules import (
    END_OF_LIFE_MESSAGE,
    ERRORS,
    FAILURE_KINDS,
    MARKETPLACE_MESSAGE,
    STOP_KINDS,
    STREAM_ERRORS,
    TOKENS_PER_DAY_MESSAGE,
    check_capabilities,
    forced_tool,
    prompt_schema,
)
from .protocol import RequestError, converse_body, invoke_body, parse_converse, parse_invoke
from .synth import SynthOutput, synth_reply

__all__ = ["FAILURE_KINDS", "STOP_KINDS", "BedrockEmulator", "EmulatorConfig"]

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|invoke)$")


@dataclasses.dataclass
class EmulatorConfig:
    """Everything :meth:`BedrockEmulator.configure` can change."""

    latency_median_s: float = 0.0
    latency_jitter: float = 0.0  # sigma of the log-normal; 0 = always the median
    rpm: float | None = None  # requests per minute per model; None = unlimited
    tpm: float | None = None  # tokens per minute per model (burndown-weighted)
    tpd: float | None = None  # tokens per day per model (burndown-weighted)
    burndown: bool = True  # count output × the model's tpm_burndown, as AWS does
    burst_s: float = 1.0  # quota bucket depth, in seconds of quota
    failure_rate: float = 0.0
    failure_kinds: tuple[str, ...] = ("500", "503", "408")
    output_tokens: int | None = None  # fixed reply length (approximate tokens)
    region: str = "us-east-1"
    models: dict[str, ModelCapabilities] = dataclasses.field(
        default_factory=lambda: dict(capability_table())
    )
    no_access: frozenset[str] = frozenset()  # -> AccessDeniedException
    marketplace: frozenset[str] = frozenset()  # -> AccessDenied (Marketplace actions)
    end_of_life: frozenset[str] | None = None  # None: the table's past end-of-life dates
    not_in_region: frozenset[str] = frozenset()  # -> ResourceNotFoundException
    credentials: str = "valid"  # "valid" | "expired" | "invalid"
    hang_s: float = 600.0  # how long "hang" and "read_timeout" hold the connection
    seed: int = 0


class BedrockEmulator(ServedEmulator):
    """The emulator; start with ``with`` (or :meth:`start`), read :attr:`endpoint_url`."""

    _thread_name = "bedrock-emulator"

    def __init__(self, **config: Any) -> None:
        self.config = EmulatorConfig()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._rng = random.Random(0)
        self._script: list[str | None] = []
        self._quotas = ModelQuotas(None, None, 1.0)  # replaced by configure() below
        self.counts: Counter[str] = Counter()  # requests, throttled, failures, ok, ...
        self.requests: list[dict[str, Any]] = []  # bodies received (converse/stream)
        # called as on_billed(model, reply, lost) for every call the "provider" ran and
        # would bill, lost=True when the reply never reached the client (see .billing)
        self.on_billed: Any = None
        self.configure(**config)

    # -- lifecycle (the server itself: ServedEmulator) ------------------------------
    def start(self) -> BedrockEmulator:
        if self._server is None:
            self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        self._stopping.set()  # hung calls give up
        super().stop()

    # -- configuration -----------------------------------------------------------
    def configure(self, **changes: Any) -> BedrockEmulator:
        """Change settings (names of :class:`EmulatorConfig`); resets the quotas."""
        known = {f.name for f in dataclasses.fields(EmulatorConfig)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown emulator setting(s): {sorted(unknown)}; use {sorted(known)}")
        for name in ("no_access", "not_in_region", "marketplace", "end_of_life"):
            if changes.get(name) is not None:
                changes[name] = frozenset(changes[name])
        bad = set(changes.get("failure_kinds", ())) - set(FAILURE_KINDS)
        if bad:
            raise ValueError(f"unknown failure kind(s) {sorted(bad)}; use {FAILURE_KINDS}")
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            cfg = self.config
            self._quotas = ModelQuotas(cfg.rpm, cfg.tpm, cfg.burst_s, cfg.tpd)
            if "seed" in changes:
                self._rng = random.Random(changes["seed"])
        return self

    def add_model(
        self,
        model_id: str,
        context_tokens: int = 8_000,
        max_output_tokens: int = 2_000,
        **caps: Any,
    ) -> None:
        """Make another model id known (e.g. a tiny-context model for tests); ``caps``
        are further :class:`~plotpalette.llm.capabilities.ModelCapabilities` fields."""
        row = ModelCapabilities(context_tokens, max_output_tokens, model=model_id, **caps)
        self.configure(models={**self.config.models, model_id: row})

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
            caps = self._resolve_model(model)
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                raise RequestError(400, "SerializationException", "body is not JSON") from None
            op = match["op"]
            failure = self._next_failure()
            reply, reserved, tool = self._reply(op, model, caps, payload, failure)
            if failure in ("reset", "malformed"):
                self._count("failures")
                if self.on_billed is not None:
                    self.on_billed(model, reply, True)
                return break_connection(h, failure)
            if failure in ("hang", "read_timeout"):
                self._count("hung" if failure == "hang" else "timed_out")
                if failure == "read_timeout" and self.on_billed is not None:
                    self.on_billed(model, reply, True)  # it ran; the reply never arrives
                self._stopping.wait(self.config.hang_s)
                return break_connection(h, "reset")
            if failure in ERRORS:
                status, etype, message = ERRORS[failure]
                self._count("throttled" if failure == "429" else "failures")
                raise RequestError(status, etype, message)
            burn = caps.tpm_burndown if self.config.burndown else 1
            self._admit(model, reserved)
            started = time.monotonic()
            time.sleep(self._latency())
            self._release(model, reserved, reply.input_tokens + reply.output_tokens * burn)
            self._count("ok")
            if self.on_billed is not None:
                self.on_billed(model, reply, False)
            latency_ms = int((time.monotonic() - started) * 1000)
            if op == "converse-stream":
                return send_stream(h, reply, latency_ms, tool, STREAM_ERRORS.get(failure or ""))
            if op == "invoke":
                return send_json(h, 200, invoke_body(model, reply))
            return send_json(h, 200, converse_body(reply, latency_ms, tool))
        except RequestError as err:
            send_error(h, err)

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

    def _resolve_model(self, model: str) -> ModelCapabilities:
        cfg = self.config
        base = base_model_id(model)
        caps = cfg.models.get(model) or (cfg.models.get(base) if base != model else None)
        if caps is None:
            raise RequestError(
                400, "ValidationException", "The provided model identifier is invalid."
            )
        names = {model, base}
        if names & cfg.not_in_region:
            raise RequestError(
                404,
                "ResourceNotFoundException",
                f"Could not resolve the foundation model from the provided "
                f"model identifier in {cfg.region}.",
            )
        retired = caps.retired() if cfg.end_of_life is None else bool(names & cfg.end_of_life)
        if retired:
            raise RequestError(404, "ResourceNotFoundException", END_OF_LIFE_MESSAGE)
        if names & cfg.no_access:
            raise RequestError(
                403,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            )
        if names & cfg.marketplace:
            raise RequestError(403, "AccessDeniedException", MARKETPLACE_MESSAGE)
        if caps.requires_profile and not model.startswith(PROFILE_PREFIXES):
            raise RequestError(
                400,
                "ValidationException",
                f"Invocation of model ID {model} with on-demand throughput "
                "isn't supported. Retry your request with the ID or ARN of an "
                "inference profile that contains this model.",
            )
        return caps

    def _reply(
        self,
        op: str,
        model: str,
        caps: ModelCapabilities,
        payload: dict[str, Any],
        failure: str | None,
    ) -> tuple[SynthOutput, int, str | None]:
        """The reply, the quota tokens it reserves, and the forced tool's name if any."""
        tool = None
        if op == "invoke":
            system, texts, max_tokens, stop, schema = parse_invoke(payload)
        else:
            system, texts, max_tokens, stop, schema = parse_converse(payload)
            with self._lock:
                self.requests.append(payload)
            check_capabilities(model, caps, payload)
            forced = forced_tool(payload)
            if forced is not None:
                tool, schema = forced
            elif schema is None and failure != "bad_json":
                schema = prompt_schema(system)
        if max_tokens is None:
            max_tokens = min(caps.max_output_tokens, 4096)
        if not 1 <= max_tokens <= caps.max_output_tokens:
            raise RequestError(
                400,
                "ValidationException",
                f"The maximum tokens you requested ({max_tokens}) is not in "
                f"the model's range [1, {caps.max_output_tokens}].",
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
        if reply.input_tokens + max_tokens > caps.context_tokens:
            raise RequestError(
                400,
                "ValidationException",
                f"Input is too long for requested model: {reply.input_tokens} "
                f"input tokens + maxTokens {max_tokens} exceed the context of "
                f"{caps.context_tokens}.",
            )
        if failure in STOP_KINDS:
            # the model stopped without a usable answer: a fragment, or nothing
            cut = reply.text[: len(reply.text) // 3] if failure.startswith("malformed") else ""
            reply = SynthOutput(cut, failure, reply.input_tokens)
            tool = None
        elif tool is not None and reply.stop_reason == "end_turn":
            reply.stop_reason = "tool_use"
        burn = caps.tpm_burndown if self.config.burndown else 1
        return reply, reply.input_tokens + max_tokens * burn, tool

    def _next_failure(self) -> str | None:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            if self.config.failure_rate and self._rng.random() < self.config.failure_rate:
                return self._rng.choice(self.config.failure_kinds)
        return None

    def _admit(self, model: str, reserved: int) -> None:
        with self._lock:
            refused = self._quotas.admit(model, reserved)
            if refused is not None:
                self.counts["throttled"] += 1
                self.counts[f"throttled_{refused}"] += 1
        if refused == "tpd":
            raise RequestError(429, "ThrottlingException", TOKENS_PER_DAY_MESSAGE)
        if refused is not None:
            raise RequestError(*ERRORS["429"])

    def _release(self, model: str, reserved: int, used: int) -> None:
        """Refund the part of the token reservations that was not used."""
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
