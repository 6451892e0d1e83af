"""End-of-job notifications: SNS (moto server) and signed webhooks (a local HTTPS server).

The webhook rules refuse loopback, so the test server on 127.0.0.1 is reached the
honest way: the resolver is injected to answer a public address for the test host,
the rules check that address, and only the transport's ``connect_to`` hook routes the
TCP connection to the local server. TLS is real (a certificate made for the test
host) and the signature is checked by the server with ``verify_signature``.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from plotpalette.aws.notify import (
    HttpsTransport,
    check_webhook_url,
    notify_terminal,
    sign_body,
    verify_signature,
)
from plotpalette.config import Settings
from plotpalette.errors import WebhookRefusedError
from tests.infra_support import subscribed_queue

HOST = "hooks.example.com"
PUBLIC = "93.184.215.14"
SECRET = "s3cret-for-tests"
JOB = {"job_id": "job-42", "state": "COMPLETED", "name": "nightly", "records_ok": 20}


def public_resolver(host, port):
    return [PUBLIC]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address):
    with pytest.raises(WebhookRefusedError, match="non-public address"):
        check_webhook_url(f"https://{HOST}/hook", resolver=lambda h, p: [address])


def test_one_private_address_among_public_ones_is_enough_to_refuse():
    with pytest.raises(WebhookRefusedError):
        check_webhook_url(f"https://{HOST}/", resolver=lambda h, p: [PUBLIC, "10.1.2.3"])


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "ftp://hooks.example.com/",
        "https:///nohost",
        "https://user:pw@hooks.example.com/",
    ],
)
def test_only_plain_https_urls_are_accepted(url):
    with pytest.raises(WebhookRefusedError):
        check_webhook_url(url, resolver=public_resolver)


def test_the_checked_address_is_the_one_returned_for_connecting():
    assert check_webhook_url(f"https://{HOST}:8443/x", resolver=public_resolver) == (
        HOST,
        8443,
        PUBLIC,
    )


def test_signature_round_trip_and_replay_window():
    body = b'{"a": 1}'
    now = time.time()
    headers = {
        "X-PlotPalette-Timestamp": str(int(now)),
        "X-PlotPalette-Signature": sign_body(body, SECRET, str(int(now))),
    }
    assert verify_signature(body, headers, SECRET, now=now)
    assert not verify_signature(body + b" ", headers, SECRET, now=now)
    assert not verify_signature(body, headers, "other", now=now)
    assert not verify_signature(body, headers, SECRET, now=now + 3600)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for HOST."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def https_server(tls_files):
    """A local HTTPS server that records requests and can be told to stall."""
    received: list[dict] = []
    behaviour = {"status": 204, "delay": 0.0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(behaviour["delay"])
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(behaviour["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received, behaviour
    server.shutdown()
    server.server_close()


def transport_to(port, tls_files):
    context = ssl.create_default_context(cafile=str(tls_files[0]))
    seen = []

    def connect_to(address, p):
        seen.append((address, p))  # the checked public address arrives here
        return ("127.0.0.1", port)

    return HttpsTransport(context=context, connect_to=connect_to), seen


def webhook_settings(**extra):
    return Settings(notify={"webhook_url": f"https://{HOST}/plotpalette?team=ml", **extra})


def deliver(port, tls_files, settings=None):
    """notify_terminal through the local HTTPS server; returns (result, addresses)."""
    transport, seen = transport_to(port, tls_files)
    result = notify_terminal(
        JOB,
        settings or webhook_settings(),
        resolver=public_resolver,
        transport=transport,
        environ={"PLOTPALETTE_WEBHOOK_SECRET": SECRET},
    )
    return result, seen


def test_webhook_is_delivered_signed_over_verified_tls(https_server, tls_files):
    port, received, _ = https_server
    result, seen = deliver(port, tls_files)
    assert result.sent == ["webhook"] and result.ok
    assert seen == [(PUBLIC, 443)]
    [request] = received
    assert request["path"] == "/plotpalette?team=ml"
    assert verify_signature(request["body"], request["headers"], SECRET)
    payload = json.loads(request["body"])
    assert payload["job_id"] == "job-42" and payload["state"] == "COMPLETED"
    assert payload["records_ok"] == 20 and payload["event"] == "plotpalette.job.finished"


def test_a_certificate_for_another_host_is_rejected(https_server, tls_files):
    port, received, _ = https_server
    other = Settings(notify={"webhook_url": "https://other.example.org/x"})
    result, _ = deliver(port, tls_files, other)
    assert "webhook" in result.errors and "certificate" in result.errors["webhook"].lower()
    assert received == []


def test_a_slow_webhook_times_out_and_is_reported(https_server, tls_files):
    port, _, behaviour = https_server
    behaviour["delay"] = 2.0
    result, _ = deliver(port, tls_files, webhook_settings(timeout_s=0.3))
    assert "timed out" in result.errors["webhook"]


def test_a_non_2xx_answer_is_an_error(https_server, tls_files):
    port, _, behaviour = https_server
    behaviour["status"] = 500
    result, _ = deliver(port, tls_files)
    assert "HTTP 500" in result.errors["webhook"]


def test_webhooks_are_never_sent_unsigned():
    result = notify_terminal(JOB, webhook_settings(), resolver=public_resolver, environ={})
    assert "PLOTPALETTE_WEBHOOK_SECRET is not set" in result.errors["webhook"]


def test_a_refused_address_is_reported_not_raised():
    result = notify_terminal(
        JOB,
        webhook_settings(),
        resolver=lambda h, p: ["169.254.169.254"],
        environ={"PLOTPALETTE_WEBHOOK_SECRET": SECRET},
    )
    assert "non-public address" in result.errors["webhook"]


def test_running_states_send_nothing():
    result = notify_terminal({"job_id": "j", "state": "RUNNING"}, webhook_settings(), environ={})
    assert result.sent == [] and "all" in result.skipped


def test_sns_message_reaches_a_subscribed_queue(infra_aws):
    sns, sqs = infra_aws("sns"), infra_aws("sqs")
    topic, queue = subscribed_queue(infra_aws, "plotpalette-dev-alarms")
    settings = Settings(aws={"topic_arn": topic})
    result = notify_terminal(
        {**JOB, "state": "BUDGET_EXCEEDED"}, settings, sns_client=sns, environ={}
    )
    assert result.sent == ["sns"]
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "Plot Palette job nightly ended BUDGET_EXCEEDED"
    assert "job_id: job-42" in envelope["Message"]
    assert envelope["MessageAttributes"]["state"]["Value"] == "BUDGET_EXCEEDED"


def test_the_workers_topic_comes_from_the_environment_and_can_be_switched_off(infra_aws):
    sns = infra_aws("sns")
    topic = sns.create_topic(Name="plotpalette-t")["TopicArn"]
    env = {"PLOTPALETTE_SNS_TOPIC_ARN": topic}
    assert notify_terminal(JOB, Settings(), sns_client=sns, environ=env).sent == ["sns"]
    off = notify_terminal(JOB, Settings(notify={"sns": False}), sns_client=sns, environ=env)
    assert off.sent == [] and off.skipped["sns"] == "notify.sns is false"


def test_an_sns_failure_is_reported_not_raised(infra_aws):
    settings = Settings(aws={"topic_arn": "arn:aws:sns:us-east-1:123456789012:missing"})
    result = notify_terminal(JOB, settings, sns_client=infra_aws("sns"), environ={})
    assert "sns" in result.errors and result.sent == []
