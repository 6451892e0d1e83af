"""boto3 clients for the workspace stores, and AWS errors turned into Plot Palette errors.

Clients follow the usual credential chain (environment, ``AWS_PROFILE`` or the
``aws_profile`` setting, SSO, container/instance roles) and Region (the ``region``
setting, ``AWS_REGION``/``AWS_DEFAULT_REGION``, the profile's Region). botocore's
*standard* retry mode retries throttling and 5xx replies (S3 ``503 SlowDown``) with
capped, jittered backoff; conditional-write conflicts are retried by the stores.
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_DYNAMODB`` point
the clients at another endpoint (boto3 reads them itself).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

from ..errors import WorkspaceError

__all__ = [
    "aws_client",
    "new_session",
    "request_counts",
    "reset_request_counts",
    "translate_error",
]

RETRIES = {"mode": "standard", "max_attempts": 8}
_COUNTS: Counter[str] = Counter()
_COUNTS_LOCK = threading.Lock()


def _count_request(request: Any = None, event_name: str = "", **_: Any) -> None:
    """botocore ``before-send`` hook: one count per HTTP request (retries included),
    plus DynamoDB write units estimated from the request size (1 KB each)."""
    _, service, operation = [*event_name.split("."), "", ""][:3]
    with _COUNTS_LOCK:
        _COUNTS[f"{service}.{operation}"] += 1
        if service == "dynamodb" and operation in ("PutItem", "DeleteItem", "UpdateItem"):
            body = len(getattr(request, "body", b"") or b"")
            _COUNTS["dynamodb.write_units"] += max(1, math.ceil(body / 1024))


def _count_reads(http_response: Any = None, event_name: str = "", **_: Any) -> None:
    """botocore ``after-call`` hook: DynamoDB strongly consistent read units (4 KB each)."""
    if event_name.split(".")[1:2] == ["dynamodb"] and http_response is not None:
        operation = event_name.split(".")[2]
        if operation in ("GetItem", "Query"):
            size = len(getattr(http_response, "content", b"") or b"")
            with _COUNTS_LOCK:
                _COUNTS["dynamodb.read_units"] += max(1, math.ceil(size / 4096))


def request_counts() -> dict[str, int]:
    """AWS requests this process made through the workspace clients, by
    ``service.Operation`` (for cost estimates and the storage benchmark)."""
    with _COUNTS_LOCK:
        return dict(_COUNTS)


def reset_request_counts() -> None:
    with _COUNTS_LOCK:
        _COUNTS.clear()


_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


def new_session(*, profile: str | None = None, region: str | None = None) -> Any:
    """A ``boto3.Session`` whose botocore data loader (the service models, endpoints
    and partitions read from JSON files) is shared by every session of this process.
    Credentials and Region stay per session. Each new session parsed those files again:
    ~0.06 s of CPU for every client after the first, measured; a worker makes three
    (S3, DynamoDB, Bedrock), and eight workers starting on two cores wait for all of it."""
    import boto3
    import botocore.loaders
    import botocore.session

    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = botocore.loaders.create_loader()
        core = botocore.session.Session(profile=profile)
        core.register_component("data_loader", _LOADER)
    if profile is not None:
        core.get_scoped_config()  # a missing profile raises ProfileNotFound here, not later
    with _LOADER_LOCK:
        session = boto3.Session(botocore_session=core, region_name=region)
        # boto3 appends its own data folder to the loader's paths for every session
        paths = _LOADER.search_paths
        paths[:] = dict.fromkeys(paths)
    return session


def aws_client(service: str, *, region: str | None = None, profile: str | None = None) -> Any:
    """A boto3 client for ``service`` with standard retries and pooled connections."""
    import botocore.config
    import botocore.exceptions

    try:
        session = new_session(profile=profile, region=region)
    except botocore.exceptions.ProfileNotFound:
        raise WorkspaceError(
            f"AWS profile {profile!r} not found",
            fix="Create it with `aws configure --profile NAME` or unset aws_profile.",
        ) from None
    config = botocore.config.Config(retries=RETRIES, max_pool_connections=32)
    if session.region_name is None and service == "dynamodb":
        raise WorkspaceError(
            "no AWS Region is configured for the DynamoDB registry",
            fix="Set the region setting (PLOTPALETTE_REGION), AWS_REGION, or the profile's Region.",
        )
    client = session.client(service, config=config)
    client.meta.events.register("before-send", _count_request)
    client.meta.events.register("after-call", _count_reads)
    return client


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "AllAccessDisabled", "403"}


def translate_error(exc: BaseException, *, action: str, where: str, needs: str) -> WorkspaceError:
    """A :class:`WorkspaceError` that says what failed where and how to fix it.

    ``needs`` names the IAM permissions the action requires (for the access-denied fix).
    """
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return WorkspaceError(
            f"no AWS credentials to {action} {where}",
            fix="Configure credentials (`aws configure`, `aws sso login` or AWS_PROFILE).",
        )
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return WorkspaceError(
            f"cannot reach AWS to {action} {where}: {exc}",
            fix="Check the network, the Region and any AWS_ENDPOINT_URL setting.",
        )
    code = error_code(exc)
    if code in _CREDENTIALS:
        return WorkspaceError(
            f"AWS refused the credentials ({code}) to {action} {where}",
            fix="Refresh them (`aws sso login`, new keys) or choose another AWS_PROFILE.",
        )
    if code in _DENIED or error_status(exc) == 403:
        return WorkspaceError(
            f"no permission to {action} {where} ({code or 'AccessDenied'})",
            fix=f"Grant the caller {needs}; see 'Sharing a workspace on AWS' for the policy.",
        )
    message = getattr(exc, "response", {}).get("Error", {}).get("Message", "") or str(exc)
    return WorkspaceError(
        f"AWS could not {action} {where}: {code or type(exc).__name__}: {message}",
        fix="Retry; if it persists, check the AWS service health and the request above.",
    )
