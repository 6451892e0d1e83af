"""What users get wrong when opening an s3:// workspace: each is refused with a fix.

All against moto's threaded server (real HTTP); the IAM test switches on moto's
request authentication for its duration.
"""

from __future__ import annotations

import urllib.request

import pytest

from plotpalette.aws.dynamo import create_table
from plotpalette.aws.moto_server import unique_name
from plotpalette.aws.workspace import open_s3_workspace
from plotpalette.config import Settings
from plotpalette.errors import WorkspaceError


@pytest.fixture
def table(aws_env) -> str:
    name = unique_name("pp-registry")
    create_table(aws_env.client("dynamodb"), name)
    return name


def settings(**values) -> Settings:
    return Settings.load(**values)


def test_a_url_without_prefix_is_refused(s3_bucket, table):
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace(f"s3://{s3_bucket}", settings(table=table))
    assert "names a whole bucket" in info.value.message
    assert f"s3://{s3_bucket}/plotpalette" in info.value.fix


def test_a_bucket_in_another_region_is_refused(aws_env, table):
    bucket = aws_env.bucket(region="eu-west-1")
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace(f"s3://{bucket}/ws", settings(table=table))
    assert "is in eu-west-1, but Plot Palette is using us-east-1" in info.value.message
    assert "Set the Region to eu-west-1" in info.value.fix


def test_a_missing_bucket_is_refused(aws_env, table):
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace("s3://pp-no-such-bucket-x1/ws", settings(table=table))
    assert "does not exist" in info.value.message
    assert "plotpalette deploy" in info.value.fix


def test_a_missing_table_is_refused(s3_bucket):
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace(f"s3://{s3_bucket}/ws", settings(table="pp-no-such-table"))
    assert "'pp-no-such-table' does not exist in us-east-1" in info.value.message
    assert "plotpalette workspace create-table" in info.value.fix


def test_no_table_named_anywhere_is_refused(s3_bucket):
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace(f"s3://{s3_bucket}/ws", settings())
    assert "no DynamoDB registry table" in info.value.message
    assert "PLOTPALETTE_TABLE" in info.value.fix and "?table=" in info.value.fix


def test_a_table_with_another_key_schema_is_refused(aws_env, s3_bucket):
    name = unique_name("pp-other")
    aws_env.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace(f"s3://{s3_bucket}/ws", settings(table=name))
    assert "is not a Plot Palette registry" in info.value.message


def test_the_marker_remembers_the_table_for_teammates(s3_bucket, table, aws_env):
    store, tables = open_s3_workspace(f"s3://{s3_bucket}/team?table={table}", settings())
    assert tables.table == table
    again_store, again = open_s3_workspace(f"s3://{s3_bucket}/team", settings())
    assert again.table == table and again_store.url == store.url
    other = unique_name("pp-registry")
    create_table(aws_env.client("dynamodb"), other)
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace(f"s3://{s3_bucket}/team", settings(table=other))
    assert f"uses the registry table {table!r}" in info.value.message


def test_open_without_create_needs_an_existing_workspace(s3_bucket, table):
    with pytest.raises(WorkspaceError, match="no workspace at"):
        open_s3_workspace(f"s3://{s3_bucket}/absent", settings(table=table), create=False)


def test_object_lock_default_retention_is_refused(aws_env, table):
    bucket = aws_env.bucket(ObjectLockEnabledForBucket=True)
    aws_env.client("s3").put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace(f"s3://{bucket}/ws", settings(table=table))
    assert "Object Lock default retention (COMPLIANCE)" in info.value.message
    assert "without default retention" in info.value.fix


def test_an_endpoint_that_ignores_conditional_writes_is_refused(aws_env, s3_bucket, table):
    # An S3-compatible endpoint without conditional writes behaves as if the header were
    # not sent: drop it on the wire, after botocore has built the request.
    client = aws_env.client("s3")

    def drop_condition(request, **_):
        request.headers.pop("If-None-Match", None)

    client.meta.events.register("before-send.s3.PutObject", drop_condition)
    with pytest.raises(WorkspaceError) as info:
        open_s3_workspace(f"s3://{s3_bucket}/ws", settings(table=table), client=client)
    assert "ignored a conditional write" in info.value.message
    assert "If-None-Match" in info.value.fix


def _moto_auth(server, count: str) -> None:
    request = urllib.request.Request(
        f"{server.endpoint_url}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request).read()


def test_no_permission_on_the_prefix_names_the_actions(aws_env, s3_bucket, table, monkeypatch):
    iam = aws_env.client("iam")
    user = unique_name("pp-user")
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="elsewhere-only",
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "s3:*", "Resource": "arn:aws:s3:::some-other-bucket/*"}]}',
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    _moto_auth(aws_env, "0")
    try:
        with pytest.raises(WorkspaceError) as info:
            open_s3_workspace(f"s3://{s3_bucket}/ws", settings(table=table))
    finally:
        _moto_auth(aws_env, "inf")
    assert "no permission to read" in info.value.message
    assert f"s3://{s3_bucket}/ws/workspace.json" in info.value.message
    assert f"arn:aws:s3:::{s3_bucket}/ws/*" in info.value.fix
    assert "s3:ListBucket" in info.value.fix
