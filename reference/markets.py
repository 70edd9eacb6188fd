"""Markets: the currency prices are shown in and how US figures translate to them.

A US price becomes a market price as ``usd * per_usd * price_level``: ``per_usd`` is the
exchange rate (units of the market's currency per US dollar), ``price_level`` how much dearer
(> 1) or cheaper (< 1) the same repair or part is there once converted.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.fields import ReferenceDataError, Table, check_version
from reference.money import Money, PriceRange, read_currency
from reference.terms import FILE_CURRENCY

VERSION = 1


@dataclass(frozen=True, slots=True)
class Market:
    code: str
    currency: str
    per_usd: float
    price_level: float
    source: str

    @property
    def factor(self) -> float:
        """A US-dollar price times this is the market's price in ``currency``."""
        return self.per_usd * self.price_level

    def convert(self, price: Money) -> Money:
        """A US-dollar amount in this market's currency and price level."""
        _check_usd(price.currency)
        return Money(price.amount * self.factor, self.currency)

    def convert_range(self, price: PriceRange) -> PriceRange:
        _check_usd(price.currency)
        return price.scaled(self.factor, self.currency)


def _check_usd(currency: str) -> None:
    if currency != FILE_CURRENCY:
        raise ValueError(f"market prices derive from {FILE_CURRENCY} amounts, got {currency}")


def parse_markets(top: Table) -> dict[str, Market]:
    check_version(top, VERSION)
    read_currency(top, "base_currency")
    out: dict[str, Market] = {}
    for t in top.tables("markets", "code"):
        market = Market(
            code=t.text("code", pattern=r"[A-Z]{2}"),
            currency=t.text("currency", pattern=r"[A-Z]{3}"),
            per_usd=t.number("per_usd", positive=True),
            price_level=t.number("price_level", positive=True),
            source=t.text("source"),
        )
        if market.currency == FILE_CURRENCY and market.per_usd != 1.0:
            t.fail("per_usd", f"must be 1 for a market priced in {FILE_CURRENCY}")
        t.close()
        if market.code in out:
            raise ReferenceDataError(t.entry, "code", "listed twice")
        out[market.code] = market
    if "US" not in out:
        top.fail("markets", "needs the US market (the files' figures are US figures)")
    top.close()
    return out
