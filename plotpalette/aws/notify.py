"""Tell someone a job has ended: an SNS message and, optionally, a signed webhook.

:func:`notify_terminal` is the one call the engine makes when a job reaches a final
state (COMPLETED, BUDGET_EXCEEDED, FAILED, CANCELLED, INTERRUPTED), on a laptop as on
AWS Batch. It never raises for a delivery problem: a failed notification must not
change how a job ended. Each channel's outcome is in the returned
:class:`NotifyResult`; the caller logs its ``errors``.

Settings (``notify:`` in the workspace's ``config.yaml``)::

    notify:
      sns: true                   # default: publish when a topic is known
      topic_arn: arn:aws:sns:...  # default: aws.topic_arn (written by deploy), then
                                  # PLOTPALETTE_SNS_TOPIC_ARN (set on Batch workers)
      webhook_url: https://hooks.example.com/plotpalette
      webhook_secret_env: PLOTPALETTE_WEBHOOK_SECRET   # the secret itself never goes
      timeout_s: 5                                      # in a file

Webhook rules, none of which can be switched off: HTTPS only; the host name is
resolved once and every address must be globally routable (loopback, private,
link-local such as the instance-metadata address 169.254.169.254, carrier-grade
NAT, multicast and reserved ranges are refused), and the connection goes to the
address that was checked, so DNS cannot be rebound in between; the certificate is
verified for the host name; redirects are not followed; connect and read time out.
The body is signed: ``X-PlotPalette-Signature: sha256=HEX`` where HEX is
HMAC-SHA256(secret, ``<X-PlotPalette-Timestamp>.<body>``); receivers check it with
:func:`verify_signature`.
"""

from __future__ import annotations

import hmac
import http.client
import ipaddress
import json
import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .._version import __version__
from ..config import Settings
from ..errors import WebhookRefusedError

__all__ = [
    "FINAL_STATES",
    "HttpsTransport",
    "NotifyResult",
    "check_webhook_url",
    "notify_terminal",
    "sign_body",
    "verify_signature",
]

FINAL_STATES = ("COMPLETED", "BUDGET_EXCEEDED", "FAILED", "CANCELLED", "INTERRUPTED")
DEFAULT_SECRET_ENV = "PLOTPALETTE_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-PlotPalette-Signature"
TIMESTAMP_HEADER = "X-PlotPalette-Timestamp"

Resolver = Callable[[str, int], list[str]]


@dataclass
class NotifyResult:
    """Which channels were sent, and why the others were not."""

    sent: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def sign_body(body: bytes, secret: str, timestamp: str) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return "sha256=" + mac.hexdigest()


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """For receivers: is this body signed with ``secret``, and recent (replay guard)?"""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        age = abs((time.time() if now is None else now) - float(stamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(given, sign_body(body, secret, stamp))


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # is_global alone lets multicast through; check every non-unicast class too.
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
    )


def check_webhook_url(url: str, resolver: Resolver | None = None) -> tuple[str, int, str]:
    """Validate ``url`` and resolve it; returns ``(host, port, address to connect to)``.

    Raises :class:`~plotpalette.errors.WebhookRefusedError` for anything but HTTPS
    to public addresses.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise WebhookRefusedError(f"webhook URL {url!r} is not https://")
    if not parts.hostname:
        raise WebhookRefusedError(f"webhook URL {url!r} has no host")
    if parts.username or parts.password:
        raise WebhookRefusedError(
            "webhook URL carries credentials", fix="Remove user:password@ from the URL."
        )
    host, port = parts.hostname, parts.port or 443
    try:
        addresses = (resolver or _system_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise WebhookRefusedError(
            f"cannot resolve webhook host {host!r}: {exc}", fix="Check the URL's host name."
        ) from None
    if not addresses:
        raise WebhookRefusedError(f"webhook host {host!r} resolved to no address")
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        if not all(_public(a) for a in (ip, mapped) if a is not None):
            raise WebhookRefusedError(
                f"webhook host {host!r} resolves to {text}, a non-public address "
                "(loopback, private, link-local or reserved)"
            )
    return host, port, addresses[0]


class HttpsTransport:
    """POSTs over TLS to an already-checked address, verifying the host's certificate.

    ``context`` (an ``ssl.SSLContext``) and ``connect_to`` (maps the checked address
    and port to where the socket goes) exist for tests with a local HTTPS server;
    they cannot relax the address rules, which run before the transport is called.
    """

    def __init__(
        self,
        context: ssl.SSLContext | None = None,
        connect_to: Callable[[str, int], tuple[str, int]] | None = None,
    ) -> None:
        self.context = context or ssl.create_default_context()
        self.connect_to = connect_to

    def post(
        self,
        host: str,
        port: int,
        address: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float,
    ) -> int:
        target = self.connect_to(address, port) if self.connect_to else (address, port)
        raw = socket.create_connection(target, timeout=timeout)
        try:
            tls = self.context.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self.context)
        conn.sock = tls  # already connected to the checked address: no second lookup
        try:
            conn.request("POST", path, body=body, headers=dict(headers))
            response = conn.getresponse()
            response.read(65536)
            return response.status
        finally:
            conn.close()


def _message(job_info: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    state = str(job_info.get("state", "")).upper()
    job_id = str(job_info.get("job_id", ""))
    payload = {
        "event": "plotpalette.job.finished",
        "job_id": job_id,
        "state": state,
        **{k: v for k, v in job_info.items() if k not in ("job_id", "state")},
        "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    name = job_info.get("name")
    subject = f"Plot Palette job {name or job_id} ended {state}"
    return subject[:100], payload


def _publish_sns(topic_arn: str, subject: str, payload: dict[str, Any], client: Any) -> None:
    if client is None:
        import boto3

        client = boto3.client("sns", region_name=topic_arn.split(":")[3] or None)
    lines = [subject, ""] + [f"{k}: {v}" for k, v in payload.items() if k != "event"]
    client.publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message="\n".join(lines),
        MessageAttributes={
            "event": {"DataType": "String", "StringValue": payload["event"]},
            "state": {"DataType": "String", "StringValue": payload["state"]},
            "job_id": {"DataType": "String", "StringValue": payload["job_id"]},
        },
    )


def _send_webhook(
    url: str,
    payload: dict[str, Any],
    secret: str,
    timeout: float,
    resolver: Resolver | None,
    transport: HttpsTransport | None,
) -> int:
    host, port, address = check_webhook_url(url, resolver)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"plotpalette/{__version__}",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign_body(body, secret, stamp),
    }
    status = (transport or HttpsTransport()).post(host, port, address, path, body, headers, timeout)
    if not 200 <= status < 300:
        raise OSError(f"webhook answered HTTP {status}")
    return status


def notify_terminal(
    job_info: Mapping[str, Any],
    settings: Settings,
    *,
    sns_client: Any = None,
    resolver: Resolver | None = None,
    transport: HttpsTransport | None = None,
    environ: Mapping[str, str] | None = None,
) -> NotifyResult:
    """Send the end-of-job notifications ``settings`` ask for.

    ``job_info`` needs ``job_id`` and ``state``; any other JSON-friendly keys
    (``name``, ``records_ok``, ``records_total``, ``spent_usd``, ``budget_usd``,
    ``error``…) go into the message as they are.
    """
    env = os.environ if environ is None else environ
    result = NotifyResult()
    state = str(job_info.get("state", "")).upper()
    if state not in FINAL_STATES:
        result.skipped["all"] = f"state {state or '(none)'} is not final"
        return result
    subject, payload = _message(job_info)
    conf = dict(settings.notify)
    topic = conf.get("topic_arn") or settings.aws.get("topic_arn")
    topic = topic or env.get("PLOTPALETTE_SNS_TOPIC_ARN")
    if conf.get("sns", True) is False or str(conf.get("sns")).lower() == "false":
        result.skipped["sns"] = "notify.sns is false"
    elif not topic:
        result.skipped["sns"] = "no topic (deploy a stack, or set notify.topic_arn)"
    else:
        try:
            _publish_sns(str(topic), subject, payload, sns_client)
            result.sent.append("sns")
        except Exception as exc:
            result.errors["sns"] = f"{type(exc).__name__}: {exc}"
    url = conf.get("webhook_url")
    if not url:
        result.skipped["webhook"] = "no notify.webhook_url"
        return result
    secret_env = str(conf.get("webhook_secret_env") or DEFAULT_SECRET_ENV)
    secret = env.get(secret_env)
    if not secret:
        result.errors["webhook"] = (
            f"{secret_env} is not set; webhooks are always signed — set it to a shared secret"
        )
        return result
    try:
        timeout = float(conf.get("timeout_s", 5))
        _send_webhook(str(url), payload, secret, timeout, resolver, transport)
        result.sent.append("webhook")
    except WebhookRefusedError as exc:
        result.errors["webhook"] = str(exc)
    except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as exc:
        result.errors["webhook"] = f"{type(exc).__name__}: {exc}"
    return result
