"""Open an ``s3://bucket/prefix`` workspace: its S3 store and its DynamoDB registry.

The registry table is found, in this order, from the URL's ``?table=NAME``, the
``table`` setting (``PLOTPALETTE_TABLE``), or the workspace marker
(``workspace.json``), which records the table when the workspace is created, so a
teammate only needs the ``s3://`` URL. Naming a different table than the marker
records is refused: one workspace with two registries would split its jobs.

Checks made on open, each failing with a message and a fix: the bucket exists, is
in the configured Region and is readable; on creation also that the endpoint enforces
conditional writes (the marker is created twice with ``IfNoneMatch`` and the second
attempt must lose) and that no Object Lock default retention would keep every
replaced or deleted object.
"""

from __future__ import annotations

import json
from typing import Any

from .. import layout
from .._version import __version__
from ..errors import WorkspaceError
from .dynamo import DynamoTables
from .s3 import S3Store, parse_s3_url
from .session import error_code, error_status

__all__ = ["describe_s3_workspace", "open_s3_workspace"]


def _bucket_region(exc_or_reply: Any) -> str | None:
    response = getattr(exc_or_reply, "response", exc_or_reply) or {}
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return headers.get("x-amz-bucket-region")


def check_bucket(store: S3Store) -> None:
    """The bucket exists and is in the client's Region.

    ``HeadBucket`` is authorised by ``s3:ListBucket``; a least-privilege policy that
    allows listing only under the workspace prefix denies it (403). S3 still names the
    bucket's Region in that reply, so a 403 is not an error here: the first object
    read says precisely what is missing.
    """
    import botocore.exceptions

    mine = store.client.meta.region_name
    try:
        reply = store.client.head_bucket(Bucket=store.bucket)
        theirs = _bucket_region(reply)
    except botocore.exceptions.ClientError as exc:
        theirs = _bucket_region(exc)
        status = error_status(exc)
        if status in (301, 400, 403) and (theirs or status == 403):
            pass  # wrong Region (reported below) or a prefix-only policy (see above)
        elif status == 404 or error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise WorkspaceError(
                f"the bucket {store.bucket} does not exist",
                fix="Create it (`plotpalette deploy` does, or `aws s3 mb s3://NAME`), or "
                "correct the bucket name in the s3:// URL.",
            ) from None
        else:
            raise store._fail(exc, "open the bucket") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise store._fail(exc, "open the bucket") from exc
    if theirs and theirs != mine:
        raise WorkspaceError(
            f"the bucket {store.bucket} is in {theirs}, but Plot Palette is using {mine}: "
            "every request would cross Regions and the registry table would be looked up "
            f"in {mine}",
            fix=f"Set the Region to {theirs} (PLOTPALETTE_REGION, AWS_REGION or the "
            "profile's region), or use a bucket in "
            f"{mine}.",
        )


def _check_object_lock(store: S3Store) -> None:
    import botocore.exceptions

    try:
        reply = store.client.get_object_lock_configuration(Bucket=store.bucket)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ObjectLockConfigurationNotFoundError":
            return
        if error_status(exc) == 403:
            return  # not allowed to look: creation goes on, deletes will say more
        raise store._fail(exc, "read the Object Lock settings of") from exc
    rule = reply.get("ObjectLockConfiguration", {}).get("Rule", {})
    retention = rule.get("DefaultRetention")
    if retention:
        mode = retention.get("Mode", "")
        raise WorkspaceError(
            f"the bucket {store.bucket} has Object Lock default retention ({mode}): "
            "every record shard, manifest and export the workspace replaces or deletes "
            "would stay locked and billed until the retention ends",
            fix="Use a bucket without default retention for workspaces (keep Object Lock "
            "for a separate archive bucket you export finished datasets to).",
        )


def _read_marker(store: S3Store) -> dict[str, Any] | None:
    try:
        data = json.loads(store.read_bytes(layout.WORKSPACE_MARKER))
    except KeyError:
        return None
    except ValueError:
        raise WorkspaceError(
            f"{store.location(layout.WORKSPACE_MARKER)} is damaged",
            fix="Restore it from a bucket version or backup.",
        ) from None
    return data if isinstance(data, dict) else {}


def _table_name(location: str, query: dict[str, str], settings: Any, marker: dict | None) -> str:
    named = query.get("table") or getattr(settings, "table", None)
    recorded = (marker or {}).get("registry", "")
    recorded_name = recorded.removeprefix("dynamodb://").split("?")[0] if recorded else None
    if named and recorded_name and named != recorded_name:
        raise WorkspaceError(
            f"{location} uses the registry table {recorded_name!r}, but {named!r} was named",
            fix="Drop the table setting (PLOTPALETTE_TABLE / ?table=) to use the "
            "workspace's own table, or open another prefix for another table.",
        )
    name = named or recorded_name
    if not name:
        raise WorkspaceError(
            f"no DynamoDB registry table is known for {location}",
            fix="Name it: PLOTPALETTE_TABLE=NAME, the table setting, or "
            f"{location.split('?')[0]}?table=NAME (the deployed stack's TableName output; "
            "`plotpalette workspace create-table NAME` makes one).",
        )
    return name


def open_s3_workspace(
    location: str, settings: Any, *, create: bool = True, client: Any = None
) -> tuple[S3Store, DynamoTables]:
    """The checked store and registry of ``s3://bucket/prefix[?table=NAME]``.

    ``settings`` supplies ``region``, ``aws_profile`` and ``table``. Creates the marker
    (recording the table) on first open unless ``create`` is false.
    """
    _, _, query = parse_s3_url(location)
    region, profile = settings.region, settings.aws_profile
    store = S3Store.from_url(location, region=region, profile=profile, client=client)
    check_bucket(store)
    marker = _read_marker(store)
    if marker is None and not create:
        raise WorkspaceError(
            f"no workspace at {store.url}",
            fix="Check the prefix, or create the workspace by opening it once "
            "(Workspace.open(url), or any command with --workspace URL).",
        )
    name = _table_name(location, query, settings, marker)
    tables = DynamoTables(name, region=store.client.meta.region_name, profile=profile)
    if marker is None:
        _check_object_lock(store)
        body = json.dumps(
            {
                "layout_version": layout.LAYOUT_VERSION,
                "created_by": __version__,
                "registry": f"dynamodb://{name}",
            }
        ).encode()
        if store.create(layout.WORKSPACE_MARKER, body) and store.create(
            layout.WORKSPACE_MARKER, body
        ):
            raise WorkspaceError(
                f"the S3 endpoint for {store.bucket} ignored a conditional write "
                "(If-None-Match): two writers could both take one record or version",
                fix="Use Amazon S3 (conditional writes since August 2024) or an "
                "S3-compatible store that enforces If-None-Match and If-Match.",
            )
    return store, tables


def describe_s3_workspace(store: S3Store, tables: DynamoTables) -> dict[str, Any]:
    """What ``plotpalette info`` shows about an S3 workspace (two read-only calls)."""
    import botocore.exceptions

    facts: dict[str, Any] = {
        "store": f"S3 {store.url} ({store.client.meta.region_name})",
        "registry": f"DynamoDB table {tables.table} ({tables.region})",
        "encryption": store.sse or "bucket default",
    }
    try:
        versioning = store.client.get_bucket_versioning(Bucket=store.bucket)
        facts["versioning"] = versioning.get("Status", "Disabled")
    except botocore.exceptions.ClientError as exc:
        facts["versioning"] = f"unknown ({error_code(exc)})"
    return facts
