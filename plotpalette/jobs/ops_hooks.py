"""The engine's operations hooks: EMF metrics at checkpoints, one notification at the end.

Both live in :mod:`plotpalette.aws` (:mod:`~plotpalette.aws.metrics`,
:mod:`~plotpalette.aws.notify`), which the core must not load unless asked: this module
imports them only when ``PLOTPALETTE_METRICS`` is set (the stack's job definition sets
``emf``) or when a notification has somewhere to go (``notify.webhook_url``, a topic in
``notify.topic_arn`` / ``aws.topic_arn`` / ``PLOTPALETTE_SNS_TOPIC_ARN``).

Neither hook can change how a job ends: a failed notification or metric line is logged
(logger ``plotpalette.ops``) and, for notifications, stored as a ``notify`` event of
the job; the job's state is already written when the notification goes out.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from ..config import Settings
from .states import JobState

__all__ = ["OpsHooks"]

log = logging.getLogger("plotpalette.ops")

# Limiters count throttles per process (workers of one loop share the backend): the
# delta since the last metric line is kept per backend, so N in-process workers do not
# report the same throttle N times.
_throttles_lock = threading.Lock()
_throttles_seen: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()


def _throttle_delta(backend: Any) -> dict[str, int]:
    try:
        stats = list(backend.stats())
    except Exception:  # a backend without limiters (local, fakes) has no throttles
        return {}
    with _throttles_lock:
        try:
            seen = _throttles_seen.setdefault(backend, {})
        except TypeError:  # not weak-referenceable: count from zero each time
            seen = {}
        delta: dict[str, int] = {}
        for s in stats:
            total = int(getattr(s, "throttles", 0) or 0)
            new = total - seen.get(s.model, 0)
            seen[s.model] = total
            if new > 0:
                delta[s.model] = delta.get(s.model, 0) + new
        return delta


def _notify_configured(settings: Settings, env: Mapping[str, str]) -> bool:
    conf = settings.notify or {}
    topic = conf.get("topic_arn") or settings.aws.get("topic_arn")
    topic = topic or env.get("PLOTPALETTE_SNS_TOPIC_ARN")
    sns_off = str(conf.get("sns", True)).lower() == "false"
    return bool(conf.get("webhook_url")) or (bool(topic) and not sns_off)


class OpsHooks:
    """What the engine calls at checkpoints (:meth:`checkpoint`) and when a job reaches a
    final state (:meth:`final`). Build one per run with :meth:`from_settings`."""

    def __init__(
        self,
        settings: Settings | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.environ = dict(os.environ if environ is None else environ)
        self.notify = _notify_configured(self.settings, self.environ)
        self.writer: Any = None
        if (self.environ.get("PLOTPALETTE_METRICS") or "").strip():
            from ..aws.metrics import writer_from_env  # raises ConfigError on a bad mode

            self.writer = writer_from_env(self.environ)

    @classmethod
    def from_settings(cls, settings: Settings | None) -> OpsHooks:
        return cls(settings)

    # -- metrics -----------------------------------------------------------------------
    def checkpoint(self, job_id: str, records: Iterable[Any], backend: Any) -> int:
        """Write the EMF lines for the records a checkpoint settled (``Record`` objects
        or their dicts) and the throttles seen since; returns the lines written."""
        if self.writer is None:
            return 0
        try:
            from ..aws.metrics import checkpoint_from_records

            rows = [r if isinstance(r, Mapping) else r.to_dict() for r in records]
            point = checkpoint_from_records(job_id, rows, throttles=_throttle_delta(backend))
            return int(self.writer.write(point))
        except Exception as exc:  # metrics are best effort; the records are safe
            log.warning("job %s: metric lines not written: %s: %s", job_id, type(exc).__name__, exc)
            return 0

    # -- notifications -------------------------------------------------------------------
    def final(self, registry: Any, job_id: str, state: JobState) -> None:
        """Notify that ``job_id`` reached ``state``. Call it only from the process whose
        conditional write made that transition, so each end is announced once."""
        if not self.notify or not state.is_final:
            return
        try:
            from ..aws.notify import notify_terminal

            info = registry.get(job_id, include_deleted=True)
            job_info = {
                "job_id": job_id,
                "state": state.value,
                "name": info.name,
                "template": info.template,
                "records_total": info.records_total,
                "records_ok": info.records_ok,
                "records_failed": info.records_failed,
                "records_filtered": info.records_filtered,
                "spent_usd": round(info.settled_usd, 6),
                "budget_usd": info.budget_usd,
                "error": (info.error or {}).get("message"),
            }
            result = notify_terminal(job_info, self.settings, environ=self.environ)
            outcome = {"sent": result.sent, "skipped": result.skipped, "errors": result.errors}
        except Exception as exc:  # never let a notification change the job
            outcome = {"sent": [], "skipped": {}, "errors": {"all": f"{type(exc).__name__}: {exc}"}}
        for channel, error in outcome["errors"].items():
            log.warning("job %s: %s notification failed: %s", job_id, channel, error)
        try:
            registry.add_event(job_id, "notify", {"state": state.value, **outcome})
        except Exception as exc:
            log.warning("job %s: notify event not stored: %s", job_id, exc)
