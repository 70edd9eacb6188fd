"""The price level of a vehicle's dealer, learnt from the invoices of its past visits (pure).

The catalog prices a line at a typical dealer; each dealer charges its own parts prices and
labour rate. Every invoiced line that the catalog also prices (the scheduled service, a wear
item, the repair of a catalogued code) tells how this dealer's price compares with the catalog's:
``log(amount / catalog expected)``, the catalog figure in the vehicle's currency. Lines paid by a
warranty (amount 0) and lines the catalog does not know (``other``) say nothing.

The level is the geometric mean of those ratios, shrunk toward the catalog (level 1) by
:data:`PRIOR_LINES` pseudo-lines at the catalog's price, so a single odd invoice line moves it
little and a dealer's consistent pricing shows after a couple of visits::

    level = exp(sum(log ratio) / (lines + PRIOR_LINES))

Only visits at the vehicle's own dealer count: the predicted bill is that dealer's. The level is
kept per vehicle (two numbers in its memory), so it is exactly as durable and as reproducible
as the rest of the vehicle's state, whatever the order in which other vehicles are processed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference.catalog import Catalog
from schemas.services import ServiceItem, ServiceVisitRecord

PRIOR_LINES = 3.0
"""Pseudo-lines at the catalog's price: the weight of the catalog against a dealer's invoices."""
MIN_RATIO, MAX_RATIO = 0.2, 5.0
"""A line outside this ratio is a typo or a different job under the same name: ignored."""


@dataclass(frozen=True, slots=True)
class PriceLevel:
    """What a vehicle's invoices said so far: priced lines and the sum of their log ratios."""

    lines: int = 0
    log_sum: float = 0.0

    @property
    def factor(self) -> float:
        """The dealer's prices relative to the catalog's (1.0 before any priced line)."""
        return math.exp(self.log_sum / (self.lines + PRIOR_LINES))


def level_in_force(own: PriceLevel, dealer: PriceLevel | None) -> PriceLevel:
    """The level a vehicle's bill uses: its dealer's pool (:mod:`.dealerprices`) where that
    counts more lines than the vehicle's own invoices (the pool holds them too, once they are a
    week old), else its own."""
    return dealer if dealer is not None and dealer.lines > own.lines else own


def catalog_usd(item: ServiceItem, catalog: Catalog, powertrain: str) -> float | None:
    """The catalog's expected price (US dollars) of an invoiced line, if the catalog has it."""
    if item.kind == "scheduled":
        spec = catalog.service.get(powertrain)
        return None if spec is None else spec.price.expected
    if item.kind == "wear" and item.code is not None:
        wear = next((w for w in catalog.wear if w.item == item.code), None)
        return None if wear is None else wear.price.expected
    if item.kind == "repair" and item.code is not None:
        fault = catalog.fault(item.code)
        return None if fault is None else fault.cost.expected
    return None


def observe(
    level: PriceLevel,
    visit: ServiceVisitRecord,
    catalog: Catalog,
    powertrain: str,
    currency_per_usd: float,
) -> PriceLevel:
    """``level`` with the priced lines of ``visit`` added (``currency_per_usd``: the catalog's
    dollars in the visit's currency, price level of the market included)."""
    lines, log_sum = level.lines, level.log_sum
    for item in visit.items:
        usd = catalog_usd(item, catalog, powertrain)
        if usd is None or usd <= 0 or item.amount <= 0:
            continue
        ratio = item.amount / (usd * currency_per_usd)
        if MIN_RATIO <= ratio <= MAX_RATIO:
            lines += 1
            log_sum += math.log(ratio)
    return PriceLevel(lines, round(log_sum, 6))  # as stored: a replay reads what a run computed
