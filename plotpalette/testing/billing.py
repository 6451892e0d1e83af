"""What the emulated provider would bill, lost replies included (a test double).

A real provider bills a call it ran even when the reply never reaches the client (a
reset connection, a truncated body, a read timeout). :class:`BillingMeter` attaches to
a :class:`~plotpalette.testing.BedrockEmulator` and adds up, at the price table's
rates, every call the emulator ran — answered or lost — so a test can check the job's
hard budget against the *provider's* bill, not only against the job's own ledger.

Lost replies come from the failure kinds ``reset``, ``malformed`` and ``read_timeout``.

>>> with BedrockEmulator(failure_rate=0.3, failure_kinds=("reset", "malformed")) as emu:
...     meter = BillingMeter.attach(emu)                     # doctest: +SKIP
...     ...                                                  # run a job against emu
...     meter.billed_usd, meter.lost_calls                   # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any

from ..llm.base import Usage
from ..llm.pricing import PriceTable

__all__ = ["BillingMeter"]


class BillingMeter:
    """Dollars (and calls) the emulator billed; see the module docstring."""

    def __init__(self, prices: PriceTable | None = None) -> None:
        self.prices = prices or PriceTable.load()
        self._lock = threading.Lock()
        self.billed_usd = 0.0
        self.lost_usd = 0.0
        self.calls = 0
        self.lost_calls = 0

    @classmethod
    def attach(cls, emulator: Any, prices: PriceTable | None = None) -> BillingMeter:
        meter = cls(prices)
        emulator.on_billed = meter.bill
        return meter

    def bill(self, model: str, reply: Any, lost: bool) -> None:
        usd = self.prices.cost(model, Usage(reply.input_tokens, reply.output_tokens))
        with self._lock:
            self.billed_usd += usd
            self.calls += 1
            if lost:
                self.lost_usd += usd
                self.lost_calls += 1

    def report(self) -> dict[str, float | int]:
        with self._lock:
            return {
                "billed_usd": self.billed_usd,
                "lost_usd": self.lost_usd,
                "calls": self.calls,
                "lost_calls": self.lost_calls,
            }
