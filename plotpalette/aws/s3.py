"""``S3Store``: the :class:`~plotpalette.store.Store` contract on ``s3://bucket/prefix``.

- ``create`` is ``put_object(IfNoneMatch="*")`` (never ``upload_file``, which would
  overwrite); S3 answers ``412 PreconditionFailed`` when the key exists.
- ``replace_if`` is ``put_object(IfMatch=etag)``: ``412`` (changed) or ``404`` (gone)
  mean the caller lost the race.
- ``409 ConditionalRequestConflict`` (two conditional writes on one key at once) is
  retried with backoff as S3 documents; botocore's standard mode retries ``503``.
- ``open_writer`` streams a multipart upload: parts are spooled to a temp file (at
  most ``SPOOL_IN_MEMORY`` bytes in memory) and sent every ``part_size`` bytes; the
  upload is completed when the ``with`` block succeeds and aborted otherwise, so a
  failed export publishes nothing and a large one never sits in memory.
- Server-side encryption: ``sse="aws:kms"`` (with ``kms_key_id``) or ``"AES256"`` is
  sent on every write; without it the bucket's default encryption applies.
"""

from __future__ import annotations

import contextlib
import io
import random
import tempfile
import time
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlparse

from ..errors import WorkspaceError
from ..store import KeyPage, ObjectInfo, StoreBase, check_key
from .session import aws_client, error_code, error_status, translate_error

__all__ = ["S3Store", "parse_s3_url"]

PART_SIZE = 8 * 1024 * 1024  # S3 needs >= 5 MiB for every part but the last
SPOOL_IN_MEMORY = 1024 * 1024
CONFLICT_RETRIES = 6
_SSE_VALUES = ("AES256", "aws:kms", "aws:kms:dsse")


def parse_s3_url(url: str) -> tuple[str, str, dict[str, str]]:
    """``s3://bucket/prefix?k=v`` -> (bucket, prefix without slashes, query)."""
    parsed = urlparse(url)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    if parsed.scheme != "s3" or not bucket:
        raise WorkspaceError(f"not an S3 URL: {url!r}", fix="Write s3://bucket/prefix.")
    if not prefix:
        raise WorkspaceError(
            f"{url} names a whole bucket; a workspace needs a prefix",
            fix=f"Add a prefix, e.g. s3://{bucket}/plotpalette (one bucket can hold many "
            "workspaces side by side).",
        )
    check_key(prefix)
    return bucket, prefix, query


class S3Store(StoreBase):
    """Objects under ``s3://bucket/prefix/``; keys are relative to the prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        client: Any = None,
        region: str | None = None,
        profile: str | None = None,
        sse: str | None = None,
        kms_key_id: str | None = None,
        part_size: int = PART_SIZE,
    ) -> None:
        if sse is not None and sse not in _SSE_VALUES:
            raise WorkspaceError(
                f"unknown server-side encryption {sse!r}", fix=f"Use one of {_SSE_VALUES}."
            )
        if part_size < 5 * 1024 * 1024:
            raise WorkspaceError("part_size must be at least 5 MiB (an S3 limit)")
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/"))
        self.client = client or aws_client("s3", region=region, profile=profile)
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.part_size = part_size
        self.url = f"s3://{bucket}/{self.prefix}"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        client: Any = None,
    ) -> S3Store:
        """``s3://bucket/prefix`` with optional ``?sse=aws:kms&kms_key_id=...``."""
        bucket, prefix, query = parse_s3_url(url)
        return cls(
            bucket,
            prefix,
            client=client,
            region=region,
            profile=profile,
            sse=query.get("sse"),
            kms_key_id=query.get("kms_key_id"),
        )

    # -- helpers -----------------------------------------------------------------
    def _key(self, key: str) -> str:
        return f"{self.prefix}/{check_key(key)}"

    def _write_args(self) -> dict[str, str]:
        args: dict[str, str] = {}
        if self.sse:
            args["ServerSideEncryption"] = self.sse
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def _fail(self, exc: BaseException, action: str, key: str = "") -> WorkspaceError:
        where = f"s3://{self.bucket}/{self.prefix}/{key}"
        if error_code(exc) == "NoSuchBucket":
            return WorkspaceError(
                f"the bucket {self.bucket} does not exist (or is not visible to you)",
                fix="Create it (`plotpalette deploy` does), or correct the s3:// URL.",
            )
        needs = (
            f"s3:GetObject, s3:PutObject and s3:DeleteObject on "
            f"arn:aws:s3:::{self.bucket}/{self.prefix}/* and s3:ListBucket on "
            f"arn:aws:s3:::{self.bucket} for the prefix {self.prefix}/"
        )
        if self.sse == "aws:kms" or self.kms_key_id:
            needs += ", plus kms:GenerateDataKey and kms:Decrypt on the KMS key"
        return translate_error(exc, action=action, where=where, needs=needs)

    def _call(self, action: str, key: str, method: str, **kwargs: Any) -> Any:
        import botocore.exceptions

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._fail(exc, action, key) from exc

    def _conditional_put(self, key: str, data: bytes, **condition: str) -> str | None:
        """PUT under a condition: the new ETag, or None when the condition fails."""
        import botocore.exceptions

        for attempt in range(CONFLICT_RETRIES):
            try:
                reply = self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=data,
                    **condition,
                    **self._write_args(),
                )
                return str(reply["ETag"])
            except botocore.exceptions.ClientError as exc:
                code, status = error_code(exc), error_status(exc)
                if code == "PreconditionFailed" or status == 412:
                    return None
                if code in ("NoSuchKey", "404") and "IfMatch" in condition:
                    return None  # replace_if on a key that is gone
                if code == "ConditionalRequestConflict" or status == 409:
                    time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
                    continue
                raise self._fail(exc, "write", key) from exc
            except botocore.exceptions.BotoCoreError as exc:
                raise self._fail(exc, "write", key) from exc
        raise WorkspaceError(
            f"S3 kept reporting conflicting writes to s3://{self.bucket}/{self._key(key)}",
            fix="Another writer is updating this object continuously; retry the operation.",
        )

    # -- Store ---------------------------------------------------------------------
    def location(self, key: str = "") -> str:
        return f"{self.url}/{check_key(key)}" if key else self.url

    def read_bytes(self, key: str) -> bytes:
        import botocore.exceptions

        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(reply["Body"].read())
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise self._fail(exc, "read", key) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "read", key) from exc

    def write_bytes(self, key: str, data: bytes) -> None:
        self._call("write", key, "put_object", Key=self._key(key), Body=data, **self._write_args())

    def create(self, key: str, data: bytes) -> bool:
        return self._conditional_put(key, data, IfNoneMatch="*") is not None

    def replace_if(self, key: str, data: bytes, etag: str) -> str | None:
        return self._conditional_put(key, data, IfMatch=etag)

    def stat(self, key: str) -> ObjectInfo | None:
        import botocore.exceptions

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._fail(exc, "read", key) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail(exc, "read", key) from exc
        modified = head["LastModified"].timestamp()
        return ObjectInfo(key, int(head["ContentLength"]), str(head["ETag"]), modified)

    def list_page(
        self, prefix: str = "", token: str | None = None, *, limit: int = 1000
    ) -> KeyPage:
        check_key(prefix, prefix=True)
        args: dict[str, Any] = {"Prefix": f"{self.prefix}/{prefix}", "MaxKeys": max(1, limit)}
        if token:
            args["ContinuationToken"] = token
        reply = self._call("list", prefix, "list_objects_v2", **args)
        cut = len(self.prefix) + 1
        keys = [item["Key"][cut:] for item in reply.get("Contents", [])]
        more = reply.get("IsTruncated")
        return KeyPage(keys, reply.get("NextContinuationToken") if more else None)

    def delete(self, key: str) -> None:
        self._call("delete", key, "delete_object", Key=self._key(key))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``, up to 1,000 per DeleteObjects request."""
        deleted = 0
        while True:
            page = self.list_page(prefix, None, limit=1000)
            if not page.keys:
                return deleted
            reply = self._call(
                "delete",
                prefix,
                "delete_objects",
                Delete={"Objects": [{"Key": self._key(k)} for k in page.keys], "Quiet": True},
            )
            errors = reply.get("Errors") or []
            if errors:
                first = errors[0]
                raise WorkspaceError(
                    f"could not delete {len(errors)} object(s) under {self.location(prefix)}: "
                    f"{first.get('Code')}: {first.get('Message')} ({first.get('Key')})",
                    fix="Check s3:DeleteObject on the prefix and any Object Lock retention.",
                )
            deleted += len(page.keys)

    @contextlib.contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        writer = _MultipartWriter(self, key)
        try:
            yield writer  # type: ignore[misc]
            writer.finish()
        except BaseException:
            writer.abort()
            raise


class _MultipartWriter(io.RawIOBase):
    """A write-only file that streams into one S3 object, published by :meth:`finish`."""

    def __init__(self, store: S3Store, key: str) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._s3_key = store._key(key)
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._spool.write(view)
        self._written += len(view)
        if self._spool.tell() >= self._store.part_size:
            self._send_part()
        return len(view)

    def _send_part(self) -> None:
        store = self._store
        if self._upload_id is None:
            reply = store._call(
                "write",
                self._key,
                "create_multipart_upload",
                Key=self._s3_key,
                **store._write_args(),
            )
            self._upload_id = reply["UploadId"]
        self._spool.seek(0)
        body = self._spool.read()
        number = len(self._parts) + 1
        reply = store._call(
            "write",
            self._key,
            "upload_part",
            Key=self._s3_key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"ETag": reply["ETag"], "PartNumber": number})
        self._spool.seek(0)
        self._spool.truncate()

    def finish(self) -> None:
        """Publish the object (one PUT when it fits in a part, else complete the upload)."""
        store = self._store
        if self._upload_id is None:
            self._spool.seek(0)
            store.write_bytes(self._key, self._spool.read())
        else:
            if self._spool.tell() or not self._parts:
                self._send_part()
            store._call(
                "write",
                self._key,
                "complete_multipart_upload",
                Key=self._s3_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
            self._upload_id = None
        self._spool.close()
        super().close()

    def abort(self) -> None:
        """Drop the upload: nothing is published and S3 frees the parts."""
        if self._upload_id is not None:
            with contextlib.suppress(Exception):
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._s3_key, UploadId=self._upload_id
                )
            self._upload_id = None
        self._spool.close()
        with contextlib.suppress(Exception):
            super().close()

    def close(self) -> None:
        # Format writers may close the file they were given: that must not publish or
        # drop anything; open_writer's with-block decides.
        pass
