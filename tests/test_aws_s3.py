"""S3Store specifics beyond the shared contract: encryption, URL options, counters."""

from __future__ import annotations

import pytest

from plotpalette.aws.s3 import S3Store
from plotpalette.aws.session import request_counts, reset_request_counts
from plotpalette.errors import WorkspaceError
from plotpalette.store import store_from_url


def test_server_side_encryption_is_sent_on_every_kind_of_write(aws_env, s3_bucket):
    key_id = "arn:aws:kms:us-east-1:123456789012:key/pp-test"
    store = store_from_url(f"s3://{s3_bucket}/enc?sse=aws:kms&kms_key_id={key_id}")
    s3 = aws_env.client("s3")
    store.write_bytes("a", b"1")
    store.create("b", b"2")
    etag = store.etag("a")
    assert etag is not None and store.replace_if("a", b"3", etag)
    with store.open_writer("big") as fh:
        for _ in range(9):
            fh.write(b"x" * (1024 * 1024))  # more than one 8 MiB part: a multipart upload
    for key in ("a", "b", "big"):
        head = s3.head_object(Bucket=s3_bucket, Key=f"enc/{key}")
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert head.get("SSEKMSKeyId", "").endswith("pp-test"), key


def test_bad_store_options_are_refused(aws_env, s3_bucket):
    with pytest.raises(WorkspaceError, match="unknown server-side encryption"):
        store_from_url(f"s3://{s3_bucket}/p?sse=rot13")
    with pytest.raises(WorkspaceError, match="at least 5 MiB"):
        S3Store(s3_bucket, "p", part_size=1024)
    with pytest.raises(WorkspaceError, match="unsupported storage location"):
        store_from_url("gs://bucket/prefix")


def test_requests_are_counted_per_operation(aws_env, s3_bucket):
    store = store_from_url(f"s3://{s3_bucket}/count")
    reset_request_counts()
    store.create("k", b"1")
    store.create("k", b"2")  # refused by S3 with 412: still a request
    store.list()
    counts = request_counts()
    assert counts["s3.PutObject"] == 2 and counts["s3.ListObjectsV2"] == 1
