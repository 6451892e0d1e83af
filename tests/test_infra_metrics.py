"""CloudWatch EMF lines for a checkpoint, and reading a job's metrics back."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from plotpalette.aws.metrics import (
    NAMESPACE,
    EmfWriter,
    checkpoint_from_records,
    emf_documents,
    job_metrics,
    metric_data_from_emf,
    metrics_frame,
    writer_from_env,
)
from plotpalette.cli import main
from plotpalette.errors import ConfigError
from plotpalette.records import Record, StepResult


def record(index, status, steps):
    return Record(
        job_id="job-1",
        index=index,
        seed_index=0,
        status=status,
        steps={name: StepResult(**step) for name, step in steps.items()},
        cost_usd=sum(s.get("cost_usd", 0.0) for s in steps.values()),
    ).to_dict()


RECORDS = [
    record(
        0,
        "ok",
        {
            "ask": {
                "model": "m-a",
                "input_tokens": 10,
                "output_tokens": 5,
                "cache_read_tokens": 2,
                "latency_ms": 100.0,
                "cost_usd": 0.001,
            },
            "answer": {
                "model": "m-b",
                "input_tokens": 20,
                "output_tokens": 7,
                "latency_ms": 300.0,
                "cost_usd": 0.002,
            },
        },
    ),
    record(
        1,
        "failed",
        {"ask": {"model": "m-a", "input_tokens": 4, "output_tokens": 0, "latency_ms": 50.0}},
    ),
    record(2, "ok", {"ask": {"model": "m-a", "skipped": True}}),
]


def test_checkpoint_sums_records_per_model():
    cp = checkpoint_from_records("job-1", RECORDS, throttles={"m-a": 3})
    assert (cp.records_ok, cp.records_failed, cp.records_filtered) == (2, 1, 0)
    by_model = {m.model: m for m in cp.models}
    assert by_model["m-a"].calls == 2  # the skipped step is not a call
    assert by_model["m-a"].input_tokens == 16  # 10 + 2 cache read + 4
    assert by_model["m-a"].throttles == 3
    assert by_model["m-b"].latencies_ms == (300.0,)
    assert by_model["m-a"].cost_usd == pytest.approx(0.001)


def test_emf_documents_follow_the_embedded_metric_format():
    cp = checkpoint_from_records("job-1", RECORDS)
    docs = emf_documents(cp, stack="plotpalette-dev", timestamp_ms=1_700_000_000_000)
    records_doc, *model_docs = docs
    meta = records_doc["_aws"]
    assert meta["Timestamp"] == 1_700_000_000_000
    directive = meta["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["Stack"], ["Stack", "JobId"]]
    # Every declared metric and dimension has a value in the document (EMF rule).
    for doc in docs:
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        for m in directive["Metrics"]:
            assert m["Name"] in doc and m["Unit"]
        for dims in directive["Dimensions"]:
            assert all(d in doc for d in dims)
    assert records_doc["RecordsOk"] == 2 and records_doc["JobId"] == "job-1"
    assert {d["Model"] for d in model_docs} == {"m-a", "m-b"}
    assert model_docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][1] == ["Stack", "Model"]


def test_latencies_are_split_into_slices_of_100():
    steps = {"s": {"model": "m", "latency_ms": 1.0, "output_tokens": 1}}
    cp = checkpoint_from_records("j", [record(i, "ok", steps) for i in range(250)])
    docs = [d for d in emf_documents(cp, stack="s") if "LatencyMs" in d]
    assert [len(d["LatencyMs"]) for d in docs] == [100, 100, 50]
    assert sum(1 for d in docs if "CostUSD" in d) == 1  # counters are not repeated


def test_an_empty_checkpoint_writes_nothing():
    out = io.StringIO()
    assert EmfWriter(out, stack="s").write(checkpoint_from_records("j", [])) == 0
    assert out.getvalue() == ""


def test_writer_writes_one_json_object_per_line():
    out = io.StringIO()
    n = EmfWriter(out, stack="plotpalette-dev").write(checkpoint_from_records("job-1", RECORDS))
    lines = out.getvalue().splitlines()
    assert n == len(lines) == 3
    assert all(json.loads(line)["Stack"] == "plotpalette-dev" for line in lines)


def test_writer_from_env():
    assert writer_from_env({}) is None
    w = writer_from_env({"PLOTPALETTE_METRICS": "emf", "PLOTPALETTE_STACK": "plotpalette-x"})
    assert w is not None and w.stack == "plotpalette-x"
    with pytest.raises(ConfigError, match="PLOTPALETTE_METRICS"):
        writer_from_env({"PLOTPALETTE_METRICS": "statsd"})


@pytest.fixture
def published(infra_aws):
    """A job's EMF lines, put into (moto's) CloudWatch the way CloudWatch Logs would."""
    cw = infra_aws("cloudwatch")
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    first = checkpoint_from_records("job-1", RECORDS[:1], throttles={"m-a": 2})
    second = checkpoint_from_records("job-1", RECORDS[1:])
    other_job = checkpoint_from_records("job-2", RECORDS)
    for i, cp in enumerate((first, second, other_job)):
        ts = int((now + timedelta(seconds=i)).timestamp() * 1000)
        for doc in emf_documents(cp, stack="plotpalette-dev", timestamp_ms=ts):
            cw.put_metric_data(Namespace=NAMESPACE, MetricData=metric_data_from_emf(doc))
    return cw


def test_job_metrics_reads_one_jobs_totals_back(published):
    data = job_metrics("job-1", stack="plotpalette-dev", cloudwatch=published)
    t = data["totals"]
    assert (t["RecordsOk"], t["RecordsFailed"]) == (2, 1)  # job-2 is not mixed in
    assert t["Calls"] == 3 and t["Throttles"] == 2
    assert t["OutputTokens"] == 12
    assert t["CostUSD"] == pytest.approx(0.003)
    assert data["series"]["RecordsOk"]
    assert data["latency_ms"] == {"average": pytest.approx(150.0), "maximum": 300.0}


def test_cli_metrics_view(published, capsys):
    assert main(["metrics", "job-1", "--stack", "plotpalette-dev"]) == 0
    out = capsys.readouterr().out
    assert "records   ok 2  failed 1" in out
    assert "cost      $0.003000" in out
    assert "latency   average 150 ms  max 300 ms" in out


def test_a_notebook_gets_the_series_as_a_dataframe(published):
    data = job_metrics("job-1", stack="plotpalette-dev", cloudwatch=published)
    frame = metrics_frame(data)
    assert frame["RecordsOk"].sum() == 2 and frame["CostUSD"].sum() == pytest.approx(0.003)
    assert frame.index.is_monotonic_increasing and frame.index.name == "time"
