"""The numbers a job console shows, from the registry and (when live) the last progress event."""

from __future__ import annotations

from typing import Any

from ._job_html import format_duration, format_usd

__all__ = ["job_figures", "summary_text", "workers_text"]


def job_figures(
    info: Any,
    progress: dict[str, Any],
    rate_window: list[tuple[float, int]],
    *,
    running_here: bool,
    paused: bool,
) -> dict[str, Any]:
    """Counts, spend, rate and ETA of a job.

    ``info`` is the registry's JobInfo; ``progress`` the latest ``progress`` event of a job
    running in this process (fresher than the registry, which is written at
    checkpoints), or ``{}``; ``rate_window`` is ``(monotonic time, records done)`` samples
    of earlier refreshes, used for the rate when there are no events.
    """
    p = progress
    done = p.get("settled", info.records_done)
    total = p.get("total", info.records_total)
    if p:
        per_s = float(p.get("records_per_s", 0.0))
    elif len(rate_window) >= 2:
        (t0, d0), (t1, d1) = rate_window[0], rate_window[-1]
        per_s = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
    else:
        per_s = 0.0
    state = info.state.value
    if paused and state == "RUNNING":
        state = "PAUSED"  # a display state: the registry still says RUNNING
    elif state == "RUNNING" and info.activity != state:
        state = info.activity  # WAITING_ON_BEDROCK: a batch job has the records
    remaining = max(0, total - done)
    eta = remaining / per_s if per_s > 0 and state == "RUNNING" else None
    if remaining == 0:
        eta = 0.0
    limiters = p.get("limiters", [])
    return {
        "state": state,
        "done": done,
        "total": total,
        "ok": p.get("ok", info.records_ok),
        "failed": p.get("failed", info.records_failed),
        "filtered": p.get("filtered", info.records_filtered),
        "unsettled": p.get("unsettled", 0),
        "spend": p.get("spend_usd", info.spend_usd),
        "budget": info.budget_usd,
        "waste": p.get("waste_usd", info.waste_usd),
        "tokens": p.get("tokens"),
        "in_flight": p.get("in_flight", 0),
        "stopping": p.get("stopping"),
        "per_min": per_s * 60,
        "eta_s": eta,
        "limiters": limiters,
        "throttles": sum(s.get("throttles", 0) for s in limiters),
        "retries": sum(s.get("retries", 0) for s in limiters),
        "error": info.error,
        "progress": done / total if total else 0.0,
        "mode": "live" if running_here else "registry",
        # the job's workers (every process, from the registry), its work units, and
        # the budget leased to workers vs spent
        "workers": len(getattr(info, "workers", []) or []),
        "units": dict(getattr(info, "units", {}) or {}),
        "spent": info.settled_usd,
        "leased": info.reserved_usd,
    }


def summary_text(job_id: str, f: dict[str, Any]) -> str:
    """The figures as plain text (headless runs, logs, run reports)."""
    lines = [
        f"job {job_id}: {f['state']}",
        f"  records: {f['done']}/{f['total']} ({f['ok']} ok, {f['failed']} failed, "
        f"{f['filtered']} filtered)",
        f"  spend:   {format_usd(f['spend'])} of {format_usd(f['budget'])}",
        f"  rate:    {f['per_min']:.1f} records/min, ETA {format_duration(f['eta_s'])}",
        workers_text(f),
    ]
    if f["error"]:
        lines.append(f"  reason:  {f['error'].get('message')}")
        lines.append(f"  fix:     {f['error'].get('fix')}")
    return "\n".join(lines)


def workers_text(f: dict[str, Any]) -> str:
    """Live workers, work units and budget leased vs spent, in one line."""
    u = f.get("units") or {}
    return (
        f"  workers: {f.get('workers', 0)} live · units {u.get('done', 0)} done / "
        f"{u.get('leased', 0)} leased / {u.get('left', 0)} left · spent "
        f"{format_usd(f.get('spent', 0.0))}, leased {format_usd(f.get('leased', 0.0))}"
    )
