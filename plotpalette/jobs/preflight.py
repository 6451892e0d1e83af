"""Before the first billed call: every step's model is known, priced and callable.

A typo in step 2's model id, or a model without a price, used to surface only after
step 1 had been paid for on many records. :func:`preflight` checks each model of each
step (primary and fallbacks) before any record starts:

* **priced** in the job's Region (the price table never guesses);
* **accepted**: the step's ``max_tokens`` is within the model's output limit and it
  does not send ``temperature`` with ``top_p`` to a model that refuses both (from the
  capability table: every record would be refused);
* **callable**: one probe call per model (1 output token) through the backend, when it
  offers :meth:`probe` — proof of access, Marketplace subscription, Region and end of
  life. Probes go through the budget governor, so their (tiny) cost is in the ledger.

A model that fails the probe is marked unusable and its step falls back; a step with
no usable model, an unpriced model or a refused setting stops the job before it spends
anything (:class:`~plotpalette.jobs.execute.FatalJobError`).

:func:`apply_job_limits` hands the job's ``concurrency`` and ``rate_limits`` to the
backend, so each of them works the same from the CLI, env, config and Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import (
    CredentialsError,
    ModelAccessError,
    ModelError,
    ModelNotFoundError,
    ModelRequestError,
    PricingError,
)
from ..llm.attempts import on_unknown_outcome, outcome_unknown
from ..llm.base import ModelRequest
from ..llm.capabilities import capabilities

__all__ = ["apply_job_limits", "backend_region", "preflight", "structured_mode"]


def backend_region(backend: Any) -> str | None:
    """The Region a backend's calls are priced in (``None``: no Region, e.g. local).
    For Bedrock this resolves the AWS chain, so a missing Region fails here, before
    anything is spent."""
    return getattr(backend, "region", None) if getattr(backend, "name", "") == "bedrock" else None


def structured_mode(backend: Any, model: str) -> str:
    """How ``backend`` enforces a JSON schema for ``model`` (``native``, ``tool``,
    ``prompt``; backends without the distinction constrain output natively)."""
    mode = getattr(backend, "structured_output_mode", None)
    return str(mode(model)) if mode is not None else "native"


def apply_job_limits(
    backend: Any, concurrency: int | None, rate_limits: Mapping[str, Mapping[str, int]] | None
) -> None:
    """Give ``backend`` the job's concurrency and quotas (backends without limiters
    ignore them)."""
    if concurrency and hasattr(backend, "set_concurrency"):
        backend.set_concurrency(concurrency)
    if rate_limits and hasattr(backend, "set_rate_limits"):
        backend.set_rate_limits(rate_limits)


def _static_checks(plans: Sequence[Any], prices: Any, backend_name: str) -> None:
    for plan in plans:
        for model in plan.models:
            try:
                prices.price(model)
            except PricingError as exc:
                raise PricingError(f"step {plan.id!r}: {exc.message}", fix=exc.fix) from None
            caps = capabilities(model) if backend_name == "bedrock" else None
            if caps is None:
                continue
            if plan.max_tokens > caps.max_output_tokens:
                raise ModelRequestError(
                    f"step {plan.id!r}: max_tokens {plan.max_tokens} is above the "
                    f"{caps.max_output_tokens} that {model} accepts",
                    fix=f"Set the step's max_tokens to at most {caps.max_output_tokens}.",
                )
            both = plan.temperature is not None and plan.top_p is not None
            if both and not caps.temperature_with_top_p:
                raise ModelRequestError(
                    f"step {plan.id!r}: {model} accepts temperature or top_p, not both",
                    fix="Remove top_p (or temperature) from the step.",
                )


def _close(governor: Any, reservation: Any, exc: BaseException) -> None:
    """A failed probe: booked at its worst case when it was sent and never answered
    (it may have been billed, e.g. a call abandoned at its deadline), else released."""
    if outcome_unknown(exc):
        governor.abandon(reservation)
    else:
        governor.release(reservation)


async def preflight(
    plans: Sequence[Any],
    backend: Any,
    prices: Any,
    governor: Any,
    unusable: dict[str, ModelError],
) -> list[str]:
    """Check every step's models; returns warnings, raises on a job that cannot run.

    ``unusable`` receives the models whose probe was refused (the executor then skips
    them). Raises :class:`PricingError`/:class:`ModelRequestError` or the probe's
    error when a step has no usable model; the runner turns it into a FAILED job with
    nothing spent but the probes.
    """
    _static_checks(plans, prices, getattr(backend, "name", ""))
    warnings: list[str] = []
    probe = getattr(backend, "probe", None)
    if probe is None:
        return warnings
    models = list(dict.fromkeys(m for plan in plans for m in plan.models))
    for model in models:
        request = ModelRequest.from_prompt(model, "Reply OK.", max_tokens=1)
        worst = prices.worst_case(model, backend.max_input_tokens(request), 1)
        reservation = await governor.reserve(worst, backend.max_input_tokens(request) + 1)
        try:
            # a probe attempt whose bill is unknown is booked (worst case) before a retry
            with on_unknown_outcome(lambda _err, r=reservation: governor.rebook(r)):
                response = await probe(model)
        except CredentialsError:
            governor.release(reservation)
            raise
        except (ModelAccessError, ModelNotFoundError) as exc:
            _close(governor, reservation, exc)
            unusable[model] = exc
            continue
        except ModelError as exc:
            # throttled or failing right now says nothing about the model: go on
            _close(governor, reservation, exc)
            warnings.append(f"could not probe {model}: {exc.message}")
            continue
        except BaseException:
            governor.abandon(reservation)
            raise
        governor.settle(
            reservation, prices.cost(model, response.usage), response.usage.total_tokens
        )
    for plan in plans:
        if all(m in unusable for m in plan.models):
            cause = unusable[plan.models[0]]
            raise type(cause)(f"step {plan.id!r}: {cause.message}", fix=cause.fix)
        warnings.extend(
            f"step {plan.id!r}: {m} is not usable ({unusable[m].message}); using a fallback"
            for m in plan.models
            if m in unusable
        )
    return warnings
