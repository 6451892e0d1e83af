"""BatchEmulator: the Bedrock batch-inference control plane on a local HTTP server.

A **test double**. Point a real boto3 ``bedrock`` client at :attr:`endpoint_url`
(``endpoint_url=`` or ``AWS_ENDPOINT_URL_BEDROCK``) and CreateModelInvocationJob,
GetModelInvocationJob, ListModelInvocationJobs and StopModelInvocationJob work offline,
with the service's shapes and errors. S3 is whatever client you hand it (moto's server
in the tests): the emulator reads the staged input from there and writes the output
where Bedrock would, ``<output prefix>/<job id>/<input file>.out`` plus
``manifest.json.out``.

Time is yours to drive, so tests are deterministic: a job moves one status per
:meth:`advance` call along Submitted → Validating → Scheduled → InProgress → Completed
(PartiallyCompleted when some records errored), or ends Failed/Expired when
:attr:`outcome` says so; StopModelInvocationJob goes Stopping → Stopped. With
``advance_on_get=True`` every GetModelInvocationJob call advances that job one step
(handy where nobody drives the clock, e.g. a notebook).

When a job completes, every record is answered with the runtime emulator's reply
synthesis (:func:`~plotpalette.testing.synth.synth_reply`, so text, stop reasons and
usage look like Converse's, prompt-and-validate JSON included), an injectable fraction
gets a per-record ``error`` instead (``error_rate``, chosen by a hash of the record
id), and the output lines are shuffled: order is not guaranteed by Bedrock either.
:attr:`billed_usd` adds up what the answered records cost at the model's batch rates
(errored records are not billed), so a test can compare the provider's bill with the
job's ledger.

Not emulated: SigV4 verification (a request must only be signed), the IAM checks of
the batch role (any ``arn:aws:iam::…:role/…`` is accepted), VPC configuration, the
per-model minimum record count, InvokeModel-format bodies, and real durations.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from ..llm.base import Usage
from ..llm.pricing import PriceTable
from .emulator_http import EmulatorHandler, ServedEmulator, send_error, send_json
from .emulator_rules import prompt_schema
from .protocol import RequestError, converse_body, parse_converse
from .synth import synth_reply

__all__ = ["BatchEmulator"]

_PATH_STEPS = ("Submitted", "Validating", "Scheduled", "InProgress")
_TERMINAL = frozenset({"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"})


@dataclass
class _Job:
    arn: str
    name: str
    model: str
    role: str
    token: str
    input_uri: str
    output_uri: str
    invocation_type: str
    timeout_hours: int
    status: str = "Submitted"
    message: str = ""
    submitted: float = field(default_factory=time.time)
    ended: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": self.name,
            "modelId": self.model,
            "clientRequestToken": self.token,
            "roleArn": self.role,
            "status": self.status,
            "submitTime": self.submitted,
            "lastModifiedTime": self.ended or self.submitted,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": self.input_uri}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": self.output_uri}},
            "timeoutDurationInHours": self.timeout_hours,
            "modelInvocationType": self.invocation_type,
        }
        if self.message:
            body["message"] = self.message
        if self.ended is not None:
            body["endTime"] = self.ended
        for name, value in self.counts.items():
            body[f"{name}RecordCount"] = value
        return body


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class _Handler(EmulatorHandler):
    """The runtime emulator's handler, with GET (Get/List) routed the same way."""

    def do_GET(self) -> None:
        self.server.on_post(self)


class BatchEmulator(ServedEmulator):
    """The emulator; start with ``with`` (or :meth:`start`), read :attr:`endpoint_url`.
    See the module docstring."""

    _thread_name = "bedrock-batch-emulator"
    _handler_class = _Handler

    def __init__(
        self,
        s3: Any,
        *,
        prices: PriceTable | None = None,
        error_rate: float = 0.0,
        outcome: str = "Completed",
        advance_on_get: bool = False,
        region: str = "us-east-1",
        account: str = "123456789012",
        seed: int = 0,
    ) -> None:
        self.s3 = s3
        self.prices = prices or PriceTable.load()
        self.error_rate = error_rate
        self.outcome = outcome  # "Completed" (or PartiallyCompleted), "Failed", "Expired"
        self.advance_on_get = advance_on_get
        self.region, self.account, self.seed = region, account, seed
        self.jobs: dict[str, _Job] = {}
        self.calls: list[str] = []  # operation names, in order
        self.billed_usd = 0.0
        self.billed_records = 0
        self._lock = threading.RLock()

    # -- the clock ---------------------------------------------------------------------
    def advance(self, arn: str | None = None, steps: int = 1) -> None:
        """Move ``arn`` (default: every job not yet ended) ``steps`` statuses along."""
        with self._lock:
            for job in [self.jobs[arn]] if arn else list(self.jobs.values()):
                for _ in range(steps):
                    self._step(job)

    def finish(self, arn: str | None = None) -> None:
        """Advance until the job (or every job) has ended."""
        self.advance(arn, steps=len(_PATH_STEPS) + 1)

    def statuses(self) -> dict[str, str]:
        with self._lock:
            return {arn: job.status for arn, job in self.jobs.items()}

    def _step(self, job: _Job) -> None:
        if job.status in _TERMINAL:
            return
        if job.status == "Stopping":
            job.status, job.ended = "Stopped", time.time()
            return
        if job.status == "Submitted":
            job.status = "Validating"
            if self._read_input(job) is None:
                job.status, job.ended = "Failed", time.time()
                job.message = f"Input file {job.input_uri} was not found or is not readable."
            return
        at = _PATH_STEPS.index(job.status)
        if at + 1 < len(_PATH_STEPS):
            job.status = _PATH_STEPS[at + 1]
            return
        # InProgress -> the end
        job.ended = time.time()
        if self.outcome == "Failed":
            job.status, job.message = "Failed", "Internal error while processing the job."
        elif self.outcome == "Expired":
            job.status = "Expired"
            job.message = f"The job did not finish within {job.timeout_hours} hours."
        else:
            errors = self._run(job)
            job.status = "PartiallyCompleted" if errors else "Completed"

    # -- running a job -------------------------------------------------------------------
    def _read_input(self, job: _Job) -> list[dict[str, Any]] | None:
        bucket, key = _split(job.input_uri)
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except Exception:
            return None
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def _errored(self, record_id: str) -> bool:
        digest = hashlib.sha256(f"{self.seed}:{record_id}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self.error_rate

    def _answer(self, model: str, line: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
        out: dict[str, Any] = {"recordId": line.get("recordId"), "modelInput": line["modelInput"]}
        if self._errored(str(line.get("recordId"))):
            out["error"] = {"errorCode": 500, "errorMessage": "Internal server error"}
            return out, None
        try:
            system, texts, max_tokens, stop, schema = parse_converse(line["modelInput"])
        except RequestError as err:
            out["error"] = {"errorCode": err.status, "errorMessage": err.message}
            return out, None
        reply = synth_reply(
            model=model,
            system=system,
            messages=texts,
            max_tokens=max_tokens or 4096,
            stop=stop,
            json_schema=schema if schema is not None else prompt_schema(system),
        )
        out["modelOutput"] = converse_body(reply, 0)
        return out, Usage(reply.input_tokens, reply.output_tokens)

    def _run(self, job: _Job) -> int:
        """Answer every record, write the output and the manifest; returns the errors."""
        lines = self._read_input(job) or []
        outputs, usd, tokens_in, tokens_out, errors = [], 0.0, 0, 0, 0
        for line in lines:
            out, usage = self._answer(job.model, line)
            outputs.append(out)
            if usage is None:
                errors += 1
                continue
            usd += self.prices.cost(job.model, usage, batch=True)
            tokens_in += usage.input_tokens
            tokens_out += usage.output_tokens
        random.Random(f"{self.seed}:{job.arn}").shuffle(outputs)  # order is not guaranteed
        job.counts = {
            "total": len(lines),
            "processed": len(lines),
            "success": len(lines) - errors,
            "error": errors,
        }
        manifest = {
            "totalRecordCount": len(lines),
            "processedRecordCount": len(lines),
            "successRecordCount": len(lines) - errors,
            "errorRecordCount": errors,
            "inputTokenCount": tokens_in,
            "outputTokenCount": tokens_out,
        }
        bucket, prefix = _split(job.output_uri.rstrip("/") + "/" + job.arn.rsplit("/", 1)[-1])
        name = job.input_uri.rsplit("/", 1)[-1]
        body = "".join(json.dumps(o) + "\n" for o in outputs).encode()
        self.s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}.out", Body=body)
        self.s3.put_object(
            Bucket=bucket, Key=f"{prefix}/manifest.json.out", Body=json.dumps(manifest).encode()
        )
        self.billed_usd += usd
        self.billed_records += len(lines) - errors
        return errors

    # -- HTTP --------------------------------------------------------------------------
    def _handle(self, h: EmulatorHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        path, _, query = h.path.partition("?")
        try:
            if not h.headers.get("Authorization"):
                raise RequestError(403, "AccessDeniedException", "Missing Authentication Token")
            payload = json.loads(body or b"{}")
            with self._lock:
                reply = self._route(h.command, path, parse_qs(query), payload)
            send_json(h, 200, reply)
        except RequestError as err:
            send_error(h, err)
        except ValueError:
            send_json(h, 400, {"message": "body is not JSON"}, {"x-amzn-ErrorType": "Validation"})

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], payload: dict[str, Any]
    ) -> dict[str, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "POST" and parts == ["model-invocation-job"]:
            self.calls.append("CreateModelInvocationJob")
            return self._create(payload)
        if method == "GET" and parts == ["model-invocation-jobs"]:
            self.calls.append("ListModelInvocationJobs")
            name = (query.get("nameContains") or [""])[0]
            status = (query.get("statusEquals") or [None])[0]
            found = [
                {**j.describe()}
                for j in self.jobs.values()
                if name in j.name and (status is None or j.status == status)
            ]
            return {"invocationJobSummaries": found}
        if len(parts) >= 2 and parts[0] == "model-invocation-job":
            job = self._find("/".join(parts[1:-1] if parts[-1] == "stop" else parts[1:]))
            if method == "GET":
                self.calls.append("GetModelInvocationJob")
                if self.advance_on_get:
                    self._step(job)
                return job.describe()
            if method == "POST" and parts[-1] == "stop":
                self.calls.append("StopModelInvocationJob")
                if job.status in _TERMINAL or job.status == "Stopping":
                    message = f"The job is {job.status}; it cannot be stopped."
                    raise RequestError(400, "ValidationException", message)
                job.status = "Stopping"
                return {}
        raise RequestError(404, "UnknownOperationException", f"no route {method} {path}")

    def _find(self, ident: str) -> _Job:
        for job in self.jobs.values():
            if ident in (job.arn, job.arn.rsplit("/", 1)[-1], job.name):
                return job
        raise RequestError(404, "ResourceNotFoundException", f"Job {ident} was not found.")

    def _create(self, p: dict[str, Any]) -> dict[str, Any]:
        token = p.get("clientRequestToken") or ""
        for job in self.jobs.values():
            if token and job.token == token:
                return {"jobArn": job.arn}  # idempotent: the same request, the same job
        kind = p.get("modelInvocationType", "InvokeModel")
        if kind != "Converse":
            raise RequestError(
                400, "ValidationException", "This emulator only runs Converse-format jobs."
            )
        role = str(p.get("roleArn") or "")
        if not role.startswith("arn:aws:iam::") or ":role/" not in role:
            raise RequestError(400, "ValidationException", f"roleArn {role!r} is not a role ARN.")
        try:
            input_uri = p["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
            output_uri = p["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
            name, model = p["jobName"], p["modelId"]
        except (KeyError, TypeError):
            raise RequestError(400, "ValidationException", "A required field is missing.") from None
        if any(j.name == name for j in self.jobs.values()):
            raise RequestError(409, "ConflictException", f"A job named {name} already exists.")
        job_id = uuid.uuid4().hex[:12]
        arn = f"arn:aws:bedrock:{self.region}:{self.account}:model-invocation-job/{job_id}"
        self.jobs[arn] = _Job(
            arn=arn,
            name=name,
            model=model,
            role=role,
            token=token,
            input_uri=input_uri,
            output_uri=output_uri,
            invocation_type=kind,
            timeout_hours=int(p.get("timeoutDurationInHours") or 24),
        )
        return {"jobArn": arn}
