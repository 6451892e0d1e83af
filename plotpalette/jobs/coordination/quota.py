"""One RPM/TPM quota shared by every worker of a workspace (AIMD across the fleet).

Bedrock's quotas are per account, model and Region, not per process: N workers (of
one job, or of jobs side by side) must share them. Each model's quota has one item,
``quota/<model>@<region>``, holding the live workers (with an expiry, refreshed on
every heartbeat) and the fleet's learnt request rate:

- **Shares.** Each live worker paces at ``1/N`` of the configured RPM/TPM
  (``ModelLimiter.set_share``); N is re-read on every heartbeat, so shares rebalance
  when workers join, leave or die (a dead worker's entry simply expires).
- **AIMD across the fleet.** A worker that saw a throttle since its last heartbeat cuts
  the fleet rate multiplicatively (to its own measured rate times N, times 0.9) — at
  most once per cooldown, so ten workers hitting the same storm cut once, not ten
  times; heartbeats without throttles raise it additively. Every worker paces at its
  share of the fleet rate.
- **No limits configured.** Discovery works the same way: the first throttle any
  worker sees sets the fleet rate for all, instead of each worker finding the quota by
  throttling on its own (N times the storm).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from ...tables import Tables, update

__all__ = ["QUOTA", "apply_shares", "sync_share"]

QUOTA = "quota"
COOLDOWN_S = 2.0
BACKOFF = 0.9
GROWTH = 0.03  # fleet rate +3 % per second without throttles


def sync_share(
    tables: Tables,
    key: str,
    member: str,
    *,
    lease_s: float,
    throttled: bool,
    measured_per_s: float,
    limit_per_s: float | None,
) -> tuple[float, float | None]:
    """Refresh ``member``'s place in the quota ``key``; returns ``(share, fleet rate)``
    where ``share`` is this worker's fraction and ``fleet rate`` the requests/s the
    whole fleet should make (``None`` until learnt and no limit configured)."""
    now = time.time()
    if tables.get(QUOTA, key) is None:
        tables.create(QUOTA, key, {"members": {}, "fleet_per_s": None, "last_cut": 0.0})
    out: dict[str, Any] = {}

    def fn(data: dict[str, Any]) -> dict[str, Any]:
        members = {m: e for m, e in data["members"].items() if e > now}
        members[member] = now + lease_s
        n = len(members)
        rate = data.get("fleet_per_s")
        if throttled and measured_per_s > 0 and now - data.get("last_cut", 0) >= COOLDOWN_S:
            cut = measured_per_s * n * BACKOFF
            rate = cut if rate is None else min(rate, cut)
            data["last_cut"] = now
        elif rate is not None and not throttled:
            # additive-ish probe per second of fleet time (not per heartbeat: N workers
            # heartbeating must not grow it N times as fast)
            rate *= 1 + GROWTH * max(0.0, min(5.0, now - data.get("grown_at", now)))
        data["grown_at"] = now
        if rate is not None and limit_per_s:
            rate = min(rate, limit_per_s)
        data.update(members=members, fleet_per_s=rate)
        out.update(share=1.0 / n, rate=rate)
        return data

    update(tables, QUOTA, key, fn)
    return out["share"], out["rate"]


def apply_shares(tables: Tables, backend: Any, lease_s: float, seen: dict[str, int]) -> None:
    """Sync every limiter of ``backend`` (a Bedrock backend) with its fleet quota;
    ``seen`` keeps the throttle counts of the previous heartbeat. Blocking.

    The member is the limiter's process (workers in one process share its limiters),
    so in-process workers count once."""
    member = f"{socket.gethostname()}:{os.getpid()}:{id(backend):x}"
    registry = getattr(backend, "limiters", None)
    if registry is None or not hasattr(registry, "all"):
        return  # a backend without client-side limits (local, test doubles)
    for limiter in registry.all():
        key = f"{limiter.model}@{limiter.region}"
        throttled = limiter.throttles > seen.get(key, 0)
        seen[key] = limiter.throttles
        now = limiter.clock.now()
        share, rate = sync_share(
            tables,
            key,
            member,
            lease_s=lease_s,
            throttled=throttled,
            measured_per_s=limiter._measured_rate(now),
            limit_per_s=limiter.rpm_limit / 60 if limiter.rpm_limit else None,
        )
        limiter.set_share(share, rate)


def prime(backend: Any, models: list[str]) -> None:
    """Create the limiters a job will use before its first call, so that the first
    :func:`apply_shares` (at join) paces them at their share from the start."""
    registry = getattr(backend, "limiters", None)
    if registry is None or not hasattr(registry, "all"):
        return
    for model in models:
        registry.get(model, getattr(backend, "region", None))
