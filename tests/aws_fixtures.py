"""AWS fixtures: one moto threaded server per session (real HTTP, fake credentials)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plotpalette.aws.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(moto_server, monkeypatch) -> MotoServer:
    """Point boto3 (in this process and in subprocesses) at the moto server."""
    for name, value in moto_server.env.items():
        monkeypatch.setenv(name, value)
    return moto_server


@pytest.fixture
def s3_bucket(aws_env) -> str:
    """A fresh, empty bucket on the moto server."""
    return aws_env.bucket()
