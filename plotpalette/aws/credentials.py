"""Find out, without calling AWS, whether credentials are configured."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["credentials_status"]


def credentials_status(profile: str | None = None, region: str | None = None) -> dict[str, Any]:
    """Report where credentials would come from; makes no network call.

    The instance-metadata provider is switched off for the lookup: on a laptop it would
    wait on a link-local address that is not there, and ``info`` must stay instant.
    """
    import boto3
    import botocore.exceptions

    saved = os.environ.get("AWS_EC2_METADATA_DISABLED")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        creds = session.get_credentials()
        return {
            "available": creds is not None,
            "method": getattr(creds, "method", None) if creds else None,
            "region": session.region_name,
            "profile": profile,
        }
    except botocore.exceptions.ProfileNotFound:
        return {
            "available": False,
            "method": None,
            "region": region,
            "profile": profile,
            "error": f"AWS profile {profile!r} not found",
        }
    except botocore.exceptions.BotoCoreError as exc:
        return {
            "available": False,
            "method": None,
            "region": region,
            "profile": profile,
            "error": str(exc),
        }
    finally:
        if saved is None:
            os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
        else:
            os.environ["AWS_EC2_METADATA_DISABLED"] = saved
