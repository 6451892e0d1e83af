"""moto's threaded server for tests and benchmarks: real HTTP, real boto3 clients, no
real AWS account.

``MotoServer`` runs ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (a free port) and
gives the environment that points every boto3 client at it (``AWS_ENDPOINT_URL`` plus
fake credentials), so subprocesses such as the CLI reach the same server. moto keeps
state per process, so one server serves a whole test session; use a fresh bucket and
table name per test.

moto evaluates a conditional write (``IfNoneMatch``, ``ConditionExpression``) and then
applies it in two steps of Python code, so two requests served by two server threads
at once can both pass the same condition — which S3 and DynamoDB never allow (each
request is atomic there). The server therefore handles one request at a time (a lock
around the WSGI app); connections are still accepted by many threads.

``python -m plotpalette.aws.moto_server --port 5000`` runs one in the foreground (for
benchmarks and multi-process tests) and prints its endpoint.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["FAKE_AWS_ENV", "MotoServer", "unique_name"]

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def unique_name(stem: str = "pp") -> str:
    """A bucket/table name no other test uses (lower case, S3-valid)."""
    return f"{stem}-{uuid.uuid4().hex[:12]}"


def _one_at_a_time(app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    """Wrap a WSGI app so that requests are handled (and their bodies built) serially."""
    lock = threading.Lock()

    def serial(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    return serial


class MotoServer:
    """A moto server in a thread of this process (``start``/``stop`` or ``with``)."""

    def __init__(self, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> MotoServer:
        self._server.start()
        wsgi = self._server._server  # werkzeug's server, serving in its own thread
        assert wsgi is not None
        wsgi.app = _one_at_a_time(wsgi.app)
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that send every boto3 client to this server."""
        return {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": self.endpoint_url}

    def client(self, service: str, region: str = "us-east-1") -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def bucket(self, region: str = "us-east-1", **create_args: Any) -> str:
        """Create a fresh bucket (in ``region``) and return its name."""
        name = unique_name("pp-bucket")
        args: dict[str, Any] = dict(create_args)
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.client("s3", region).create_bucket(Bucket=name, **args)
        return name


if __name__ == "__main__":
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Run moto's server (one request at a time).")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with MotoServer(args.port) as server:
        print(server.endpoint_url, flush=True)
        while True:
            time.sleep(3600)
