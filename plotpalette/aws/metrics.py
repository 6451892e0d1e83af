"""Job metrics as CloudWatch Embedded Metric Format (EMF) lines, and a reader for them.

A worker on AWS Batch writes one JSON line per checkpoint to stdout; the ``awslogs``
driver ships it to the stack's log group and CloudWatch turns it into metrics in the
``PlotPalette`` namespace, with no API call and no boto3 on the hot path. The
dashboard and the alarms in ``infra/plotpalette.yaml`` read these names:

=================  ============  =============================================
metric             unit          meaning (per checkpoint)
=================  ============  =============================================
RecordsOk          Count         records settled ok
RecordsFailed      Count         records settled failed
RecordsFiltered    Count         records dropped by a quality policy
Calls              Count         model calls made (one per step run)
InputTokens        Count         input tokens (cache reads and writes included)
OutputTokens       Count         output tokens
CostUSD            None          dollars settled
Throttles          Count         ThrottlingException replies seen (retried or not)
ClientErrors       Count         4xx replies other than throttling
LatencyMs          Milliseconds  one value per call (up to 100 per line)
=================  ============  =============================================

Dimension sets: record counts go to ``[Stack]`` and ``[Stack, JobId]``; model usage
to ``[Stack]``, ``[Stack, Model]`` and ``[Stack, JobId]``. ``Stack`` is the
CloudFormation stack name (``PLOTPALETTE_STACK`` in the worker's environment, or
``local`` elsewhere).

The engine calls :func:`checkpoint_from_records` with the records a checkpoint
settled and hands the result to an :class:`EmfWriter` (see
:func:`writer_from_env`). :func:`job_metrics` reads a job's figures back with
``GetMetricData``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from ..errors import ConfigError

__all__ = [
    "COUNT_METRICS",
    "NAMESPACE",
    "Checkpoint",
    "EmfWriter",
    "ModelUsage",
    "checkpoint_from_records",
    "emf_documents",
    "job_metrics",
    "metric_data_from_emf",
    "metrics_frame",
    "writer_from_env",
]

NAMESPACE = "PlotPalette"
MAX_VALUES_PER_METRIC = 100  # EMF's limit for an array of values

RECORD_UNITS = {"RecordsOk": "Count", "RecordsFailed": "Count", "RecordsFiltered": "Count"}
USAGE_UNITS = {
    "Calls": "Count",
    "InputTokens": "Count",
    "OutputTokens": "Count",
    "CostUSD": "None",
    "Throttles": "Count",
    "ClientErrors": "Count",
}
# Metrics summed by the reader; LatencyMs is read as an average and a maximum over
# the whole range (the dashboard plots p50/p90).
COUNT_METRICS = (*RECORD_UNITS, *USAGE_UNITS)
LATENCY_STATS = ("Average", "Maximum")


@dataclass(frozen=True)
class ModelUsage:
    """What one model did during one checkpoint."""

    model: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    throttles: int = 0
    client_errors: int = 0
    latencies_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class Checkpoint:
    """The figures of one checkpoint of one job."""

    job_id: str
    records_ok: int = 0
    records_failed: int = 0
    records_filtered: int = 0
    models: tuple[ModelUsage, ...] = field(default_factory=tuple)


def checkpoint_from_records(
    job_id: str,
    records: Iterable[Mapping[str, Any]],
    *,
    throttles: Mapping[str, int] | None = None,
    client_errors: Mapping[str, int] | None = None,
) -> Checkpoint:
    """Sum the records a checkpoint settled (``Record.to_dict()`` shape) per model.

    ``throttles`` / ``client_errors`` map model ids to counts the caller kept: a
    record does not say how many throttled attempts preceded its successful call.
    """
    counts = {"ok": 0, "failed": 0, "filtered": 0}
    usage: dict[str, dict[str, Any]] = {}

    def slot(model: str) -> dict[str, Any]:
        return usage.setdefault(
            model, {"calls": 0, "input": 0, "output": 0, "cost": 0.0, "latencies": []}
        )

    for record in records:
        status = str(record.get("status", "failed"))
        counts[status if status in counts else "failed"] += 1
        for step in (record.get("steps") or {}).values():
            if step.get("skipped") or not step.get("model"):
                continue
            s = slot(str(step["model"]))
            s["calls"] += 1
            s["input"] += (
                int(step.get("input_tokens") or 0)
                + int(step.get("cache_read_tokens") or 0)
                + int(step.get("cache_write_tokens") or 0)
            )
            s["output"] += int(step.get("output_tokens") or 0)
            s["cost"] += float(step.get("cost_usd") or 0.0)
            if step.get("latency_ms"):
                s["latencies"].append(float(step["latency_ms"]))
    for model in {**(throttles or {}), **(client_errors or {})}:
        slot(model)
    models = tuple(
        ModelUsage(
            model=model,
            calls=s["calls"],
            input_tokens=s["input"],
            output_tokens=s["output"],
            cost_usd=round(s["cost"], 10),
            throttles=int((throttles or {}).get(model, 0)),
            client_errors=int((client_errors or {}).get(model, 0)),
            latencies_ms=tuple(s["latencies"]),
        )
        for model, s in sorted(usage.items())
    )
    return Checkpoint(
        job_id=job_id,
        records_ok=counts["ok"],
        records_failed=counts["failed"],
        records_filtered=counts["filtered"],
        models=models,
    )


def _document(
    dims: list[list[str]],
    units: Mapping[str, str],
    values: Mapping[str, Any],
    props: Mapping[str, str],
    ts: int,
) -> dict[str, Any]:
    return {
        "_aws": {
            "Timestamp": ts,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": dims,
                    "Metrics": [{"Name": n, "Unit": units[n]} for n in values],
                }
            ],
        },
        **props,
        **values,
    }


def emf_documents(
    checkpoint: Checkpoint, *, stack: str, timestamp_ms: int | None = None
) -> list[dict[str, Any]]:
    """The EMF documents (one JSON object per log line) for a checkpoint.

    Nothing is emitted for a checkpoint with no records and no calls. Latencies go
    out in slices of at most 100 values, EMF's limit for one metric in one line.
    """
    ts = int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms)
    base = {"Stack": stack, "JobId": checkpoint.job_id}
    docs = []
    records = {
        "RecordsOk": checkpoint.records_ok,
        "RecordsFailed": checkpoint.records_failed,
        "RecordsFiltered": checkpoint.records_filtered,
    }
    if any(records.values()):
        docs.append(_document([["Stack"], ["Stack", "JobId"]], RECORD_UNITS, records, base, ts))
    model_dims = [["Stack"], ["Stack", "Model"], ["Stack", "JobId"]]
    units = {**USAGE_UNITS, "LatencyMs": "Milliseconds"}
    for usage in checkpoint.models:
        props = {**base, "Model": usage.model}
        values: dict[str, Any] = {
            "Calls": usage.calls,
            "InputTokens": usage.input_tokens,
            "OutputTokens": usage.output_tokens,
            "CostUSD": usage.cost_usd,
            "Throttles": usage.throttles,
            "ClientErrors": usage.client_errors,
        }
        latencies = list(usage.latencies_ms)
        first = latencies[:MAX_VALUES_PER_METRIC]
        if first:
            values["LatencyMs"] = first
        docs.append(_document(model_dims, units, values, props, ts))
        for start in range(MAX_VALUES_PER_METRIC, len(latencies), MAX_VALUES_PER_METRIC):
            chunk = {"LatencyMs": latencies[start : start + MAX_VALUES_PER_METRIC]}
            docs.append(_document(model_dims, units, chunk, props, ts))
    return docs


class EmfWriter:
    """Writes a checkpoint's EMF lines to a text stream (stdout by default).

    On AWS Batch stdout goes to CloudWatch Logs, which extracts the metrics. Each
    line is written and flushed whole, so lines from threads never interleave.
    """

    def __init__(self, stream: TextIO | None = None, *, stack: str | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.stack = stack or os.environ.get("PLOTPALETTE_STACK") or "local"

    def write(self, checkpoint: Checkpoint, *, timestamp_ms: int | None = None) -> int:
        """Write the lines; returns how many were written."""
        docs = emf_documents(checkpoint, stack=self.stack, timestamp_ms=timestamp_ms)
        if docs:
            text = "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs)
            self.stream.write(text)
            self.stream.flush()
        return len(docs)


def writer_from_env(environ: Mapping[str, str] | None = None) -> EmfWriter | None:
    """An :class:`EmfWriter` when ``PLOTPALETTE_METRICS=emf`` (the stack's job
    definition sets it), else ``None``: local runs print no metric lines."""
    env = os.environ if environ is None else environ
    mode = (env.get("PLOTPALETTE_METRICS") or "").strip().lower()
    if mode in ("", "off", "none"):
        return None
    if mode != "emf":
        raise ConfigError(
            f"PLOTPALETTE_METRICS={mode!r} is not a metrics mode",
            fix="Set PLOTPALETTE_METRICS to 'emf' (CloudWatch Embedded Metric Format) or unset it.",
        )
    return EmfWriter(stack=env.get("PLOTPALETTE_STACK") or "local")


def metric_data_from_emf(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``PutMetricData`` entries equal to what CloudWatch extracts from one EMF line.

    For publishing a local job's metrics directly, and for tests of the reader on a
    CloudWatch emulator (which does not parse log lines).
    """
    meta = document["_aws"]
    ts = datetime.fromtimestamp(meta["Timestamp"] / 1000, tz=timezone.utc)
    out = []
    for directive in meta["CloudWatchMetrics"]:
        for dims in directive["Dimensions"]:
            dimensions = [{"Name": d, "Value": str(document[d])} for d in dims]
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                entry: dict[str, Any] = {
                    "MetricName": metric["Name"],
                    "Dimensions": dimensions,
                    "Timestamp": ts,
                    "Unit": metric.get("Unit", "None"),
                }
                if isinstance(value, list):
                    entry["Values"] = [float(v) for v in value]
                else:
                    entry["Value"] = float(value)
                out.append(entry)
    return out


def job_metrics(
    job_id: str,
    *,
    stack: str,
    cloudwatch: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    period_s: int = 300,
) -> dict[str, Any]:
    """A job's metrics from CloudWatch: totals and a time series per metric.

    ``cloudwatch`` is a boto3 CloudWatch client (injected, so tests pass one bound to
    an emulator). ``start`` defaults to 14 days ago (CloudWatch keeps 5-minute
    points for 63 days). Returns ``{"job_id", "stack", "totals": {metric: number},
    "latency_ms": {"average", "maximum"}, "series": {metric: [(iso time, value), ...]}}``.
    """
    end = end or datetime.now(timezone.utc)
    start = start or end - timedelta(days=14)
    dims = [{"Name": "Stack", "Value": stack}, {"Name": "JobId", "Value": job_id}]
    queries = [
        {
            "Id": f"m{i}",
            "Label": name,
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dims},
                "Period": period_s,
                "Stat": "Sum",
            },
        }
        for i, name in enumerate(COUNT_METRICS)
    ]
    whole_range = max(60, int((end - start).total_seconds()) // 60 * 60)  # one point
    for pct in LATENCY_STATS:
        queries.append(
            {
                "Id": f"latency_{pct.lower()}",
                "Label": f"LatencyMs {pct}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": "LatencyMs",
                        "Dimensions": dims,
                    },
                    "Period": whole_range,
                    "Stat": pct,
                },
            }
        )
    results: dict[str, dict[str, Any]] = {}
    token = None
    while True:
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        if token:
            kwargs["NextToken"] = token
        reply = cloudwatch.get_metric_data(**kwargs)
        for res in reply.get("MetricDataResults", []):
            slot = results.setdefault(res["Id"], {"label": res.get("Label"), "points": []})
            stamps, values = res.get("Timestamps", []), res.get("Values", [])
            slot["points"].extend(zip(stamps, values, strict=False))
        token = reply.get("NextToken")
        if not token:
            break
    series: dict[str, list[tuple[str, float]]] = {}
    totals: dict[str, float] = {}
    for i, name in enumerate(COUNT_METRICS):
        points = sorted(results.get(f"m{i}", {"points": []})["points"])
        series[name] = [(t.isoformat(), float(v)) for t, v in points]
        totals[name] = round(sum(v for _, v in points), 10)
    latency = {}
    for stat in LATENCY_STATS:
        points = results.get(f"latency_{stat.lower()}", {"points": []})["points"]
        latency[stat.lower()] = float(points[-1][1]) if points else None
    return {
        "job_id": job_id,
        "stack": stack,
        "totals": totals,
        "latency_ms": latency,
        "series": series,
    }


def metrics_frame(result: Mapping[str, Any]) -> Any:
    """:func:`job_metrics`'s series as a pandas DataFrame for a notebook: one row per
    period (UTC time index), one column per metric, missing periods as 0."""
    import pandas as pd

    columns = {
        name: pd.Series({pd.Timestamp(t): v for t, v in points}, dtype="float64")
        for name, points in result["series"].items()
    }
    frame = pd.DataFrame(columns).fillna(0.0).sort_index()
    frame.index.name = "time"
    return frame
