"""S3 + DynamoDB workspaces: requests and storage cost per record; S3 export memory.

Runs against moto's server in a separate process (real HTTP; its memory is not
counted), never a real account.

``requests``: runs a real job (in-process instant backend, the cheap tier) on an
``s3://`` workspace with a DynamoDB registry and counts every AWS request with
botocore event hooks (``plotpalette.aws.session.request_counts``), per 1,000 records.
Prices them at list prices (us-east-1, Dec 2026: S3 Standard PUT/LIST $0.005 and GET
$0.0004 per 1,000 requests; DynamoDB on-demand $0.625 per million write units and
$0.125 per million read units, units estimated from request/response sizes) and
compares them with the Bedrock cost of a cheap-tier record (amazon.nova-micro at
$0.035/$0.14 per million input/output tokens) — the target is under 2 %.

``export``: writes ``--records`` records (default 1,000,000) as shards into an S3
workspace, then in a fresh child process streams them back from S3 and writes Parquet
to an ``s3://`` destination with the export's own reader and writer
(``iter_records`` → ``plan_columns`` → ``write_files`` on an ``S3Store``), and reports
that child's peak RSS. Target: under 500 MB.

    .venv/bin/python benchmarks/bench_aws_storage.py requests --records 1000
    .venv/bin/python benchmarks/bench_aws_storage.py export --records 1000000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import print_machine

JOB_ID = "bench-s3"
S3_PUT, S3_GET = 0.005 / 1000, 0.0004 / 1000  # USD per request
DDB_WRITE, DDB_READ = 0.625 / 1e6, 0.125 / 1e6  # USD per unit
NOVA_MICRO_IN, NOVA_MICRO_OUT = 0.035 / 1e6, 0.14 / 1e6  # USD per token


def start_moto() -> tuple[subprocess.Popen, dict[str, str]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "plotpalette.aws.moto_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from plotpalette.aws.moto_server import FAKE_AWS_ENV

    env = {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, env
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


def make_bucket_and_table() -> tuple[str, str]:
    from plotpalette.aws.dynamo import create_table
    from plotpalette.aws.moto_server import unique_name
    from plotpalette.aws.session import aws_client

    bucket, table = unique_name("bench"), unique_name("bench-registry")
    aws_client("s3").create_bucket(Bucket=bucket)
    create_table(aws_client("dynamodb"), table)
    return bucket, table


def sample_records(n: int = 200) -> tuple[list, bytes]:
    """Real records of a small local job (instant backend), to replicate."""
    import tempfile

    from plotpalette import Workspace, layout
    from plotpalette.jobs import JobSpec, iter_records, run_job
    from plotpalette.testing import InstantBackend

    ws = Workspace.open(Path(tempfile.mkdtemp(prefix="pp-bench-s3-")) / "ws")
    spec = JobSpec(template="question_answer", seeds="sample:poetry", records=n)
    job = run_job(ws, spec, backend=InstantBackend(), handle_signals=False).job_id
    snapshot = ws.store.read_bytes(layout.template_snapshot_key(job))
    return list(iter_records(ws, job)), snapshot


def generate(url: str, records: int, per_shard: int) -> int:
    from plotpalette import layout
    from plotpalette.jobs.shards import ShardWriter
    from plotpalette.store import store_from_url

    store = store_from_url(url)
    samples, snapshot = sample_records()
    # a job folder is known by its template snapshot (the spec lives in the registry)
    store.write_bytes(layout.template_snapshot_key(JOB_ID), snapshot)
    writer = ShardWriter(store, JOB_ID, "bench")
    for i in range(records):
        writer.add(dataclasses.replace(samples[i % len(samples)], job_id=JOB_ID, index=i))
        if writer.pending >= per_shard:
            writer.flush()
    writer.flush()
    return writer.bytes_written


def export_child(url: str, dest: str) -> None:
    import itertools

    from plotpalette.export.columns import plan_columns
    from plotpalette.export.writers import write_files
    from plotpalette.jobs import iter_records
    from plotpalette.store import store_from_url
    from plotpalette.templates import TemplateLibrary

    start = time.perf_counter()
    source = store_from_url(url)
    records = iter_records(source, JOB_ID, status="ok")
    sample = list(itertools.islice(records, 200))

    class _Ws:  # the template library only needs a store
        store = source

    tpl = TemplateLibrary(_Ws()).get("question_answer")
    plan = plan_columns(
        sample,
        output_columns=list(tpl.output or {}),
        steps=[s.id for s in tpl.steps],
    )
    written = write_files(
        itertools.chain(sample, records),
        plan,
        store_from_url(dest),
        "",
        "parquet",
        shard_size=250_000,
    )
    print(
        json.dumps(
            {
                "rows": written.rows,
                "files": len(written.keys),
                "seconds": time.perf_counter() - start,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def run_export(records: int, per_shard: int) -> None:
    bucket, _ = make_bucket_and_table()
    url, dest = f"s3://{bucket}/ws", f"s3://{bucket}/exports/run1"
    start = time.perf_counter()
    size = generate(url, records, per_shard)
    print(
        f"wrote {records:,} records as {size / 1e6:,.0f} MB of shards to {url} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    out = subprocess.run(
        [sys.executable, __file__, "export-child", url, dest],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    if out.returncode:
        raise SystemExit(f"export failed:\n{out.stderr[-3000:]}")
    fig = json.loads(out.stdout.strip().splitlines()[-1])
    verdict = "under" if fig["peak_rss_mb"] < 500 else "OVER"
    print(
        f"S3 -> Parquet on S3: {fig['rows']:,} rows in {fig['files']} file(s), "
        f"{fig['seconds']:.0f} s, peak RSS {fig['peak_rss_mb']:.0f} MB "
        f"({verdict} the 500 MB target)"
    )


def run_requests(records: int, latency: float, concurrency: int) -> None:
    from plotpalette import Workspace
    from plotpalette.aws.session import request_counts, reset_request_counts
    from plotpalette.jobs import JobSpec, iter_records, job_status, run_job
    from plotpalette.testing import InstantBackend

    bucket, table = make_bucket_and_table()
    ws = Workspace.open(f"s3://{bucket}/ws?table={table}")
    reset_request_counts()
    spec = JobSpec(
        template="question_answer",
        seeds="sample:poetry",
        records=records,
        tier="cheap",
        budget_usd=100.0,
        concurrency=concurrency,
    )
    start = time.perf_counter()
    backend = InstantBackend(latency_s=latency, output_tokens=150)
    job = run_job(ws, spec, backend=backend, handle_signals=False).job_id
    seconds = time.perf_counter() - start
    counts = request_counts()
    info = job_status(ws, job)
    per = 1000 / records
    s3 = {k: v for k, v in counts.items() if k.startswith("s3.")}
    ddb = {k: v for k, v in counts.items() if k.startswith("dynamodb.") and "units" not in k}
    puts = sum(v for k, v in s3.items() if k.split(".")[1] in ("PutObject", "ListObjectsV2"))
    gets = sum(v for k, v in s3.items() if k.split(".")[1] in ("GetObject", "HeadObject"))
    wru, rru = counts.get("dynamodb.write_units", 0), counts.get("dynamodb.read_units", 0)
    storage = puts * S3_PUT + gets * S3_GET + wru * DDB_WRITE + rru * DDB_READ
    tokens_in = tokens_out = 0
    for record in iter_records(ws, job):
        for step in record.steps.values():
            tokens_in += step.input_tokens
            tokens_out += step.output_tokens
    bedrock = (tokens_in * NOVA_MICRO_IN + tokens_out * NOVA_MICRO_OUT) / info.records_ok
    typical = 500 * NOVA_MICRO_IN + 300 * NOVA_MICRO_OUT  # two steps, 500 in / 300 out
    per_record = storage / records
    print(
        f"job {info.state.value}: {info.records_ok:,} records in {seconds:.1f} s "
        f"(instant backend, {latency * 1000:.0f} ms a call, concurrency {concurrency})"
    )
    print("per 1,000 records:")
    for name, value in sorted({**s3, **ddb}.items()):
        print(f"  {name:28s} {value * per:8.1f}")
    print(f"  {'dynamodb write units':28s} {wru * per:8.1f}")
    print(f"  {'dynamodb read units':28s} {rru * per:8.1f}")
    print(f"storage requests: ${per_record * 1e6:.4f} per 1M records")
    for label, cost in (("this job's tokens", bedrock), ("a typical 2-step record", typical)):
        share = per_record / cost * 100
        verdict = "under" if share < 2 else "OVER"
        print(
            f"  vs nova-micro Bedrock cost of {label} (${cost * 1e6:.2f} per 1M records): "
            f"{share:.2f} % ({verdict} the 2 % target)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["requests", "export", "export-child"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--per-shard", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds a model call")
    parser.add_argument("--concurrency", type=int, default=16)
    opts = parser.parse_args()
    if opts.mode == "export-child":
        export_child(*opts.args)
        return
    print_machine()
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    proc, env = start_moto()
    os.environ.update(env)
    try:
        if opts.mode == "export":
            run_export(opts.records or 1_000_000, opts.per_shard)
        else:
            run_requests(opts.records or 1000, opts.latency, opts.concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
