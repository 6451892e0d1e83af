"""Bedrock batch inference through the whole engine, offline: cost per record in batch
mode vs on demand for the two-step template (list prices, nova-micro), and the time the
batch path spends around Bedrock (stage, submit, poll, join, write) per record.

Everything is real except Bedrock: boto3 against moto's S3 server and the batch
control-plane emulator (every GetModelInvocationJob moves the job one status on, so
waiting costs five fast polls), the runtime emulator for the on-demand run and the
stragglers, a local workspace (SQLite registry, shards on disk).

    .venv/bin/python benchmarks/bench_bedrock_batch.py [--records 500] [--error-rate 0.05]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import print_machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=500)
    ap.add_argument("--error-rate", type=float, default=0.05)
    args = ap.parse_args()

    from plotpalette import JobSpec, run_job
    from plotpalette.aws.moto_server import MotoServer
    from plotpalette.testing import BedrockEmulator, topic_seeds, workspace_with_template
    from plotpalette.testing.batch_emulator import BatchEmulator

    with MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(moto.env)
        bucket = moto.bucket()
        with (
            BatchEmulator(
                moto.client("s3"), error_rate=args.error_rate, advance_on_get=True
            ) as batch,
            BedrockEmulator() as runtime,
        ):
            os.environ.update(
                AWS_DEFAULT_REGION="us-east-1",
                AWS_ENDPOINT_URL_BEDROCK=batch.endpoint_url,
                PLOTPALETTE_BACKEND="bedrock",
                PLOTPALETTE_REGION="us-east-1",
                PLOTPALETTE_BEDROCK_ENDPOINT_URL=runtime.endpoint_url,
                PLOTPALETTE_BATCH_S3_URI=f"s3://{bucket}/staging",
                PLOTPALETTE_BATCH_ROLE_ARN="arn:aws:iam::123456789012:role/batch",
                PLOTPALETTE_BATCH_MIN_RECORDS="100",
                PLOTPALETTE_BATCH_POLL_S="0.01",
                PLOTPALETTE_WORKSPACE=str(Path(tmp) / "ws"),
            )
            ws = workspace_with_template(Path(tmp) / "ws")
            spec = dict(
                template="qa_two_step", seeds=topic_seeds(args.records), records=args.records
            )
            figures = {}
            for mode in ("on-demand", "batch"):
                started = time.perf_counter()
                result = run_job(ws, JobSpec(**spec, inference_mode=mode))
                elapsed = time.perf_counter() - started
                from plotpalette.jobs.shards import iter_records

                records = list(iter_records(ws.store, result.job_id))
                cost = sum(r.cost_usd for r in records)
                figures[mode] = (result.state.value, len(records), cost, elapsed)
            stragglers = sum(j.counts.get("error", 0) for j in batch.jobs.values())
    print_machine()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"two-step template (qa_two_step, amazon.nova-micro-v1:0), {args.records} records")
    for mode, (state, n, cost, elapsed) in figures.items():
        print(
            f"{mode:>9}: {state}, {n} records, ${cost / n * 1000:.5f} per 1,000 records, "
            f"{elapsed:.2f} s wall ({n / elapsed:.0f} records/s)"
        )
    ratio = figures["batch"][2] / figures["on-demand"][2]
    print(f"batch / on-demand cost per record: {ratio:.3f} (target <= 0.55)")
    print(f"batch stragglers re-run on demand: {stragglers} (error rate {args.error_rate})")


if __name__ == "__main__":
    main()
