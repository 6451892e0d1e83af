"""One RPM/TPM quota shared by every worker of a workspace (AIMD across the fleet).

Bedrock's quotas are per account, model and Region, not per process: N workers (of
one job, or of jobs side by side) must share them. Each model's quota has one item,
``quota/<model>@<region>``, holding the live workers (with an expiry, refreshed on
every heartbeat) and the fleet's learnt request rate:

- **Shares.** Each live worker paces at ``1/N`` of the configured RPM/TPM
  (``ModelLimiter.set_share``); N is re-read on every heartbeat, so shares rebalance
  when workers join, leave or die (a dead worker's entry simply expires).
- **AIMD across the fleet.** A worker that saw a throttle since its last heartbeat cuts
  the fleet rate multiplicatively (to 0.9 of the fleet's summed successes per second
  if that is lower, never below half the learnt rate) — at most once per cooldown, so
  ten workers hitting the same storm cut once, not ten times; heartbeats without
  throttles raise it, faster the longer none came. Every worker paces at its share of
  the fleet rate.
- **No limits configured.** Discovery works the same way: the first throttle any
  worker sees sets the fleet rate for all, instead of each worker finding the quota by
  throttling on its own (N times the storm). A worker joining before any rate is learnt
  starts at its share of one worker's in-flight ceiling; one joining after paces at
  its share of the learnt rate from its first call.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from ...tables import Tables, update

__all__ = ["QUOTA", "apply_shares", "leave", "sync_share"]

QUOTA = "quota"
COOLDOWN_S = 2.0
BACKOFF = 0.9
GROWTH = 0.03  # fleet rate +3 % per second without throttles
MAX_CUT = 0.5  # one cut keeps at least half of a learnt fleet rate
MIN_SHARE_DIV = 4  # a newcomer with no room yet paces at 1/(4N) until the others shrink


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
        members = {m: _entry(e) for m, e in data["members"].items()}
        members = {m: e for m, e in members.items() if e["expires"] > now}
        n = len(members | {member: {}})
        # Grow only into room the others have already given up: a newcomer must not
        # pace at 1/N while the earlier workers still pace at 1/(N-1) until their next
        # heartbeat (joins in a row summed to 1 + 1/2 + ... + 1/N of the quota).
        others = sum(e["share"] for m, e in members.items() if m != member)
        share = max(min(1.0 / n, 1.0 - others), 1.0 / (n * MIN_SHARE_DIV))
        members[member] = {"expires": now + lease_s, "share": share, "ok_per_s": measured_per_s}
        rate = data.get("fleet_per_s")
        if throttled and now - data.get("last_cut", 0) >= COOLDOWN_S:
            # multiplicative decrease of the rate the fleet runs at now (the limit when
            # none was learnt), or of what the fleet's calls really got through if lower:
            # the sum of every member's successes (while throttled, that is the quota),
            # not this member's rate times N (unequal members made that tiny: 8
            # discovering workers cut the fleet to a tenth of the quota, measured)
            start = rate if rate is not None else limit_per_s
            fleet_ok = sum(e["ok_per_s"] for e in members.values())
            if fleet_ok > 0:
                start = min(start or float("inf"), fleet_ok)
            if start is not None and start != float("inf"):
                cut = start * BACKOFF
                # one cut never more than halves a learnt rate or the configured limit:
                # a bad estimate must not collapse the fleet (workers that have only
                # just started have few successes to sum: a Batch fleet of 4 was cut to
                # a tenth of its limit and ran at 0.8 of it for 15 s, measured); more
                # throttles cut again after COOLDOWN_S
                floor = rate if rate is not None else limit_per_s
                rate = cut if floor is None else max(cut, floor * MAX_CUT)
                data["last_cut"] = now
        elif rate is not None and not throttled:
            # probe per second of fleet time (not per heartbeat: N workers heartbeating
            # must not grow it N times as fast), faster the longer no throttle came, so
            # a deep cut is soon undone (3 %/s right after a cut, up to 12 %/s)
            accel = min(4.0, 1.0 + (now - data.get("last_cut", now)) / 10.0)
            rate *= 1 + GROWTH * accel * max(0.0, min(5.0, now - data.get("grown_at", now)))
        data["grown_at"] = now
        if rate is not None and limit_per_s:
            rate = min(rate, limit_per_s)
        data.update(members=members, fleet_per_s=rate)
        out.update(share=share, rate=rate)
        return data

    update(tables, QUOTA, key, fn)
    return out["share"], out["rate"]


def _entry(value: Any) -> dict[str, float]:
    """A member entry; items written before shares were recorded hold just the expiry."""
    if isinstance(value, dict):
        return {
            "expires": float(value["expires"]),
            "share": float(value.get("share", 0.0)),
            "ok_per_s": float(value.get("ok_per_s", 0.0)),
        }
    return {"expires": float(value), "share": 0.0, "ok_per_s": 0.0}


def _member(backend: Any) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(backend):x}"


def leave(tables: Tables, backend: Any) -> None:
    """Give this process's shares back at once when it stops calling (a finished
    worker kept its share until its entry expired, and the rest ran below the quota)."""
    registry = getattr(backend, "limiters", None)
    if registry is None or not hasattr(registry, "all"):
        return
    member = _member(backend)
    for limiter in registry.all():
        key = f"{limiter.model}@{limiter.region}"

        def fn(data: dict[str, Any]) -> dict[str, Any]:
            data["members"].pop(member, None)
            return data

        if tables.get(QUOTA, key) is not None:
            update(tables, QUOTA, key, fn)


def apply_shares(tables: Tables, backend: Any, lease_s: float, seen: dict[str, int]) -> bool:
    """Sync every limiter of ``backend`` (a Bedrock backend) with its fleet quota;
    ``seen`` keeps the throttle counts of the previous heartbeat. Blocking.

    The member is the limiter's process (workers in one process share its limiters),
    so in-process workers count once. Returns False while some limiter paces below
    its fair ``1/N`` because the others have not yet given that room up (a newcomer
    waits a heartbeat or two for it before its first call)."""
    member = _member(backend)
    registry = getattr(backend, "limiters", None)
    if registry is None or not hasattr(registry, "all"):
        return True  # a backend without client-side limits (local, test doubles)
    fair = True
    for limiter in registry.all():
        key = f"{limiter.model}@{limiter.region}"
        joining = key not in seen
        throttled = limiter.throttles > seen.get(key, 0)
        seen[key] = limiter.throttles
        now = limiter.clock.now()
        share, rate = sync_share(
            tables,
            key,
            member,
            lease_s=lease_s,
            throttled=throttled,
            measured_per_s=_ok_rate(limiter, now),
            limit_per_s=limiter.rpm_limit / 60 if limiter.rpm_limit else None,
        )
        limiter.set_share(share, rate)
        if joining and rate is None and not limiter.rpm_limit and share < 1.0:
            # Discovery with others already in: start with this worker's share of one
            # worker's in-flight ceiling, so N newcomers together probe like one (each
            # starting at the full ceiling was N times the first throttle storm); the
            # concurrency AIMD grows it back within a few round trips.
            cap = limiter.concurrency
            cap.limit = min(cap.limit, max(1.0, cap.ceiling * share))
        fair = fair and share >= _fair(tables, key)
    return fair


def _ok_rate(limiter: Any, now: float) -> float:
    """Calls per second this limiter got answered over the last few seconds (successes
    only: counting calls in flight overstated a storm's rate N times over)."""
    span = min(limiter.MEASURE_S, max(1.0, now - limiter._started))
    return sum(1 for t, _ in limiter._done if t >= now - span) / span


def _fair(tables: Tables, key: str) -> float:
    item = tables.get(QUOTA, key)
    now = time.time()
    live = [
        e for e in (item.data["members"].values() if item else []) if _entry(e)["expires"] > now
    ]
    return 1.0 / max(1, len(live)) - 1e-9


def throttles(backend: Any) -> int:
    """Throttles this process's limiters have seen (0 for a backend without them)."""
    registry = getattr(backend, "limiters", None)
    if registry is None or not hasattr(registry, "all"):
        return 0
    return sum(limiter.throttles for limiter in registry.all())


def prime(backend: Any, models: list[str]) -> None:
    """Create the limiters a job will use before its first call, so that the first
    :func:`apply_shares` (at join) paces them at their share from the start."""
    registry = getattr(backend, "limiters", None)
    if registry is None or not hasattr(registry, "all"):
        return
    for model in models:
        registry.get(model, getattr(backend, "region", None))
