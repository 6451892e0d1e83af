"""The engine calls the operations hooks: one notification per job end, EMF per checkpoint.

Notifications go to moto's SNS (threaded server, real HTTP; read back through an SQS
subscription) and to a local HTTPS receiver on the signed-webhook path. Metric lines are
read from the worker's stdout, put into moto's CloudWatch the way CloudWatch Logs would
extract them, and read back with ``plotpalette metrics JOB_ID``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
import yaml

from plotpalette.aws.metrics import NAMESPACE, metric_data_from_emf
from plotpalette.aws.notify import verify_signature
from plotpalette.cli import main
from plotpalette.errors import ConfigError
from plotpalette.jobs import JobSpec, JobState, RunOptions, cancel_job, create_job, run_job
from plotpalette.testing import (
    InstantBackend,
    qa_template,
    topic_seeds,
    worker_command,
    workspace_with_template,
)
from plotpalette.workspace import Workspace
from tests.infra_support import subscribed_queue
from tests.test_infra_notify import HOST, PUBLIC, SECRET, https_server, tls_files  # noqa: F401

SEEDS = topic_seeds(9, "t")
FAST = RunOptions(concurrency=4, flush_records=5, flush_seconds=0.05, progress_seconds=0.02)


def _workspace(tmp_path, config=None):
    """A workspace whose config.yaml holds ``config``, reopened so its settings read it."""
    root = tmp_path / "ws"
    workspace_with_template(root, qa_template("qa_ops", output=False))
    if config:
        (root / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return Workspace.open(str(root))


def _spec(**kw):
    return JobSpec(template="qa_ops", seeds=SEEDS, **kw)


@pytest.fixture
def inbox(infra_aws):
    """An SNS topic on moto with an SQS queue subscribed; returns (topic, read())."""
    sqs = infra_aws("sqs")
    topic, queue = subscribed_queue(infra_aws, "plotpalette-ops")

    def read():
        got = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages")
            if not batch:
                return got
            for m in batch:
                got.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

    return topic, read


def _state(envelope):
    return envelope["MessageAttributes"]["state"]["Value"]


def _notify_events(ws, job_id):
    return [e[2] for e in ws.registry.events(job_id) if e[1] == "notify"]


def test_three_workers_in_one_loop_send_one_notification(tmp_path, inbox):
    topic, read = inbox
    ws = _workspace(tmp_path, {"notify": {"topic_arn": topic}})
    result = run_job(ws, _spec(records=60, workers=3), backend=InstantBackend(), options=FAST)
    assert result.state is JobState.COMPLETED
    [message] = read()
    assert _state(message) == "COMPLETED"
    assert f"job_id: {result.job_id}" in message["Message"]
    assert "records_ok: 60" in message["Message"]
    [event] = _notify_events(ws, result.job_id)
    assert event["sent"] == ["sns"] and event["errors"] == {}


def test_three_worker_processes_racing_to_finalize_send_one_notification(tmp_path, inbox):
    topic, read = inbox
    ws = _workspace(tmp_path, {"notify": {"topic_arn": topic}})
    job_id = create_job(ws, _spec(records=90))
    cmd = worker_command(ws, job_id, latency=0.001, flush_seconds=0.05, flush_records=5)
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL) for _ in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert ws.registry.get(job_id).state is JobState.COMPLETED
    messages = read()
    assert [_state(m) for m in messages] == ["COMPLETED"]
    assert len(_notify_events(ws, job_id)) == 1


def test_a_budget_stop_and_a_cancel_are_announced_once_each(tmp_path, inbox):
    topic, read = inbox
    ws = _workspace(tmp_path, {"notify": {"topic_arn": topic}})
    stopped = run_job(
        ws, _spec(records=200, budget_usd=0.00001), backend=InstantBackend(), options=FAST
    )
    assert stopped.state is JobState.BUDGET_EXCEEDED
    queued = create_job(ws, _spec(records=5))
    assert cancel_job(ws, queued).state is JobState.CANCELLED
    assert cancel_job(ws, queued).state is JobState.CANCELLED  # twice: no second message
    by_job = {m["MessageAttributes"]["job_id"]["Value"]: m for m in read()}
    assert {k: _state(v) for k, v in by_job.items()} == {
        stopped.job_id: "BUDGET_EXCEEDED",
        queued: "CANCELLED",
    }


def test_a_failed_notification_does_not_change_the_job(tmp_path, infra_aws):
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    ws = _workspace(tmp_path, {"notify": {"topic_arn": missing}})
    result = run_job(ws, _spec(records=10), backend=InstantBackend(), options=FAST)
    assert result.state is JobState.COMPLETED
    [event] = _notify_events(ws, result.job_id)
    assert event["sent"] == [] and "sns" in event["errors"]


def test_without_notify_settings_the_core_loads_no_aws_module(tmp_path):
    ws = _workspace(tmp_path)
    code = (
        "import sys\n"
        "from plotpalette.jobs import JobSpec, run_job\n"
        "from plotpalette.testing import InstantBackend, topic_seeds\n"
        f"r = run_job({ws.location!r}, JobSpec(template='qa_ops', seeds=topic_seeds(3, 't'),"
        " records=5), backend=InstantBackend())\n"
        "print(r.state.value, sorted(m for m in sys.modules if m.startswith('plotpalette.aws')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["COMPLETED", "[]"]


@pytest.fixture
def routed_network(monkeypatch, https_server, tls_files):  # noqa: F811
    """DNS answers a public address for HOST and the route to it leads to the local HTTPS
    receiver; the receiver's certificate is trusted through SSL_CERT_FILE. Everything
    else resolves and connects as usual."""
    port, received, behaviour = https_server
    real_resolve, real_connect = socket.getaddrinfo, socket.create_connection

    def resolve(host, *args, **kwargs):
        if host == HOST:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, args[0] or 443))]
        return real_resolve(host, *args, **kwargs)

    def connect(address, *args, **kwargs):
        if address == (PUBLIC, 443):
            address = ("127.0.0.1", port)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    monkeypatch.setenv("PLOTPALETTE_WEBHOOK_SECRET", SECRET)
    return received, behaviour


def test_the_job_end_reaches_a_signed_webhook(tmp_path, routed_network):
    received, _ = routed_network
    ws = _workspace(tmp_path, {"notify": {"webhook_url": f"https://{HOST}/hooks/pp"}})
    result = run_job(ws, _spec(records=30, workers=3), backend=InstantBackend(), options=FAST)
    assert result.state is JobState.COMPLETED
    [request] = received
    assert request["path"] == "/hooks/pp"
    assert verify_signature(request["body"], request["headers"], SECRET)
    body = json.loads(request["body"])
    assert (body["job_id"], body["state"], body["records_ok"]) == (result.job_id, "COMPLETED", 30)


def test_a_webhook_that_answers_500_is_logged_as_an_event(tmp_path, routed_network):
    received, behaviour = routed_network
    behaviour["status"] = 500
    ws = _workspace(tmp_path, {"notify": {"webhook_url": f"https://{HOST}/x"}})
    result = run_job(ws, _spec(records=5), backend=InstantBackend(), options=FAST)
    assert result.state is JobState.COMPLETED and len(received) == 1
    [event] = _notify_events(ws, result.job_id)
    assert "HTTP 500" in event["errors"]["webhook"]


# -- metrics ------------------------------------------------------------------------------
def _emf_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_a_worker_under_the_metrics_env_writes_emf_per_checkpoint(
    tmp_path, infra_aws, monkeypatch, capsys
):
    monkeypatch.setenv("PLOTPALETTE_METRICS", "emf")
    monkeypatch.setenv("PLOTPALETTE_STACK", "plotpalette-ops")
    ws = _workspace(tmp_path)
    # calls slow enough that the job spans several checkpoints (0.05 s apart): at 2 ms
    # a fast machine finished all 40 records before the first one (CI, once)
    slow = InstantBackend(latency_s=0.02)
    result = run_job(ws, _spec(records=40), backend=slow, options=FAST)
    assert result.state is JobState.COMPLETED
    docs = _emf_lines(capsys.readouterr().out)
    record_docs = [d for d in docs if "RecordsOk" in d]
    assert len(record_docs) >= 2  # one set per checkpoint, not one at the end
    assert {d["JobId"] for d in docs} == {result.job_id}
    assert sum(d["RecordsOk"] for d in record_docs) == 40
    cw = infra_aws("cloudwatch")
    for doc in docs:  # what CloudWatch Logs extracts from the lines
        cw.put_metric_data(Namespace=NAMESPACE, MetricData=metric_data_from_emf(doc))
    capsys.readouterr()
    # moto truncates the query's EndTime (now) to whole seconds: points from the last
    # second would be left out, so the read-back starts in the next second
    time.sleep(1.1)
    assert main(["metrics", result.job_id, "--stack", "plotpalette-ops", "--json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    info = ws.registry.get(result.job_id)
    assert totals["RecordsOk"] == info.records_ok == 40
    assert totals["CostUSD"] == pytest.approx(info.settled_usd, rel=1e-6)
    assert totals["Calls"] == info.calls


def test_no_metrics_env_no_metric_lines_and_a_bad_mode_is_refused(tmp_path, monkeypatch, capsys):
    ws = _workspace(tmp_path)
    run_job(ws, _spec(records=5), backend=InstantBackend(), options=FAST)
    assert _emf_lines(capsys.readouterr().out) == []
    monkeypatch.setenv("PLOTPALETTE_METRICS", "statsd")
    with pytest.raises(ConfigError, match="PLOTPALETTE_METRICS") as err:
        run_job(ws, _spec(records=5), backend=InstantBackend(), options=FAST)
    assert "emf" in err.value.fix
