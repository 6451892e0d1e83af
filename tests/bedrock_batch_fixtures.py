"""Bedrock batch inference, offline: moto's S3 plus the batch control-plane emulator
(real HTTP for both) and the runtime emulator for the on-demand stragglers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from plotpalette import JobSpec
from plotpalette.testing import BedrockEmulator, topic_seeds
from plotpalette.testing.batch_emulator import BatchEmulator
from plotpalette.testing.billing import BillingMeter

ROLE_ARN = "arn:aws:iam::123456789012:role/plotpalette-bedrock-batch"


@dataclass
class BatchEnv:
    batch: BatchEmulator  # the control plane (drive it with advance/finish)
    runtime: BedrockEmulator  # on-demand calls (stragglers, small steps)
    meter: BillingMeter  # what the runtime emulator billed
    bucket: str
    s3: Any
    env: dict[str, str]  # the variables that point a subprocess at all of it

    @property
    def billed_usd(self) -> float:
        """Batch and on-demand bills together: what the account would pay."""
        return self.batch.billed_usd + self.meter.billed_usd


@pytest.fixture
def bedrock_batch_env(aws_env, monkeypatch) -> Iterator[BatchEnv]:
    """Settings for a bedrock-backend job in batch mode (min 10 records, fast polls)."""
    bucket = aws_env.bucket()
    s3 = aws_env.client("s3")
    with BatchEmulator(s3) as batch, BedrockEmulator() as runtime:
        env = {
            **aws_env.env,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_BEDROCK": batch.endpoint_url,
            "PLOTPALETTE_BACKEND": "bedrock",
            "PLOTPALETTE_REGION": "us-east-1",
            "PLOTPALETTE_BEDROCK_ENDPOINT_URL": runtime.endpoint_url,
            "PLOTPALETTE_BATCH_S3_URI": f"s3://{bucket}/staging",
            "PLOTPALETTE_BATCH_ROLE_ARN": ROLE_ARN,
            "PLOTPALETTE_BATCH_MIN_RECORDS": "10",
            "PLOTPALETTE_BATCH_POLL_S": "0.05",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield BatchEnv(batch, runtime, BillingMeter.attach(runtime), bucket, s3, env)


@contextlib.contextmanager
def driving(env: BatchEnv) -> Iterator[BatchEnv]:
    """Play Bedrock's clock while inside: every batch job moves one status every 0.1 s."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.1):
            env.batch.advance()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield env
    finally:
        stop.set()
        thread.join()


@pytest.fixture
def driven(bedrock_batch_env) -> Iterator[BatchEnv]:
    """:func:`bedrock_batch_env` with Bedrock's clock running (see :func:`driving`)."""
    with driving(bedrock_batch_env) as env:
        yield env


def batch_spec(records: int, template: str = "qa_two_step", **fields: Any) -> JobSpec:
    """A batch-mode job of ``records`` records over as many topic seeds."""
    return JobSpec(
        template=template,
        seeds=topic_seeds(records),
        records=records,
        inference_mode="batch",
        **fields,
    )
