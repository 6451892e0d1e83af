"""Model prices as versioned data, and cost computed from the usage a model reports.

The bundled table (``prices.json``) holds one entry per model id or inference-profile
id (optionally per Region), in USD per million tokens, each with its ``source`` and
``as_of`` date. A row's ``profiles`` names the geo inference-profile prefixes
(``us.``, ``eu.``, ``apac.``) billed at its price, so ``us.amazon.nova-lite-v1:0``
resolves to the Nova Lite row; other profile ids (``global.``, or Claude 4.5 geo
profiles, which cost more) need rows of their own. A model that is not in the table is
an error (:class:`PricingError`) unless the user supplies a price: we never borrow
another model's price, and never guess a missing rate (batch, cache read/write) from
another rate. A table loaded for a Region (``PriceTable.load(region=...)``) prices
every call in that Region unless a call names another.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import PricingError
from .base import Usage

__all__ = ["Price", "PriceTable"]

PER = 1_000_000  # prices are per million tokens
RATE_FIELDS = ("input", "output", "cache_read", "cache_write", "batch_input", "batch_output")
# Geo inference-profile prefixes a row may cover (``global.`` is priced on its own rows).
GEO_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.")


@dataclass(frozen=True)
class Price:
    """One model's rates in USD per million tokens (``None``: the model has no such rate)."""

    model: str
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    region: str = "*"
    source: str = ""
    as_of: str = ""
    profiles: tuple[str, ...] = ()  # geo profile prefixes billed at this price

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["profiles"] = list(self.profiles)
        return data


def _rate(entry: Mapping[str, Any], name: str, where: str, required: bool) -> float | None:
    value = entry.get(name)
    if value is None:
        if required:
            raise PricingError(
                f"{where}: missing {name!r} price", fix=f"Give {name!r} in USD per million tokens."
            )
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise PricingError(
            f"{where}: {name!r} must be a non-negative number, got {value!r}",
            fix=f"Give {name!r} in USD per million tokens, e.g. 0.25.",
        )
    return float(value)


def _price_from_entry(
    entry: Mapping[str, Any], where: str, *, default_source: str, default_as_of: str
) -> Price:
    if not isinstance(entry, Mapping):
        raise PricingError(
            f"{where}: a price entry must be a mapping",
            fix="Use {model: ID, input: X, output: Y} (USD per 1M tokens).",
        )
    unknown = set(entry) - {"model", "region", "source", "as_of", "profiles", *RATE_FIELDS}
    if unknown:
        raise PricingError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}",
            fix=f"Valid fields: model, region, source, as_of, profiles, {', '.join(RATE_FIELDS)}.",
        )
    profiles = entry.get("profiles") or ()
    if not isinstance(profiles, (list, tuple)) or not all(
        isinstance(p, str) and p in GEO_PREFIXES for p in profiles
    ):
        raise PricingError(
            f"{where}: 'profiles' must list geo prefixes, got {profiles!r}",
            fix=f"Use some of {', '.join(GEO_PREFIXES)}.",
        )
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        raise PricingError(f"{where}: missing 'model'", fix="Name the model or profile id.")
    rates = {
        name: _rate(entry, name, f"{where} ({model})", name in ("input", "output"))
        for name in RATE_FIELDS
    }
    return Price(
        model=model,
        region=str(entry.get("region") or "*"),
        source=str(entry.get("source") or default_source),
        as_of=str(entry.get("as_of") or default_as_of),
        profiles=tuple(profiles),
        **rates,  # type: ignore[arg-type]
    )


def _read_overrides(
    overrides: str | Path | Mapping[str, Any],
) -> tuple[list[Mapping[str, Any]], str]:
    """Entries from a JSON/YAML file or a dict, plus a label for ``source``."""
    if isinstance(overrides, Mapping):
        data: Any = overrides
        label = "user override (dict)"
    else:
        path = Path(overrides).expanduser()
        if not path.is_file():
            raise PricingError(
                f"price override file {path} not found",
                fix="Fix settings.price_overrides or create the file.",
            )
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as exc:
            raise PricingError(
                f"price override file {path} cannot be parsed: {exc}",
                fix="Write it as JSON or YAML (see the models and costs page).",
            ) from None
        label = f"user override ({path})"
    if isinstance(data, Mapping) and "models" in data:
        entries = data["models"]
        if not isinstance(entries, list):
            raise PricingError("price overrides: 'models' must be a list of entries")
        return list(entries), label
    if isinstance(data, Mapping):  # shorthand {model_id: {input: .., output: ..}}
        out: list[Mapping[str, Any]] = []
        for model, rates in data.items():
            if not isinstance(rates, Mapping):
                raise PricingError(
                    f"price overrides: {model!r} must map to its rates",
                    fix="Use {MODEL_ID: {input: X, output: Y}}.",
                )
            out.append({"model": str(model), **rates})
        return out, label
    raise PricingError(
        "price overrides must be a mapping",
        fix="Use {MODEL_ID: {input: X, output: Y}} or {models: [...]}.",
    )


class PriceTable:
    """Prices by model (and Region); build with :meth:`load`."""

    def __init__(
        self, prices: list[Price], *, version: str, as_of: str, region: str | None = None
    ) -> None:
        self._prices: dict[tuple[str, str], Price] = {}
        for p in prices:
            self._prices[(p.model, p.region)] = p
        self.version = version
        self.as_of = as_of
        self.region = region  # the Region calls are priced in unless a call names one

    @classmethod
    def load(
        cls, overrides: str | Path | Mapping[str, Any] | None = None, *, region: str | None = None
    ) -> PriceTable:
        """The bundled table, with user prices (file path or dict) taking precedence,
        pricing calls in ``region`` (Region-specific rows first).

        With overrides, ``version`` gains a ``+user.<hash>`` suffix so a job records
        exactly which prices it was charged with.
        """
        raw = json.loads(resources.files(__package__).joinpath("prices.json").read_text("utf-8"))
        prices = [
            _price_from_entry(
                e, f"prices.json entry {i}", default_source="bundled", default_as_of=raw["as_of"]
            )
            for i, e in enumerate(raw["models"])
        ]
        version = str(raw["version"])
        if overrides is not None:
            entries, label = _read_overrides(overrides)
            prices += [
                _price_from_entry(
                    e, f"price override {i}", default_source=label, default_as_of="user supplied"
                )
                for i, e in enumerate(entries)
            ]
            digest = hashlib.sha256(
                json.dumps(entries, sort_keys=True, default=str).encode()
            ).hexdigest()[:8]
            version = f"{version}+user.{digest}"
        return cls(prices, version=version, as_of=str(raw["as_of"]), region=region)

    def models(self) -> list[Price]:
        """Every priced model, sorted by id then Region."""
        return sorted(self._prices.values(), key=lambda p: (p.model, p.region))

    def price(self, model_id: str, region: str | None = None) -> Price:
        """The price of exactly this model in ``region`` (default: the table's Region;
        a Region-specific entry first).

        A geo profile id (``us.``...) takes its base model's row when that row lists the
        prefix in ``profiles``. ``local/...`` models cost 0. Raises
        :class:`PricingError` for anything else that has no entry — never another
        model's price.
        """
        where = region or self.region or "*"
        for key in ((model_id, where), (model_id, "*")):
            if key in self._prices:
                return self._prices[key]
        for prefix in GEO_PREFIXES:
            if model_id.startswith(prefix):
                base = model_id[len(prefix) :]
                for key in ((base, where), (base, "*")):
                    row = self._prices.get(key)
                    if row is not None and prefix in row.profiles:
                        return row
        if model_id.startswith("local/"):
            return self._prices[("local/*", "*")]
        in_region = f" in {where}" if where != "*" else ""
        raise PricingError(
            f"no price for model {model_id!r}{in_region} (price table {self.version})",
            fix="Add it to a price override file (settings.price_overrides), e.g. "
            f'{{"{model_id}": {{"input": 0.25, "output": 1.25}}}} in USD per 1M tokens.',
        )

    def cost(
        self, model_id: str, usage: Usage, *, batch: bool = False, region: str | None = None
    ) -> float:
        """USD for ``usage`` as reported by the model (on-demand or batch rates)."""
        p = self.price(model_id, region)
        in_rate, out_rate = (p.batch_input, p.batch_output) if batch else (p.input, p.output)
        if in_rate is None or out_rate is None:
            raise PricingError(
                f"model {model_id!r} has no batch price in table {self.version}",
                fix="Use on-demand calls for this model, or add batch_input and "
                "batch_output to a price override.",
            )
        total = usage.input_tokens * in_rate + usage.output_tokens * out_rate
        for tokens, rate, name in (
            (usage.cache_read_tokens, p.cache_read, "cache_read"),
            (usage.cache_write_tokens, p.cache_write, "cache_write"),
        ):
            if tokens:
                if rate is None:
                    raise PricingError(
                        f"model {model_id!r} reported {tokens} {name} tokens but table "
                        f"{self.version} has no {name} price for it",
                        fix=f"Add {name!r} for this model to a price override.",
                    )
                total += tokens * rate
        return total / PER

    def worst_case(
        self,
        model_id: str,
        max_input_tokens: int,
        max_output_tokens: int,
        *,
        batch: bool = False,
        region: str | None = None,
    ) -> float:
        """The most one call can cost: every input and output token at full rate."""
        return self.cost(
            model_id,
            Usage(max(0, max_input_tokens), max(0, max_output_tokens)),
            batch=batch,
            region=region,
        )
