"""Encoder for the ``application/vnd.amazon.eventstream`` framing Bedrock streams use.

Each message: a prelude (total length and headers length, big-endian uint32), the
CRC32 of the prelude, the headers (name length u8, name, value type 7 = string,
value length u16, value), the payload, and a CRC32 of everything before it.
botocore's ``EventStreamBuffer`` decodes exactly this.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

__all__ = ["encode_event", "encode_exception", "encode_message"]

_STRING = 7


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One framed message with string headers."""
    encoded = b""
    for name, value in headers.items():
        n, v = name.encode("utf-8"), value.encode("utf-8")
        encoded += struct.pack(">B", len(n)) + n + struct.pack(">BH", _STRING, len(v)) + v
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def encode_event(event_type: str, body: dict[str, Any]) -> bytes:
    """An ``event`` message carrying a JSON body (e.g. ``contentBlockDelta``)."""
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body).encode("utf-8"),
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    """An in-stream error (e.g. ``throttlingException`` after the stream started)."""
    return encode_message(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode("utf-8"),
    )
