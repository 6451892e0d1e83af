"""Kill/resume torture: 20 kills (SIGKILL and SIGTERM alternating) over a 2,000-record
job run by worker subprocesses, then a final resume. Reports duplicates, losses, waste.

    python benchmarks/bench_kill_resume.py [kills] [records]
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _jobs_common import SEEDS, fresh_workspace, machine


def main(kills: int = 20, records: int = 2000) -> None:
    from plotpalette.jobs import (
        JobSpec,
        JobState,
        RunOptions,
        create_job,
        iter_records,
        job_status,
        resume_job,
        scan_shards,
    )
    from plotpalette.testing import InstantBackend, wait_until_running, worker_command

    ws = fresh_workspace("kill")
    job_id = create_job(
        ws, JobSpec(template="bench_qa", seeds=SEEDS, records=records, budget_usd=1.0)
    )
    rng = random.Random(7)
    done_kills = 0
    for n in range(kills):
        proc = subprocess.Popen(
            worker_command(ws, job_id, latency=0.01, concurrency=8, flush_seconds=0.2),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_running(ws, job_id, proc, timeout=30)
        time.sleep(rng.uniform(0.1, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if n % 2 else signal.SIGTERM)
            done_kills += 1
        proc.wait(60)
        if job_status(ws, job_id).state is JobState.COMPLETED:
            break
    result = resume_job(ws, job_id, backend=InstantBackend(), options=RunOptions())
    scan = scan_shards(ws, job_id)
    info = job_status(ws, job_id)
    stored = sum(r.cost_usd for r in iter_records(ws, job_id))
    print(f"machine: {machine()}")
    print(
        f"{done_kills} kills; final state {result.state.value}; records "
        f"{len(scan.indices)}/{records}; losses {records - len(scan.indices)}; duplicate "
        f"copies ignored {scan.duplicates} (records read once each)"
    )
    print(
        f"spend ${info.spend_usd:.5f} (budget $1); cost of stored records ${stored:.5f}; "
        f"waste ${info.waste_usd:.5f} "
        f"({100 * info.waste_usd / max(info.spend_usd, 1e-12):.1f}% of spend)"
    )
    recovered = sum(r.settle_usd for r in ws.registry.ledger(job_id) if r.kind == "reclaim")
    print(f"of which booked at reclaims of killed workers' leases: ${recovered:.5f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
