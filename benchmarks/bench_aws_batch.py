"""Jobs on AWS Batch, measured on the Batch simulator (no AWS account).

``fleet``: the real stack deployed on moto's server, a job submitted with
``submit_job`` (N = 1, 2, 4, 8 workers), every array child a real worker process
against moto S3/DynamoDB and one Bedrock emulator quota (200 ms median latency,
``--rpm``); prints the calls per minute as a fraction of the quota bound (start-up
included). Then, at N = 4, the same job with ``--interruptions`` Spot interruptions
(SIGTERM; the retry strategy restarts them): time and dollars lost per interruption,
against the uninterrupted run.

``cold-start``: a clean venv installs Plot Palette from a local wheelhouse (as a
worker does from the bucket) and runs a worker to its first model call.

    python benchmarks/bench_aws_batch.py fleet --records 1000 --rpm 300
    python benchmarks/bench_aws_batch.py cold-start
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.infra_support: the moto-ready template

from _fleet_timeline import Timeline  # noqa: E402
from _jobs_common import SEEDS, machine  # noqa: E402


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _stack(server):
    import requests

    from plotpalette import Workspace
    from plotpalette.aws.deploy import deploy
    from plotpalette.aws.moto_server import unique_name
    from plotpalette.templates import TemplateLibrary
    from plotpalette.testing import qa_template
    from tests.infra_support import _fix_moto_change_set_outputs, moto_template

    _fix_moto_change_set_outputs()
    requests.post(f"{server.endpoint_url}/moto-api/config", json={"batch": {"use_docker": False}})
    iam = server.client("iam")
    role = iam.create_service_linked_role(AWSServiceName="batch.amazonaws.com")["Role"]["Arn"]
    tmp = Path(tempfile.mkdtemp())
    result = deploy(
        unique_name("plotpalette-b"),
        env="dev",
        clients=server.client,
        model_ids=["amazon.nova-micro-v1:0"],
        workspace=str(tmp / "local"),
        template=moto_template(tmp / "stack.json", role),
        echo=lambda line: None,
        poll_s=0.05,
    )
    ws = Workspace.open(f"{result.outputs['workspace']}?table={result.outputs['table']}")
    TemplateLibrary(ws).save(qa_template("one", steps=1, output=False))
    return ws, server.client("batch")


def _run(ws, batch, emu, *, workers, records, rpm, interruptions=0, seed=0):
    from plotpalette import JobSpec, job_status, submit_job
    from plotpalette.testing.batch_sim import BatchSimulator

    spec = JobSpec(
        template="one",
        seeds=SEEDS,
        records=records,
        concurrency=8,
        rate_limits={"*": {"rpm": rpm}},
        workers=workers,
    )
    before = emu.counts["ok"]
    timeline = Timeline(emu, rpm).start()
    t = time.perf_counter()
    done = submit_job(ws, spec)
    sim = BatchSimulator(
        batch,
        done.batch_job_id,
        env={"PLOTPALETTE_BEDROCK_ENDPOINT_URL": emu.endpoint_url},
        extra_args=["--lease-seconds", "5"],
    )
    sim.run(interruptions=interruptions, kill_share=0.0, seed=seed, every_s=(2.0, 4.0))
    wall = time.perf_counter() - t
    timeline.stop()
    breakdown = timeline.report(ws.registry.tables, done.job_id)
    return job_status(ws, done.job_id), wall, emu.counts["ok"] - before, sim, breakdown


def fleet(records: int, counts: list[int], rpm: int, interruptions: int) -> None:
    from plotpalette.aws.moto_server import FAKE_AWS_ENV, MotoServer
    from plotpalette.testing import BedrockEmulator

    print(f"machine: {machine()}; load average {_load()}")
    with MotoServer() as server:
        os.environ.update(server.env)
        ws, batch = _stack(server)
        base = {}
        for n in counts:
            with BedrockEmulator(latency_median_s=0.2, latency_jitter=0.3, rpm=rpm) as emu:
                os.environ.update(FAKE_AWS_ENV)
                run = _run(ws, batch, emu, workers=n, records=records, rpm=rpm)
                info, wall, ok, _, breakdown = run
                base[n] = (wall, info.waste_usd)
                per_min = ok / wall * 60
                print(
                    f"workers={n}: {info.state.value} {info.records_ok}/{records} in {wall:.1f} s; "
                    f"{per_min:.0f} calls/min = {per_min / rpm:.3f} of the {rpm} RPM bound "
                    f"(incl. worker start-up); throttled {emu.counts['throttled']}; "
                    f"load {_load()}"
                )
                print("\n".join(breakdown), flush=True)
        if interruptions and 4 in base:
            with BedrockEmulator(latency_median_s=0.2, latency_jitter=0.3, rpm=rpm) as emu:
                info, wall, ok, sim, _ = _run(
                    ws,
                    batch,
                    emu,
                    workers=4,
                    records=records,
                    rpm=rpm,
                    interruptions=interruptions,
                    seed=1,
                )
            hit = [a for a in sim.attempts() if a.interrupted]
            stop_s = [a.stopped - a.signalled for a in hit if a.stopped and a.signalled]
            lost = (wall - base[4][0]) / max(1, len(hit))
            waste = (info.waste_usd - base[4][1]) / max(1, len(hit))
            print(
                f"workers=4 with {len(hit)} Spot interruptions: {info.state.value} "
                f"{info.records_ok}/{records} in {wall:.1f} s (vs {base[4][0]:.1f} s): "
                f"{lost:.1f} s of wall time lost per interruption (incl. a new worker's "
                f"start-up); SIGTERM to exit {max(stop_s, default=0):.1f} s at most; "
                f"${waste:.6f} waste per interruption; retried attempts "
                f"{sum(1 for a in hit if a.action == 'RETRY')}; load {_load()}"
            )


def cold_start() -> None:
    """Clean venv + install from a wheelhouse + worker to its first model call."""
    from plotpalette.aws.wheelhouse import build_wheelhouse
    from plotpalette.testing import BedrockEmulator

    print(f"machine: {machine()}; load average {_load()}")
    tmp = Path(tempfile.mkdtemp())
    t = time.perf_counter()
    wheels = build_wheelhouse(tmp / "wh", ROOT)
    print(f"wheelhouse: {len(wheels)} wheels in {time.perf_counter() - t:.1f} s (deploy time)")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    py = str(tmp / "venv" / "bin" / "python")
    t0 = time.perf_counter()
    subprocess.run(
        [
            py,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(tmp / "wh"),
            "plotpalette",
            "papermill",
            "ipykernel",
        ],
        check=True,
    )
    installed = time.perf_counter() - t0
    with BedrockEmulator(latency_median_s=0.0) as emu:
        ws = tmp / "ws"
        env = {
            **os.environ,
            "PLOTPALETTE_WORKSPACE": str(ws),
            "PLOTPALETTE_BACKEND": "bedrock",
            "PLOTPALETTE_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PLOTPALETTE_BEDROCK_ENDPOINT_URL": emu.endpoint_url,
        }
        make = (
            "from plotpalette import JobSpec, Workspace, create_job;"
            "from plotpalette.templates import TemplateLibrary;"
            "from plotpalette.testing import qa_template;"
            "ws=Workspace.open();TemplateLibrary(ws).save(qa_template('one',steps=1));"
            "print(create_job(ws, JobSpec(template='one', seeds='sample:poetry', records=1)))"
        )
        job = (
            subprocess.run([py, "-c", make], env=env, check=True, capture_output=True, text=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        t1 = time.perf_counter()
        proc = subprocess.Popen(
            [py, "-m", "plotpalette.jobs.worker", job],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while emu.counts["requests"] == 0 and proc.poll() is None:
            time.sleep(0.01)
        first_call = time.perf_counter() - t1
        proc.wait(120)
    print(
        f"cold start: install from the wheelhouse {installed:.1f} s, worker start to first "
        f"model call {first_call:.2f} s, total {installed + first_call:.1f} s "
        f"(local disk, no network; a Fargate task adds the image pull and the wheelhouse "
        f"download from S3); load {_load()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fleet")
    p.add_argument("--records", type=int, default=1000)
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--rpm", type=int, default=300)
    p.add_argument("--interruptions", type=int, default=3)
    sub.add_parser("cold-start")
    args = parser.parse_args()
    if args.cmd == "fleet":
        fleet(args.records, args.counts, args.rpm, args.interruptions)
    else:
        cold_start()


if __name__ == "__main__":
    main()
