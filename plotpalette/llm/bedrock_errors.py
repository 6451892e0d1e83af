"""botocore exceptions -> Plot Palette errors that say what to do.

Retryable results (throttling, 5xx, timeouts, resets, unparseable replies) become
:class:`ThrottledError`/:class:`TransientModelError`; the retry layer decides. Everything
else fails at once with a ``fix`` naming the console page, command or parameter.
"""

from __future__ import annotations

from ..errors import (
    ConfigError,
    CredentialsError,
    DailyQuotaError,
    ModelAccessError,
    ModelError,
    ModelNotFoundError,
    ModelRequestError,
    ModelRetiredError,
    ModelUnresponsiveError,
    PlotPaletteError,
    ThrottledError,
    TransientModelError,
)
from .attempts import mark_unknown

__all__ = ["map_bedrock_error"]

_CREDENTIAL_CODES = {
    "ExpiredTokenException",
    "ExpiredToken",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "InvalidClientTokenId",
    "MissingAuthenticationTokenException",
    "SignatureDoesNotMatch",
}
_TRANSIENT_CODES = {
    "InternalServerException",
    "ServiceUnavailableException",
    "ModelTimeoutException",
    "ModelNotReadyException",
    "ModelErrorException",
    "ModelStreamErrorException",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
}
_PARAMETERS = (  # ValidationException text -> the request field to name
    (("maxtokens", "maximum tokens", "max_tokens"), "max_tokens"),
    (("temperature",), "temperature"),
    (("topp", "top_p"), "top_p"),
    (("stopsequences", "stop sequence"), "stop"),
    (("jsonschema", "json schema", "outputconfig"), "json_schema"),
)


def _transient(message: str, retry_class: str = "transient") -> TransientModelError:
    """A retryable error; ``retry_class`` picks its schedule in :mod:`.retry`."""
    err = TransientModelError(message)
    err.retry_class = retry_class  # type: ignore[attr-defined]
    return err


def _not_retryable(err: ModelError) -> ModelError:
    err.retryable = False  # type: ignore[attr-defined]
    return err


def _error_code(raw: str) -> str:
    """In-stream errors arrive with lower-case names (``throttlingException``)."""
    return raw[:1].upper() + raw[1:] if raw else raw


def map_bedrock_error(exc: BaseException, *, model: str, region: str | None) -> PlotPaletteError:
    """The Plot Palette error for ``exc`` raised while calling ``model`` in ``region``."""
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    where = f"in Region {region}" if region else "in the configured Region"
    if isinstance(exc, bx.ClientError):
        return _from_client_error(exc, model, where)
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return CredentialsError(f"no AWS credentials found for Bedrock ({type(exc).__name__})")
    if isinstance(exc, bx.ProfileNotFound):
        return CredentialsError(
            f"AWS profile not found: {exc}",
            fix="Fix settings.aws_profile / AWS_PROFILE, or run `aws configure --profile NAME`.",
        )
    sso_errors = tuple(
        getattr(bx, n)
        for n in (
            "SSOError",
            "SSOTokenLoadError",
            "TokenRetrievalError",
            "UnauthorizedSSOTokenError",
            "CredentialRetrievalError",
        )
        if hasattr(bx, n)
    )
    if isinstance(exc, sso_errors):
        return CredentialsError(
            f"AWS credentials could not be loaded: {exc}",
            fix="Refresh them (`aws sso login`, or new session keys) and resume the job.",
        )
    if isinstance(exc, bx.NoRegionError):
        return ConfigError(
            "no AWS Region configured for Bedrock",
            fix="Set PLOTPALETTE_REGION (or AWS_DEFAULT_REGION, or a region in your AWS "
            "profile), e.g. us-east-1.",
        )
    if isinstance(exc, bx.ReadTimeoutError):
        err = ModelUnresponsiveError(
            f"no reply from {model} {where} within the call's deadline ({exc})"
        )
        err.retry_class = "unresponsive"  # type: ignore[attr-defined]
        return mark_unknown(err)  # sent, never answered: it may have been billed
    if isinstance(
        exc,
        (
            bx.ConnectionError,
            bx.HTTPClientError,
            bx.ResponseStreamingError,
            bx.IncompleteReadError,
            ResponseParserError,
            bx.ReadTimeoutError,
        ),
    ):
        err = _transient(f"network error calling {model}: {type(exc).__name__}: {exc}")
        # sent but no usable reply (not a refused connection): it may have been billed
        if not isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)):
            mark_unknown(err)
        return err
    return ModelError(f"unexpected error calling {model}: {type(exc).__name__}: {exc}")


def _from_client_error(exc: BaseException, model: str, where: str) -> ModelError:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {}) or {}
    code = _error_code(str(error.get("Code", "")))
    message = str(error.get("Message", "") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
    low = message.lower().replace(" ", "")
    if "endofitslife" in low or "endoflife" in low:
        return ModelRetiredError(f"model {model} has reached the end of its life {where}")
    if code == "ThrottlingException":
        if "perday" in low:
            return _not_retryable(
                DailyQuotaError(f"{model}: tokens-per-day quota used up {where}: {message}")
            )
        return ThrottledError(f"{model} throttled {where}: {message}")
    if code == "ServiceQuotaExceededException":
        return _not_retryable(
            ThrottledError(
                f"{model}: service quota exceeded {where}: {message}",
                fix="Request a quota increase in Service Quotas (Amazon Bedrock) "
                "or lower the job's rate limits.",
            )
        )
    if code in _CREDENTIAL_CODES:
        if "expired" in code.lower() or "expired" in message.lower():
            return CredentialsError(
                f"AWS credentials have expired ({code})",
                fix="Refresh them (`aws sso login`, or new session keys) and resume the job.",
            )
        return CredentialsError(
            f"AWS rejected the credentials ({code}: {message})",
            fix="Check the access key / profile in use (`aws sts get-caller-identity`).",
        )
    if code == "AccessDeniedException":
        return _access_denied(model, where, message, low)
    if code == "ResourceNotFoundException":
        return ModelNotFoundError(f"model {model} is not available {where} ({message})")
    if code == "ValidationException":
        return _from_validation(model, where, message, low)
    if code == "ModelNotReadyException":
        return _transient(f"{model} is not ready {where}: {message}", "not_ready")
    if code == "ModelErrorException":
        return _transient(
            f"{model} could not process the request {where}: {message}", "model_error"
        )
    if code in _TRANSIENT_CODES or status >= 500:
        return _transient(f"{model} failed {where}: {code} {message}".strip())
    return ModelError(f"Bedrock error calling {model} {where}: {code}: {message}")


def _access_denied(model: str, where: str, message: str, low: str) -> ModelAccessError:
    if "marketplace" in low:
        return ModelAccessError(
            f"{model} needs an AWS Marketplace subscription, which your IAM role may not "
            f"start {where}: {message}",
            fix="Allow aws-marketplace:ViewSubscriptions and aws-marketplace:Subscribe to "
            "the role making the first call (or have an administrator make one call), "
            "then resume.",
        )
    if "notauthorizedtoperform" in low:
        return ModelAccessError(
            f"IAM denies the call to {model} {where}: {message}",
            fix="Grant bedrock:InvokeModel (and bedrock:InvokeModelWithResponseStream) on "
            "this model and its inference profile to your IAM role.",
        )
    return ModelAccessError(
        f"no access to model {model} {where} ({message})",
        fix="Model access is on by default; for Anthropic models submit the one-time use "
        "case form in the Bedrock console, check service control policies that deny "
        "Bedrock, or pick another model or tier.",
    )


def _from_validation(model: str, where: str, message: str, low: str) -> ModelError:
    if "modelidentifierisinvalid" in low or "invalidmodelidentifier" in low:
        return ModelNotFoundError(f"unknown model id {model!r} {where}")
    if "on-demandthroughput" in low:
        return ModelNotFoundError(
            f"model {model} cannot be called on demand by its plain id {where}",
            fix=f"Use an inference profile id instead, e.g. us.{model} or global.{model}.",
        )
    if "toolong" in low or "inputlength" in low or "contextwindow" in low or "contextlength" in low:
        return ModelRequestError(
            f"prompt too long for {model}: {message}",
            fix="Shorten the step's prompt, lower max_tokens, or use a "
            "model with a larger context.",
        )
    for needles, parameter in _PARAMETERS:
        if any(n.replace(" ", "") in low for n in needles):
            return ModelRequestError(
                f"invalid {parameter} for {model}: {message}",
                fix=f"Correct the step's {parameter}.",
            )
    return ModelRequestError(f"Bedrock rejected the request to {model}: {message}")
