"""N workers on one job: fan-out against one quota, budget writes, waste after kills.

    python benchmarks/bench_scaleout.py fanout [--records 2000] [--workers 1,2,4,8]
    python benchmarks/bench_scaleout.py writes [--calls 1000]
    python benchmarks/bench_scaleout.py waste  [--records 2000] [--kills 25]

``fanout``: N ``plotpalette worker`` processes on one job against one Bedrock emulator
(200 ms median latency, 600 RPM), a one-step template; prints the fraction of the
quota bound reached (completed calls/min over 600) and the share of requests
throttled, with the quota configured (``rate_limits``) and with no limits (discovery).
``writes``: durable budget-item writes (and spend-mark writes) per 1,000 calls at
Bedrock-like latency (200 ms, 8 in flight). ``waste``: the kill torture (4 workers,
random SIGKILL/SIGTERM with replacements) and the dollars booked at reclaims of killed
workers' leases as a fraction of spend.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _fleet_timeline import Timeline
from _jobs_common import SEEDS, fresh_workspace, machine

DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def fanout(records: int, counts: list[int], rpm: int = 600) -> None:
    from plotpalette.jobs import JobSpec, create_job
    from plotpalette.jobs.fleet import run_fleet
    from plotpalette.testing import BedrockEmulator, qa_template, workspace_with_template

    os.environ.update(DUMMY_AWS)
    print(f"machine: {machine()}; load average {_load()}")
    for mode in os.environ.get("FANOUT_MODES", "limits,discovery").split(","):
        for n in counts:
            with BedrockEmulator(latency_median_s=0.2, latency_jitter=0.3, rpm=rpm) as emu:
                root = fresh_workspace(f"fanout{n}").root
                ws = workspace_with_template(root, qa_template("one", steps=1))
                limits = f"rate_limits: {{'*': {{rpm: {rpm}}}}}\n" if mode == "limits" else ""
                (root / "config.yaml").write_text(
                    f"backend: bedrock\nregion: us-east-1\nbedrock_endpoint_url: "
                    f"{emu.endpoint_url}\nconcurrency: 16\n{limits}"
                )
                from plotpalette.workspace import Workspace

                ws = Workspace.open(str(root))
                spec = JobSpec(template="one", seeds=SEEDS, records=records, backend="bedrock")
                job_id = create_job(ws, spec)
                timeline = Timeline(emu, rpm).start()
                t = time.perf_counter()
                info, codes = run_fleet(ws, job_id, n, poll_s=0.5, env=DUMMY_AWS)
                wall = time.perf_counter() - t
                timeline.stop()
                ok, req = emu.counts["ok"], emu.counts["requests"]
                thr = emu.counts["throttled"]
                per_min = ok / wall * 60
                # from the first worker's start to the finalizer (process start-up excluded)
                span = (info.finished_at or time.time()) - (info.started_at or 0)
                steady = ok / span * 60 if span > 0 else 0.0
                print(
                    f"{mode:9} workers={n}: {info.state.value} {info.records_ok}/{records} in "
                    f"{wall:.1f} s; {per_min / rpm:.3f} of the {rpm} RPM bound incl. process "
                    f"start-up, {steady / rpm:.3f} while the job ran; throttled {thr}/{req} "
                    f"({100 * thr / max(1, req):.1f}%); exit codes {codes}; "
                    f"load {_load()}"
                )
                print("\n".join(timeline.report(ws.registry.tables, job_id)), flush=True)


def writes(calls: int) -> None:
    from plotpalette.jobs import JobSpec, RunOptions, run_job
    from plotpalette.testing import InstantBackend

    ws = fresh_workspace("writes")
    spec = JobSpec(template="bench_qa", seeds=SEEDS, records=calls // 2, budget_usd=100.0)
    t = time.perf_counter()
    result = run_job(
        ws,
        spec,
        backend=InstantBackend(latency_s=0.2),
        options=RunOptions(concurrency=8),
        handle_signals=False,
    )
    wall = time.perf_counter() - t
    x = result.extra
    print(f"machine: {machine()}; load average {_load()}")
    print(
        f"{x['calls']} calls in {wall:.1f} s at 200 ms, 8 in flight: {x['budget_writes']} "
        f"budget-item writes ({1000 * x['budget_writes'] / x['calls']:.1f} per 1,000 calls), "
        f"{x['mark_writes']} spend-mark writes on the worker's own item "
        f"({1000 * x['mark_writes'] / x['calls']:.1f} per 1,000 calls)"
    )


def waste(records: int, kills: int) -> None:
    from plotpalette.jobs import JobSpec, create_job, job_status
    from plotpalette.jobs.coordination.finalize import finalize
    from plotpalette.testing import worker_command

    ws = fresh_workspace("waste")
    job_id = create_job(ws, JobSpec(template="bench_qa", seeds=SEEDS, records=records))
    rng = random.Random(7)

    def start() -> subprocess.Popen[bytes]:
        cmd = worker_command(ws, job_id, latency=0.05, concurrency=8, flush_seconds=0.2)
        return subprocess.Popen(
            [*cmd, "--lease-seconds", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    procs = [start() for _ in range(4)]
    done = 0
    while done < kills and job_status(ws, job_id).state.value in ("QUEUED", "RUNNING"):
        time.sleep(rng.uniform(0.2, 0.8))
        working = {w["pid"] for w in job_status(ws, job_id).workers}
        alive = [p for p in procs if p.poll() is None and p.pid in working]
        if not alive:  # kill only workers that joined (they hold units and leases)
            continue
        done += 1
        victim = rng.choice(alive)
        victim.send_signal(rng.choice([signal.SIGKILL, signal.SIGTERM]))
        victim.wait(60)
        procs.remove(victim)
        procs.append(start())
    for p in procs:
        p.wait(600)
    finalize(ws.registry, ws.store, job_id)
    info = job_status(ws, job_id)
    ledger = ws.registry.ledger(job_id)
    reclaimed = sum(r.settle_usd for r in ledger if r.kind == "reclaim")
    reclaims = sum(1 for r in ledger if r.kind == "reclaim")
    print(f"machine: {machine()}; load average {_load()}")
    print(
        f"{done} kills; {info.state.value}: {info.records_done}/{records} records; spend "
        f"${info.settled_usd:.5f}; waste ${info.waste_usd:.5f} "
        f"({100 * info.waste_usd / max(info.settled_usd, 1e-12):.2f}% of spend); booked at "
        f"{reclaims} reclaims of killed workers' leases ${reclaimed:.5f} "
        f"({100 * reclaimed / max(info.settled_usd, 1e-12):.2f}% of spend)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["fanout", "writes", "waste"])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=25)
    args = parser.parse_args()
    if args.what == "fanout":
        fanout(args.records, [int(n) for n in args.workers.split(",")])
    elif args.what == "writes":
        writes(args.calls)
    else:
        waste(args.records, args.kills)


if __name__ == "__main__":
    main()
