"""The job-spec flags ``run``, ``estimate``, ``sweep`` and ``submit`` share, and the
:class:`~plotpalette.jobs.JobSpec` they build (a ``--spec`` file with flags over it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .._files import read_regular
from ..config import parse_rate_limits
from ..errors import ConfigError
from ..jobs import JobSpec
from .mode import add_mode_option

__all__ = ["build_spec", "spec_options"]


def spec_options(p: argparse.ArgumentParser, *, template_required: bool = False) -> None:
    p.add_argument(
        "--template",
        "-t",
        required=template_required,
        help="template name (latest version) or name@version",
    )
    p.add_argument("--spec", help="a JSON job spec file (fields of JobSpec); flags override it")
    p.add_argument(
        "--seeds", "-s", help="seed file, seed-set hash, or sample:NAME (default sample:poetry)"
    )
    p.add_argument("--records", "-n", type=int, help="records to generate (default 20)")
    p.add_argument("--budget", type=float, help="hard budget in US dollars")
    p.add_argument("--budget-tokens", type=int, help="optional hard budget in tokens")
    p.add_argument("--backend", choices=["local", "bedrock"])
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="STEP=MODEL",
        help="model or tier for one step (repeatable)",
    )
    p.add_argument("--tier", help="model or tier for every step without --model")
    p.add_argument("--sampling", choices=["sequential", "with_replacement", "without_replacement"])
    p.add_argument("--seed", type=int, help="sampling/random seed (default 0)")
    p.add_argument("--concurrency", type=int, help="records in flight at once (per worker)")
    p.add_argument(
        "--workers", type=int, help="worker processes sharing the job on this machine (default 1)"
    )
    p.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="MODEL=rpm:N,tpm:N",
        help="the model's quota (repeatable; overrides the rate_limits setting)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        help="cap every step's max_tokens at N (shorter, cheaper outputs; changes records)",
    )
    p.add_argument("--name", help="a label for the job")
    add_mode_option(p)


def build_spec(args: argparse.Namespace) -> JobSpec:
    data: dict[str, Any] = {}
    if args.spec:
        try:
            raw = read_regular(
                Path(args.spec),
                ConfigError,
                max_bytes=16 * 1024 * 1024,
                what="a job spec",
                fix="Give a JSON file with JobSpec fields.",
            )
            data = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ConfigError(
                f"cannot read job spec {args.spec}: {exc}",
                fix="Give a JSON file with JobSpec fields.",
            ) from None
        for key in ("template_hash", "seeds_format"):
            data.pop(key, None)
    models = dict(data.get("models") or {})
    for item in args.model:
        step, sep, model = item.partition("=")
        if not sep or not step or not model:
            raise ConfigError(
                f"--model {item!r} is not STEP=MODEL", fix="Write e.g. --model answer=premium."
            )
        models[step] = model
    flags = {
        "template": args.template,
        "seeds": args.seeds,
        "records": args.records,
        "budget_usd": args.budget,
        "budget_tokens": args.budget_tokens,
        "backend": args.backend,
        "tier": args.tier,
        "sampling": args.sampling,
        "sampling_seed": args.seed,
        "concurrency": args.concurrency,
        "workers": getattr(args, "workers", None),
        "max_tokens": args.max_tokens,
        "name": args.name,
        "inference_mode": getattr(args, "mode", None),
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    data["models"] = models
    if args.rate_limit:
        data["rate_limits"] = {
            **dict(data.get("rate_limits") or {}),
            **parse_rate_limits("; ".join(args.rate_limit), "--rate-limit"),
        }
    data.setdefault("seeds", "sample:poetry")
    if not data.get("template"):
        raise ConfigError("no template given", fix="Pass --template NAME[@VERSION] or --spec.")
    return JobSpec.from_dict(data)
