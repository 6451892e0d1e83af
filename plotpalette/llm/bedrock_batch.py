"""Bedrock batch inference: the ``bedrock`` control plane and the S3 staging it reads.

A batch job reads one JSONL file of ``{"recordId", "modelInput"}`` lines (``modelInput``
is a Converse request without ``modelId``) and writes, under
``<output prefix>/<job id>/``, ``<input file>.out`` (one line per record, in any
order, with ``modelOutput`` or ``error``) and ``manifest.json.out`` (record and token
counts). :class:`BatchClient` stages the input, creates, reads, lists and stops jobs,
and reads the output back; the engine's part (what to submit, when, and joining the
output to records) is :mod:`plotpalette.jobs.batch`.

Clients are built from the AWS chain, like every boto3 client: the service-specific
endpoint variables (``AWS_ENDPOINT_URL_BEDROCK``, ``AWS_ENDPOINT_URL_S3``) point them at
emulators in tests. Converse-format batch jobs need botocore >= 1.42.59.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..errors import BatchInferenceError, ConfigError, CredentialsError

__all__ = [
    "ACTIVE_STATUSES",
    "FAILED_STATUSES",
    "TERMINAL_STATUSES",
    "BatchClient",
    "BatchJobStatus",
    "split_s3_uri",
]

#: Statuses of a job Bedrock is still working on (``Stopping`` included: not over yet).
ACTIVE_STATUSES = frozenset({"Submitted", "Validating", "Scheduled", "InProgress", "Stopping"})
#: Statuses after which nothing more will be written.
TERMINAL_STATUSES = frozenset({"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"})
#: Terminal statuses with no usable output at all.
FAILED_STATUSES = frozenset({"Failed", "Expired"})


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")`` (no trailing slash)."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or len(uri) <= 5:
        raise ConfigError(
            f"batch_s3_uri must look like s3://bucket/prefix, got {uri!r}",
            fix="Set batch_s3_uri (PLOTPALETTE_BATCH_S3_URI or config.yaml) to a bucket "
            "and prefix the batch role may read and write.",
        )
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.strip("/")


@dataclass
class BatchJobStatus:
    """What GetModelInvocationJob says about one batch job."""

    arn: str
    status: str
    message: str = ""
    output_uri: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # total/processed/success/error
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def job_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class BatchClient:
    """The control plane plus S3, for one Region. Pass ``bedrock``/``s3`` clients to
    use your own (tests, custom configuration); otherwise they are built on first use."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        bedrock: Any = None,
        s3: Any = None,
        session: Any = None,
    ) -> None:
        self.settings = settings or Settings(backend="bedrock")
        self._bedrock, self._s3, self._session = bedrock, s3, session

    # -- clients ---------------------------------------------------------------------
    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        s = self.settings
        try:
            session = self._session or boto3.Session(
                profile_name=s.aws_profile, region_name=s.region
            )
            config = Config(retries={"mode": "standard", "max_attempts": 5})
            return session.client(service, region_name=s.region or None, config=config)
        except Exception as exc:
            raise CredentialsError(
                f"cannot build the {service} client: {exc}",
                fix="Configure AWS credentials and a Region (aws configure, or AWS_PROFILE).",
            ) from exc

    @property
    def bedrock(self) -> Any:
        if self._bedrock is None:
            self._bedrock = self._client("bedrock")
        return self._bedrock

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self._client("s3")
        return self._s3

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            fix = None
            if code in ("AccessDeniedException", "AccessDenied"):
                fix = (
                    "The submitter needs bedrock:CreateModelInvocationJob/Get/List/Stop and "
                    "iam:PassRole on batch_role_arn; the role needs S3 access to batch_s3_uri."
                )
            raise BatchInferenceError(f"{what} failed ({code}): {exc}", fix=fix) from exc

    # -- staging ---------------------------------------------------------------------
    def put_jsonl(self, uri: str, lines: list[dict[str, Any]]) -> None:
        """Write ``lines`` as one JSONL object at ``uri``."""
        bucket, key = split_s3_uri(uri)
        body = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode()
        self._call("staging the batch input", self.s3.put_object, Bucket=bucket, Key=key, Body=body)

    def read_text(self, uri: str) -> str | None:
        """The object at ``uri`` as text, or ``None`` when there is none."""
        bucket, key = split_s3_uri(uri)
        try:
            obj = self.s3.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            raise BatchInferenceError(f"reading {uri} failed: {exc}") from exc
        return str(obj["Body"].read().decode("utf-8"))

    # -- control plane ---------------------------------------------------------------
    def create_job(
        self,
        *,
        name: str,
        model: str,
        role_arn: str,
        input_uri: str,
        output_uri: str,
        token: str,
        timeout_hours: int = 24,
    ) -> str:
        """CreateModelInvocationJob (Converse format); returns the job ARN. The same
        ``token`` returns the same job: a re-submit after a crash creates nothing new."""
        resp = self._call(
            "CreateModelInvocationJob",
            self.bedrock.create_model_invocation_job,
            jobName=name,
            roleArn=role_arn,
            clientRequestToken=token,
            modelId=model,
            modelInvocationType="Converse",
            inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}},
            timeoutDurationInHours=timeout_hours,
        )
        return str(resp["jobArn"])

    def get_job(self, arn: str) -> BatchJobStatus:
        raw = self._call(
            "GetModelInvocationJob", self.bedrock.get_model_invocation_job, jobIdentifier=arn
        )
        out = ((raw.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri")
        return BatchJobStatus(
            arn=str(raw["jobArn"]),
            status=str(raw["status"]),
            message=str(raw.get("message") or ""),
            output_uri=str(out or ""),
            counts={
                name: int(raw[f"{name}RecordCount"])
                for name in ("total", "processed", "success", "error")
                if raw.get(f"{name}RecordCount") is not None
            },
            raw=raw,
        )

    def list_jobs(self, name_contains: str = "") -> list[dict[str, Any]]:
        """Summaries of the account's batch jobs whose name contains ``name_contains``."""
        kwargs: dict[str, Any] = {"nameContains": name_contains} if name_contains else {}
        found: list[dict[str, Any]] = []
        while True:
            page = self._call(
                "ListModelInvocationJobs", self.bedrock.list_model_invocation_jobs, **kwargs
            )
            found.extend(page.get("invocationJobSummaries") or [])
            if not page.get("nextToken"):
                return found
            kwargs["nextToken"] = page["nextToken"]

    def stop_job(self, arn: str) -> None:
        """StopModelInvocationJob; a job that ended (or is stopping) is left as it is."""
        status = self.get_job(arn)
        if status.terminal or status.status == "Stopping":
            return
        try:
            self._call(
                "StopModelInvocationJob", self.bedrock.stop_model_invocation_job, jobIdentifier=arn
            )
        except BatchInferenceError:
            # another process (the job's worker, a second cancel) stopped it meanwhile
            again = self.get_job(arn)
            if not (again.terminal or again.status == "Stopping"):
                raise

    # -- output ----------------------------------------------------------------------
    def read_output(
        self, status: BatchJobStatus, input_uri: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The output lines (any order) and the manifest of a finished job."""
        folder = f"{status.output_uri.rstrip('/')}/{status.job_id}"
        name = input_uri.rsplit("/", 1)[-1]
        text = self.read_text(f"{folder}/{name}.out") or ""
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        manifest = self.read_text(f"{folder}/manifest.json.out")
        return lines, (json.loads(manifest) if manifest else None)
