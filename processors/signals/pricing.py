"""Catalog figures as a vehicle's amounts: market conversion, warranty cover, codes (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from database.vehicle_facts import VehicleFacts
from processors.signals.dates import add_years
from processors.signals.views import FaultView, cents
from reference.catalog import Catalog, PriceRange, WarrantySpec


@dataclass(slots=True, init=False)
class Pricing:
    """How US-dollar catalog figures become the vehicle's amounts."""

    currency: str
    parts_factor: float
    """Repairs, parts and services: exchange rate times the market's price level."""
    per_usd: float
    """Vehicle values: the exchange rate alone."""
    dealer_factor: float = 1.0
    """The vehicle's dealer's prices relative to the catalog's (from its invoices)."""

    def __init__(
        self,
        currency: str,
        parts_factor: float,
        per_usd: float,
        dealer_factor: float = 1.0,
    ) -> None:
        self.currency = currency
        self.parts_factor = parts_factor
        self.per_usd = per_usd
        self.dealer_factor = dealer_factor

    def price(self, usd: PriceRange) -> PriceRange:
        """``usd`` in the vehicle's currency, rounded to cents (``Market.convert_range``)."""
        low, expected, high = self.amounts(usd)
        return PriceRange(low, expected, high, self.currency)

    def amounts(self, usd: PriceRange) -> tuple[float, float, float]:
        """:meth:`price`'s low, expected and high (a bill's lines take them as they are; a
        ``PriceRange``, a Python class, costs more to make than the arithmetic)."""
        factor = self.parts_factor * self.dealer_factor
        return cents(usd.low * factor), cents(usd.expected * factor), cents(usd.high * factor)


def pricing_for(vehicle: VehicleFacts, catalog: Catalog, dealer_factor: float = 1.0) -> Pricing:
    """The vehicle's market (the US when the catalog does not know it), at its dealer's price
    level (``dealer_factor``, 1.0: the catalog's)."""
    market = catalog.markets.get(vehicle.market) or catalog.markets["US"]
    return Pricing(market.currency, market.factor, market.per_usd, dealer_factor)


def in_force(terms: WarrantySpec, coverage: str, delivered: date, day: date, odo_km: float) -> bool:
    """Whether ``coverage`` still pays on ``day`` at ``odo_km`` (``none`` never does)."""
    spec = terms.coverage(coverage)
    if spec is None:
        return False
    return day < add_years(delivered, spec.years) and odo_km < spec.limit_km


def fault_view(code: str, catalog: Catalog, pricing: Pricing) -> FaultView:
    """A code as the catalog describes it; an uncatalogued code with zero cost."""
    fault = catalog.fault(code)
    if fault is None:
        return FaultView(
            code,
            f"diagnostic code {code} (not in the reference catalog)",
            "unknown",
            "diagnosis",
            pricing.currency,
            0.0,
            0.0,
            0.0,
            "none",
            catalogued=False,
        )
    cost = pricing.price(fault.cost)
    return FaultView(
        code,
        fault.description,
        fault.severity,
        fault.repair,
        pricing.currency,
        cost.low,
        cost.expected,
        cost.high,
        fault.coverage,
        catalogued=True,
    )
