"""``plotpalette models [tiers|prices|capabilities|test] [--check]``.

``plotpalette models`` shows both the tier mapping and the price table; ``tiers``,
``prices`` and ``capabilities`` show one table (``capabilities``: what each Bedrock
model accepts, with sources); ``--check`` says which tier models lack a price for the
configured Region, are unknown to the capability table or past their end of life (exit
status 1 if any); ``test MODEL_OR_TIER`` makes one tiny call through
:func:`plotpalette.llm.make_backend` and prints text, stop reason, usage, latency and
cost — the quickest check that credentials, model access and prices are in order.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .._sync import run_sync
from ..config import BACKENDS, Settings
from ..errors import ModelRequestError, PricingError
from ..llm.capabilities import capabilities, capability_table
from ..llm.local_files import LOCAL_MODEL_ID
from ..llm.pricing import RATE_FIELDS, PriceTable
from ..llm.tiers import TIERS, resolve_model_id
from .common import common_options, emit, settings_from_args

__all__ = ["capability_data", "check_data", "price_data", "register", "tier_data"]

DEFAULT_PROMPT = "Say hello in five words."
DEFAULT_MAX_TOKENS = 16


def _backend_option(parser: argparse.ArgumentParser, what: str) -> None:
    # SUPPRESS: a sub-command's absent flag must not overwrite the group's value.
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=argparse.SUPPRESS,
        help=f"{what} (default: the configured backend)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        parents=[common_options()],
        help="model tiers, the price table, and a one-call model test",
        description="Without an action: the tiers and the price table.",
    )
    _backend_option(p, "show the tiers as this backend resolves them")
    p.add_argument(
        "--check",
        action="store_true",
        help="check the tier models (priced for the Region, known, not retired); exit 1 if not",
    )
    p.set_defaults(handler=_overview)
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    parent = common_options()
    q = msub.add_parser("tiers", parents=[parent], help="cheap/balanced/premium -> model id")
    _backend_option(q, "resolve the tiers for this backend")
    q.set_defaults(handler=_tiers)
    q = msub.add_parser("prices", parents=[parent], help="the price table (USD per 1M tokens)")
    q.set_defaults(handler=_prices)
    q = msub.add_parser(
        "capabilities", parents=[parent], help="what each Bedrock model accepts, with sources"
    )
    q.set_defaults(handler=_capabilities)
    q = msub.add_parser(
        "test",
        parents=[parent],
        help="make one tiny real call and show text, usage, latency and cost",
    )
    q.add_argument("model", metavar="MODEL_OR_TIER", help="a model id, profile id or tier")
    _backend_option(q, "call through this backend")
    q.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"default: {DEFAULT_PROMPT!r}")
    q.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"output token limit (default {DEFAULT_MAX_TOKENS}; keeps the call cheap)",
    )
    q.set_defaults(handler=_test)


def _settings(args: argparse.Namespace) -> Settings:
    return settings_from_args(args, backend=getattr(args, "backend", None))


def tier_data(settings: Settings, prices: PriceTable) -> dict[str, Any]:
    """Each tier, the id configured for it, and the id and price it runs at under
    ``settings.backend``."""
    rows = []
    for tier in TIERS:
        model = resolve_model_id(tier, settings.backend, settings.tiers)
        try:
            price: dict[str, Any] | None = prices.price(model, settings.region).to_dict()
        except PricingError:
            price = None
        rows.append(
            {
                "tier": tier,
                "model": model,
                "configured": settings.tiers[tier],
                "input_per_1m": price and price["input"],
                "output_per_1m": price and price["output"],
                "priced": price is not None,
            }
        )
    return {
        "backend": settings.backend,
        "backend_source": settings.sources.get("backend", "argument"),
        "tiers_source": settings.sources.get("tiers", "default"),
        "tiers": rows,
    }


def price_data(prices: PriceTable, settings: Settings) -> dict[str, Any]:
    """The price table as JSON-friendly data (USD per million tokens)."""
    return {
        "version": prices.version,
        "as_of": prices.as_of,
        "currency": "USD",
        "unit": "per 1M tokens",
        "overrides": settings.price_overrides,
        "models": [p.to_dict() for p in prices.models()],
    }


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _columns(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def _tiers_text(data: dict[str, Any]) -> str:
    lines = [f"backend: {data['backend']}  [{data['backend_source']}]"]
    rows = [
        [
            r["tier"],
            r["model"],
            _rate(r["input_per_1m"]) if r["priced"] else "unpriced",
            _rate(r["output_per_1m"]) if r["priced"] else "unpriced",
        ]
        for r in data["tiers"]
    ]
    lines += _columns(["tier", "model", "input/1M", "output/1M"], rows)
    if data["backend"] == "local":
        configured = ", ".join(f"{r['tier']}={r['configured']}" for r in data["tiers"])
        lines.append(
            f"(backend local runs every tier and model id as {LOCAL_MODEL_ID}, for $0; "
            f"under bedrock: {configured} — see `plotpalette models --backend bedrock`)"
        )
    if any(not r["priced"] for r in data["tiers"]):
        lines.append("(an unpriced model needs a price override: settings.price_overrides)")
    return "\n".join(lines)


def _prices_text(data: dict[str, Any]) -> str:
    lines = [
        f"price table {data['version']} (as of {data['as_of']}), USD per 1M tokens; "
        "— = the model has no such rate"
    ]
    header = ["model", "region", *[f.replace("_", " ") for f in RATE_FIELDS], "as of", "source"]
    rows = [
        [m["model"], m["region"], *[_rate(m[f]) for f in RATE_FIELDS], m["as_of"], m["source"]]
        for m in data["models"]
    ]
    return "\n".join(lines + _columns(header, rows))


def _overview(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if getattr(args, "check", False):
        return _check(args, settings)
    prices = PriceTable.load(settings.price_overrides)
    tiers, table = tier_data(settings, prices), price_data(prices, settings)
    emit(args, {**tiers, "prices": table}, _tiers_text(tiers) + "\n\n" + _prices_text(table))
    return 0


def _tiers(args: argparse.Namespace) -> int:
    settings = _settings(args)
    data = tier_data(settings, PriceTable.load(settings.price_overrides))
    emit(args, data, _tiers_text(data))
    return 0


def _prices(args: argparse.Namespace) -> int:
    settings = _settings(args)
    data = price_data(PriceTable.load(settings.price_overrides), settings)
    emit(args, data, _prices_text(data))
    return 0


def _test(args: argparse.Namespace) -> int:
    from ..llm import make_backend
    from ..llm.base import ModelRequest

    if args.max_tokens < 1:
        raise ModelRequestError(
            f"--max-tokens must be at least 1, got {args.max_tokens}",
            fix=f"Pass --max-tokens {DEFAULT_MAX_TOKENS} (or any positive number).",
        )
    if not args.prompt.strip():
        raise ModelRequestError("--prompt is empty", fix="Pass some text, e.g. --prompt 'Hi'.")
    settings = _settings(args)
    prices = PriceTable.load(settings.price_overrides)  # a bad override fails before paying
    backend = make_backend(settings)
    try:
        model = backend.resolve_model(args.model)
        request = ModelRequest.from_prompt(model, args.prompt, max_tokens=args.max_tokens)
        response = run_sync(backend.generate(request))
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            close()
    usage = {**dataclasses.asdict(response.usage), "total_tokens": response.usage.total_tokens}
    data: dict[str, Any] = {
        "backend": settings.backend,
        "requested": args.model,
        "model": response.model,
        "text": response.text,
        "stop_reason": response.stop_reason,
        "usage": usage,
        "latency_ms": round(response.latency_ms, 1),
        "attempts": response.attempts,
        "price_table": prices.version,
        "cost_usd": None,
        "pricing_error": None,
    }
    try:
        data["cost_usd"] = prices.cost(response.model, response.usage, region=settings.region)
        cost = f"${data['cost_usd']:.8f} (price table {prices.version})"
    except PricingError as exc:  # the call worked; only its price is missing
        data["pricing_error"] = exc.to_dict()
        cost = f"unpriced — {exc.message}\n  fix: {exc.fix}"
    lines = [
        f"model:       {response.model}  (asked for {args.model!r}, backend {settings.backend})",
        f"text:        {response.text!r}",
        f"stop reason: {response.stop_reason}",
        f"usage:       {usage['input_tokens']} input + {usage['output_tokens']} output tokens"
        + (
            f" (+ {usage['cache_read_tokens']} cache read, {usage['cache_write_tokens']} "
            "cache write)"
            if usage["cache_read_tokens"] or usage["cache_write_tokens"]
            else ""
        ),
        f"latency:     {response.latency_ms:.0f} ms"
        + (f" ({response.attempts} attempts)" if response.attempts > 1 else ""),
        f"cost:        {cost}",
    ]
    emit(args, data, "\n".join(lines))
    return 0


def capability_data() -> list[dict[str, Any]]:
    """The capability table, one dict per model."""
    return [caps.to_dict() for caps in capability_table().values()]


def _capabilities(args: argparse.Namespace) -> int:
    rows = capability_data()
    header = ["model", "JSON", "tools", "temp+top_p", "max out", "burndown", "batch", "end of life"]
    table = [
        [
            r["model"],
            r["structured_output"],
            "yes" if r["tool_use"] else "no",
            "yes" if r["temperature_with_top_p"] else "no",
            f"{r['max_output_tokens']:,}",
            f"{r['tpm_burndown']}x",
            "yes" if r["batch"] else "no",
            r["end_of_life"] or "—",
        ]
        for r in rows
    ]
    sources = sorted({f"{r['as_of']}: {r['source']}" for r in rows})
    text = "\n".join([*_columns(header, table), "", "sources:", *(f"  {s}" for s in sources)])
    emit(args, {"models": rows}, text)
    return 0


def check_data(settings: Settings, prices: PriceTable, region: str | None) -> dict[str, Any]:
    """Each tier model: priced in ``region``, known to the capability table, retired?"""
    rows = []
    for tier in TIERS:
        model = resolve_model_id(tier, settings.backend, settings.tiers)
        problems: list[str] = []
        warnings: list[str] = []
        try:
            price = prices.price(model, region)
            priced = f"{price.region} row, {price.source} ({price.as_of})"
            if price.region == "*" and region not in (None, "us-east-1") and model != "local":
                warnings.append(
                    f"no {region} row: priced at the reference (us-east-1) rate, which may "
                    f"differ in {region}; add a Region row to a price override to be exact"
                )
        except PricingError as exc:
            priced = None
            problems.append(f"no price in {region or 'the reference Region'}: {exc.fix}")
        caps = capabilities(model) if settings.backend == "bedrock" else None
        if settings.backend == "bedrock" and caps is None:
            problems.append("not in the capability table: JSON steps use prompt-and-validate")
        if caps is not None and caps.retired():
            problems.append(f"reached its end of life on {caps.end_of_life}: pick a current model")
        rows.append(
            {
                "tier": tier,
                "model": model,
                "price": priced,
                "structured_output": caps.structured_output if caps else None,
                "end_of_life": caps.end_of_life if caps else None,
                "problems": problems,
                "warnings": warnings if settings.backend == "bedrock" else [],
            }
        )
    return {"backend": settings.backend, "region": region, "tiers": rows}


def _check(args: argparse.Namespace, settings: Settings) -> int:
    region = settings.region
    if settings.backend == "bedrock" and not region:
        from ..llm.bedrock import resolve_region

        region = resolve_region(settings)
    data = check_data(settings, PriceTable.load(settings.price_overrides, region=region), region)
    lines = [f"backend {data['backend']}, Region {region or '(none)'}"]
    for r in data["tiers"]:
        status = "ok" if not r["problems"] else "PROBLEM"
        lines.append(f"{r['tier']:<9} {r['model']}: {status}")
        lines += [f"          - {p}" for p in r["problems"]]
        lines += [f"          ! {w}" for w in r["warnings"]]
        if r["price"]:
            lines.append(f"          price: {r['price']}")
    emit(args, data, "\n".join(lines))
    return 1 if any(r["problems"] for r in data["tiers"]) else 0
