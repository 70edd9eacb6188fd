"""A vehicle's value and equity in its currency (pure).

Value: the vehicle's list price as built from the registry (else the model's base MSRP, US
dollars at the market's exchange rate) times the depreciation share range for the age (days
since delivery / 365.25) and the odometer, times the market's newest value index (what used cars
of the market fetch against the curves, imported by the operator: docs/registry.md; 1.0
without one). Equity: value minus the finance payoff
on the as-of date (:mod:`processors.signals.finance`; 0 for a cash purchase). A contract whose
term has ended is taken as settled, payoff 0: the registry does not say whether a balloon was
paid or refinanced, and a car handed back changes owner in the registry. The date the expected
equity turns positive is searched month by month to the end of the contract, the value following
the P50 odometer forecast; at the latest it is the end of the term.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from database.vehicle_facts import FinanceTerms, VehicleFacts
from processors.signals.dates import add_months
from processors.signals.finance import FinanceContract, equity_positive_date, payoff_on
from processors.signals.pricing import Pricing
from processors.signals.views import EquityView, cents
from reference.catalog import Catalog, ModelSpec

DAYS_PER_YEAR = 365.25
Floats = npt.NDArray[np.float64]
KmOn = Callable[[date], float]
"""The P50 odometer forecast (km) at the start of a day."""


def contract_of(terms: FinanceTerms) -> FinanceContract:
    kind = cast(Literal["loan", "pcp", "lease"], terms.kind)
    return FinanceContract(
        principal=terms.amount,
        apr=terms.apr_pct / 100.0,
        term_months=terms.term_months,
        start=terms.start,
        balloon=terms.balloon,
        kind=kind,
    )


def month_steps(contract: FinanceContract, from_date: date) -> list[date]:
    """The dates :func:`equity_positive_date` looks at: monthly from ``from_date`` to the end."""
    end = add_months(contract.start, contract.term_months)
    dates: list[date] = []
    while not dates or (dates[-1] < end and add_months(from_date, len(dates)) <= end):
        dates.append(add_months(from_date, len(dates)))
    if dates[-1] < end:
        dates.append(end)
    return dates


def values(
    vehicle: VehicleFacts,
    model: ModelSpec,
    catalog: Catalog,
    pricing: Pricing,
    days: list[date],
    km_on: KmOn,
) -> tuple[Floats, Floats, Floats]:
    """Value range (low, expected, high) on each day, along the odometer forecast."""
    delivered = vehicle.delivery_date
    age = np.array([max((d - delivered).days, 0) / DAYS_PER_YEAR for d in days])
    km = np.array([km_on(d) for d in days])
    low, mid, high = catalog.depreciation.value_share_range(model.body, model.powertrain, age, km)
    scale = (vehicle.list_price or model.msrp_usd * pricing.per_usd) * (vehicle.market_index or 1.0)
    return low * scale, mid * scale, high * scale


def value_on(
    vehicle: VehicleFacts,
    model: ModelSpec,
    catalog: Catalog,
    pricing: Pricing,
    day: date,
    km: float,
) -> tuple[float, float, float]:
    """:func:`values` of one day at ``km``, in scalar arithmetic (what every evaluation needs;
    numpy's per-call overhead on one element cost about ten times the math)."""
    age = max((day - vehicle.delivery_date).days, 0) / DAYS_PER_YEAR
    low, mid, high = catalog.depreciation.value_share_range_at(
        model.body, model.powertrain, age, km
    )
    scale = (vehicle.list_price or model.msrp_usd * pricing.per_usd) * (vehicle.market_index or 1.0)
    return low * scale, mid * scale, high * scale


def vehicle_equity(
    vehicle: VehicleFacts,
    model: ModelSpec,
    catalog: Catalog,
    pricing: Pricing,
    today: date,
    km_on: KmOn,
) -> EquityView:
    """Value, payoff and equity on ``today``, and when the expected equity turns positive."""
    low, mid, high = value_on(vehicle, model, catalog, pricing, today, km_on(today))
    finance = vehicle.finance
    contract = None if finance is None else contract_of(finance)
    end = None if contract is None else add_months(contract.start, contract.term_months)
    settled = contract is None or (end is not None and today >= end)
    payoff = 0.0 if settled or contract is None else payoff_on(contract, today)
    if mid - payoff > 0:  # what equity_positive_date finds first, without its path
        positive: date | None = today
    elif contract is None:
        positive = None
    else:
        steps = month_steps(contract, today)
        path = values(vehicle, model, catalog, pricing, steps, km_on)[1].tolist()
        found = equity_positive_date(
            contract, dict(zip(steps, path, strict=True)).__getitem__, today
        )
        positive = found if found is not None else end
    value = (cents(low), cents(mid), cents(high))
    owed = cents(payoff)
    return EquityView(
        currency=pricing.currency,
        value_low=value[0],
        value_expected=value[1],
        value_high=value[2],
        payoff=owed,
        equity_low=cents(value[0] - owed),
        equity_expected=cents(value[1] - owed),
        equity_high=cents(value[2] - owed),
        positive_from=positive,
    )
