"""The emulators' HTTP side: the threaded server (and :class:`ServedEmulator`, its
start/stop/endpoint for an emulator class), and writing Bedrock-shaped replies.

Replies are JSON (``converse``, ``invoke_model``, errors with ``x-amzn-ErrorType``) or
an AWS event stream (``converse_stream``); :func:`break_connection` produces the
``reset`` and ``malformed`` failures a real network can show.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from .eventstream import encode_event, encode_exception
from .protocol import RequestError, usage_body
from .synth import SynthOutput

__all__ = [
    "EmulatorHandler",
    "EmulatorServer",
    "ServedEmulator",
    "break_connection",
    "send_bytes",
    "send_error",
    "send_json",
    "send_stream",
]


class EmulatorHandler(BaseHTTPRequestHandler):
    """One connection; every POST goes to the server's ``on_post``."""

    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.server.on_post(self)


class EmulatorServer(ThreadingHTTPServer):
    """A threaded server on ``address`` that hands each POST to ``on_post``."""

    daemon_threads = True
    request_queue_size = 512

    def __init__(
        self,
        address: tuple[str, int],
        on_post: Callable[[EmulatorHandler], None],
        handler: type[EmulatorHandler] = EmulatorHandler,
    ) -> None:
        super().__init__(address, handler)
        self.on_post = on_post

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError):  # a "reset" failure already closed the socket
            request.shutdown(socket.SHUT_WR)
        self.close_request(request)


_E = TypeVar("_E", bound="ServedEmulator")


class ServedEmulator:
    """Serve an emulator on a free port of 127.0.0.1: :meth:`start` (or ``with``),
    :meth:`stop`, :attr:`endpoint_url`. A subclass answers each request in
    :meth:`_handle`; ``_handler_class`` adds methods besides POST."""

    _thread_name = "emulator"
    _handler_class: type[EmulatorHandler] = EmulatorHandler
    _server: EmulatorServer | None = None

    def _handle(self, h: EmulatorHandler) -> None:
        raise NotImplementedError

    def start(self: _E) -> _E:
        if self._server is None:
            self._server = EmulatorServer(("127.0.0.1", 0), self._handle, self._handler_class)
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=self._thread_name,
                daemon=True,
            ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; use `with` or start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"


def send_json(
    h: EmulatorHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    """Reply with ``body`` as JSON."""
    send_bytes(h, status, json.dumps(body).encode("utf-8"), "application/json", headers)


def send_error(h: EmulatorHandler, err: RequestError) -> None:
    """Reply with Bedrock's error shape: the status, ``{"message"}`` and the type in
    ``x-amzn-ErrorType`` (which botocore reads as the error code)."""
    send_json(
        h,
        err.status,
        {"message": err.message},
        {"x-amzn-ErrorType": f"{err.error_type}:http://internal.amazon.com/"},
    )


def send_bytes(
    h: EmulatorHandler,
    status: int,
    data: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Reply with ``data`` and a request id, as Bedrock does."""
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(data)))
    h.send_header("x-amzn-RequestId", str(uuid.uuid4()))
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.end_headers()
    h.wfile.write(data)


def send_stream(
    h: EmulatorHandler,
    reply: SynthOutput,
    latency_ms: int,
    tool: str | None = None,
    error: tuple[str, str] | None = None,
) -> None:
    """Reply to ``converse_stream``: the text (or a forced tool's input) in chunks of
    four words, then usage; with ``error`` (exception type, message) the stream breaks
    off with an in-stream exception after the first chunk, as Bedrock's can."""
    events = [encode_event("messageStart", {"role": "assistant"})]
    if tool is not None:
        start = {"toolUse": {"toolUseId": f"tooluse_{uuid.uuid4().hex[:16]}", "name": tool}}
        events.append(encode_event("contentBlockStart", {"contentBlockIndex": 0, "start": start}))
    words = reply.text.split(" ")
    for i in range(0, len(words), 4):
        chunk = " ".join(words[i : i + 4]) + (" " if i + 4 < len(words) else "")
        delta = {"toolUse": {"input": chunk}} if tool is not None else {"text": chunk}
        events.append(encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
        if error is not None:
            events.append(encode_exception(*error))
            return send_bytes(h, 200, b"".join(events), "application/vnd.amazon.eventstream")
    events.append(encode_event("contentBlockStop", {"contentBlockIndex": 0}))
    events.append(encode_event("messageStop", {"stopReason": reply.stop_reason}))
    events.append(
        encode_event("metadata", {"usage": usage_body(reply), "metrics": {"latencyMs": latency_ms}})
    )
    send_bytes(h, 200, b"".join(events), "application/vnd.amazon.eventstream")


def break_connection(h: EmulatorHandler, kind: str) -> None:
    """The ``malformed`` failure (truncated JSON) or ``reset`` (a TCP RST, no reply)."""
    if kind == "malformed":
        return send_bytes(h, 200, b'{"output": {"message": {"content": [{"te', "application/json")
    # Connection reset: close with SO_LINGER 0 so the peer gets an RST, not a reply.
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.close_connection = True
    h.connection.close()
    return None
