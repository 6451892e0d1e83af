"""pytest fixtures for the model layer (enable with
``pytest_plugins = ["plotpalette.testing.pytest_plugin"]`` in ``conftest.py``).

``bedrock_emulator`` starts a fresh :class:`BedrockEmulator` per test and sets dummy
AWS credentials and Region in the environment, so boto3 clients and
``BedrockBackend`` never reach (or need) a real account.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .emulator import BedrockEmulator

__all__ = ["bedrock_emulator"]

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture
def bedrock_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[BedrockEmulator]:
    """A running emulator (``.endpoint_url``, ``.configure(...)``) with dummy credentials."""
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with BedrockEmulator() as emulator:
        yield emulator
