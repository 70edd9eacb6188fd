"""What a vehicle is truly worth, and so its owner's equity (pure).

The catalog's depreciation curve (``reference/data/depreciation.toml``) gives the share of its
list price a car of its body and powertrain keeps at an age and odometer. A vehicle's list price
as built is the model's base MSRP times its trim and options (``options_factor``, lognormal with
mean 1, ``value.options_sigma``): the registry knows it, as a manufacturer knows what it built.
The true value departs from the curve by two more factors, both lognormal with mean 1 and
unknown to the registry: the vehicle's own (condition, colour; ``value.vehicle_sigma``, drawn
once per vehicle) and the market's (``value.market_sigma``, drawn once per run, the same for
the whole fleet)::

    list_price_usd = msrp_usd * options_factor
    value_usd = list_price_usd * share(body, powertrain, age_years, odometer_km)
                * vehicle_factor * market_factor

``age_years`` is days since delivery / 365.25 and ``odometer_km`` the true odometer. Equity is
the value minus the finance payoff (:meth:`~simulator.world.owners.FinanceContract.balance_usd`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from reference.catalog import Catalog
from simulator.world.fleet import Vehicle
from simulator.world.owners import FinanceContract

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class ValueTruth:
    """A vehicle's true value and equity on ``on``."""

    on: date
    odometer_m: int
    msrp_usd: float
    options_factor: float
    age_years: float
    curve_share: float
    vehicle_factor: float
    market_factor: float
    payoff_usd: float

    @property
    def list_price_usd(self) -> float:
        return round(self.msrp_usd * self.options_factor, 2)

    @property
    def curve_value_usd(self) -> float:
        return round(self.list_price_usd * self.curve_share, 2)

    @property
    def value_usd(self) -> float:
        factors = self.curve_share * self.vehicle_factor * self.market_factor
        return round(self.list_price_usd * factors, 2)

    @property
    def equity_usd(self) -> float:
        return round(self.value_usd - self.payoff_usd, 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "msrp_usd": self.msrp_usd,
            "options_factor": round(self.options_factor, 6),
            "list_price_usd": self.list_price_usd,
            "age_years": round(self.age_years, 4),
            "curve_share": round(self.curve_share, 6),
            "curve_value_usd": self.curve_value_usd,
            "vehicle_factor": round(self.vehicle_factor, 6),
            "market_factor": round(self.market_factor, 6),
            "value_usd": self.value_usd,
            "payoff_usd": self.payoff_usd,
            "equity_usd": self.equity_usd,
        }


def true_value(
    vehicle: Vehicle,
    catalog: Catalog,
    finance: FinanceContract,
    on: date,
    odometer_m: int,
    vehicle_factor: float,
    market_factor: float,
    options_factor: float = 1.0,
) -> ValueTruth:
    age_years = max(0.0, (on - vehicle.delivery_date).days / DAYS_PER_YEAR)
    share = float(
        catalog.depreciation.value_share(
            vehicle.spec.body, vehicle.powertrain, age_years, odometer_m / 1000.0
        )
    )
    return ValueTruth(
        on=on,
        odometer_m=odometer_m,
        msrp_usd=vehicle.spec.msrp_usd,
        options_factor=options_factor,
        age_years=age_years,
        curve_share=share,
        vehicle_factor=vehicle_factor,
        market_factor=market_factor,
        payoff_usd=finance.balance_usd(on),
    )
