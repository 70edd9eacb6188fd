"""Amounts of money that carry their currency."""

from __future__ import annotations

from dataclasses import dataclass

from reference.fields import Table
from reference.terms import FILE_CURRENCY


@dataclass(frozen=True, slots=True)
class Money:
    amount: float
    currency: str

    def __str__(self) -> str:
        return f"{self.amount:,.2f} {self.currency}"


@dataclass(frozen=True, slots=True)
class PriceRange:
    """A price's ``low <= expected <= high``, all in ``currency``."""

    low: float
    expected: float
    high: float
    currency: str = FILE_CURRENCY

    @property
    def expected_money(self) -> Money:
        return Money(self.expected, self.currency)

    def scaled(self, factor: float, currency: str | None = None) -> PriceRange:
        """Every bound times ``factor`` (e.g. an independent garage's discount)."""
        return PriceRange(
            self.low * factor, self.expected * factor, self.high * factor, currency or self.currency
        )


def read_range(t: Table, prefix: str) -> PriceRange:
    """Fields ``<prefix>_low_usd``, ``_expected_usd``, ``_high_usd``: >= 0 and in order."""
    names = [f"{prefix}_{bound}_usd" for bound in ("low", "expected", "high")]
    low, expected, high = (t.number(n, minimum=0) for n in names)
    if expected < low:
        t.fail(names[1], f"must be >= {names[0]} ({low:g})")
    if high < expected:
        t.fail(names[2], f"must be >= {names[1]} ({expected:g})")
    return PriceRange(low, expected, high)


def read_currency(top: Table, key: str = "currency") -> str:
    """The file's declared currency: the ``_usd`` fields are in US dollars."""
    return top.text(key, choices=(FILE_CURRENCY,))
