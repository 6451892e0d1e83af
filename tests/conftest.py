"""Shared fixtures. Every test runs offline against a throw-away workspace."""

from __future__ import annotations

import pytest

# The Bedrock emulator fixture (`bedrock_emulator`) ships with the package.
pytest_plugins = [
    "plotpalette.testing.pytest_plugin",
    "tests.aws_fixtures",
    "tests.infra_support",
    "tests.batch_fixtures",
    "tests.bedrock_batch_fixtures",
]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """A fresh workspace per test, no PLOTPALETTE_* leakage, and no way to reach AWS."""
    import os

    for name in list(os.environ):
        if name.startswith("PLOTPALETTE_") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("aws")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    workspace = tmp_path_factory.mktemp("ws") / "workspace"
    monkeypatch.setenv("PLOTPALETTE_WORKSPACE", str(workspace))
    return workspace


@pytest.fixture
def workspace(isolated_env):
    from plotpalette import Workspace

    return Workspace.open(isolated_env)


@pytest.fixture
def emulated_bedrock_env(monkeypatch):
    """The ``bedrock`` backend pointed at a fresh Bedrock emulator, with fake credentials
    (for CLI tests that build their backend from settings); yields the emulator."""
    from plotpalette.testing import BedrockEmulator

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PLOTPALETTE_BACKEND": "bedrock",
        "PLOTPALETTE_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with BedrockEmulator() as emu:
        monkeypatch.setenv("PLOTPALETTE_BEDROCK_ENDPOINT_URL", emu.endpoint_url)
        yield emu
