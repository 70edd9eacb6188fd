"""The predictions of one vehicle at one instant, as typed values (what :mod:`.predict` returns).

Every figure is rounded as it is stored and shown: money to cents, distances to 0.1 km, rates to
0.01 km/day, dates to the UTC calendar day. Rounding makes a vehicle's view compare equal when
it is computed again from the same inputs, and keeps float noise out of the materiality rules.
:meth:`as_json` gives each view's JSON shape, the one stored in ``vehicle_state`` and in
``signals.payload`` (dates as ISO strings); the Avro records of ``vehicle.signals`` carry the same
field names (see :mod:`.codec`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

Json = dict[str, Any]


def cents(amount: float) -> float:
    """``round(amount, 2)``, exactly (:func:`decimal_round`)."""
    return decimal_round(float(amount), 100.0, 2)


def tenth(value: float) -> float:
    """``round(value, 1)``, exactly (:func:`decimal_round`)."""
    return decimal_round(float(value), 10.0, 1)


_EXACT_BELOW = 2.0**32
"""Below this, ``x * scale`` is within 2**-21 of its exact value (half an ulp)."""
_NEAR_TIE = 1e-6
"""Farther than this from a half, that error cannot change the nearest integer."""


def decimal_round(x: float, scale: float, digits: int) -> float:
    """``round(x, digits)`` (``scale`` = 10 ** ``digits``), the same float, sign of zero
    included, mostly without it: the built-in rounds through a decimal string (``dtoa`` and
    ``snprintf``), about a microsecond, and an evaluation rounds some sixty figures. When
    ``x * scale`` is small and not near a half, its nearest integer ``n`` is that of the exact
    product, and ``n / scale`` (one correctly rounded division) is the float nearest ``n`` /
    10 ** digits, which is what the built-in returns; otherwise the built-in decides
    (tests/unit/processors/signals/test_signals_rounding.py compares the two)."""
    y = x * scale
    if -_EXACT_BELOW < y < _EXACT_BELOW:
        whole = math.floor(y)
        part = y - whole  # exact
        if abs(part - 0.5) > _NEAR_TIE:
            rounded = (whole + 1.0 if part > 0.5 else whole) / scale
            return rounded if rounded != 0.0 else math.copysign(0.0, x)
    return round(x, digits)


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


@dataclass(slots=True, init=False)
class UsageView:
    odometer_m: int
    km_per_day: float
    km_per_day_sd: float
    """Standard deviation of the mean rate (its uncertainty, not the day-to-day spread)."""
    daily_sd_km: float
    history_days: float
    recent_days: int

    def __init__(
        self,
        odometer_m: int,
        km_per_day: float,
        km_per_day_sd: float,
        daily_sd_km: float,
        history_days: float,
        recent_days: int,
    ) -> None:
        self.odometer_m = odometer_m
        self.km_per_day = km_per_day
        self.km_per_day_sd = km_per_day_sd
        self.daily_sd_km = daily_sd_km
        self.history_days = history_days
        self.recent_days = recent_days

    def as_json(self) -> Json:
        return {
            "odometer_m": self.odometer_m,
            "km_per_day": self.km_per_day,
            "km_per_day_sd": self.km_per_day_sd,
            "daily_sd_km": self.daily_sd_km,
            "history_days": self.history_days,
            "recent_days": self.recent_days,
        }


@dataclass(slots=True, init=False)
class WarrantyView:
    coverage: str
    expiry_p10: date
    expiry_p50: date
    expiry_p90: date
    binds: str
    days_remaining: int
    km_remaining: float
    expired: bool
    time_end: date
    limit_km: float

    def __init__(
        self,
        coverage: str,
        expiry_p10: date,
        expiry_p50: date,
        expiry_p90: date,
        binds: str,
        days_remaining: int,
        km_remaining: float,
        expired: bool,
        time_end: date,
        limit_km: float,
    ) -> None:
        self.coverage = coverage
        self.expiry_p10 = expiry_p10
        self.expiry_p50 = expiry_p50
        self.expiry_p90 = expiry_p90
        self.binds = binds
        self.days_remaining = days_remaining
        self.km_remaining = km_remaining
        self.expired = expired
        self.time_end = time_end
        self.limit_km = limit_km

    def as_json(self) -> Json:
        return {
            "coverage": self.coverage,
            "expiry_p10": self.expiry_p10.isoformat(),
            "expiry_p50": self.expiry_p50.isoformat(),
            "expiry_p90": self.expiry_p90.isoformat(),
            "binds": self.binds,
            "days_remaining": self.days_remaining,
            "km_remaining": self.km_remaining,
            "expired": self.expired,
            "time_end": self.time_end.isoformat(),
            "limit_km": self.limit_km,
        }


@dataclass(slots=True, init=False)
class BillLine:
    kind: str
    """``scheduled``, ``wear`` or ``repair``."""
    code: str | None
    """The wear item id or the DTC; None for the scheduled service."""
    description: str
    low: float
    expected: float
    high: float
    covered: bool
    """Paid by a warranty in force on the forecast date: the amounts are then 0."""
    coverage: str
    """The coverage that pays for the line when in force (``none``: the owner always pays)."""
    reason: str

    def __init__(
        self,
        kind: str,
        code: str | None,
        description: str,
        low: float,
        expected: float,
        high: float,
        covered: bool,
        coverage: str,
        reason: str,
    ) -> None:
        self.kind = kind
        self.code = code
        self.description = description
        self.low = low
        self.expected = expected
        self.high = high
        self.covered = covered
        self.coverage = coverage
        self.reason = reason

    def as_json(self) -> Json:
        return {
            "kind": self.kind,
            "code": self.code,
            "description": self.description,
            "low": self.low,
            "expected": self.expected,
            "high": self.high,
            "covered": self.covered,
            "coverage": self.coverage,
            "reason": self.reason,
        }


@dataclass(slots=True, init=False)
class Bill:
    currency: str
    low: float
    expected: float
    high: float
    lines: tuple[BillLine, ...]

    def __init__(
        self,
        currency: str,
        low: float,
        expected: float,
        high: float,
        lines: tuple[BillLine, ...],
    ) -> None:
        self.currency = currency
        self.low = low
        self.expected = expected
        self.high = high
        self.lines = lines


@dataclass(slots=True, init=False)
class ServiceView:
    due_p10: date
    due_p50: date
    due_p90: date
    due_date: date
    """The time bound: last service (or delivery) plus the interval's months."""
    due_odometer_m: int
    binds: str
    due_soon: bool
    overdue: bool
    days_remaining: int
    km_remaining: float
    """Signed: negative when overdue by distance."""
    forecast_odometer_m: int
    """Forecast odometer on the P50 due date (overdue: today); the bill is priced at the visit
    the owner will most likely make after it (:mod:`processors.signals.lateness`)."""
    bill: Bill

    def __init__(
        self,
        due_p10: date,
        due_p50: date,
        due_p90: date,
        due_date: date,
        due_odometer_m: int,
        binds: str,
        due_soon: bool,
        overdue: bool,
        days_remaining: int,
        km_remaining: float,
        forecast_odometer_m: int,
        bill: Bill,
    ) -> None:
        self.due_p10 = due_p10
        self.due_p50 = due_p50
        self.due_p90 = due_p90
        self.due_date = due_date
        self.due_odometer_m = due_odometer_m
        self.binds = binds
        self.due_soon = due_soon
        self.overdue = overdue
        self.days_remaining = days_remaining
        self.km_remaining = km_remaining
        self.forecast_odometer_m = forecast_odometer_m
        self.bill = bill

    def as_json(self) -> Json:
        return {
            "due_p10": self.due_p10.isoformat(),
            "due_p50": self.due_p50.isoformat(),
            "due_p90": self.due_p90.isoformat(),
            "due_date": self.due_date.isoformat(),
            "due_odometer_m": self.due_odometer_m,
            "binds": self.binds,
            "due_soon": self.due_soon,
            "overdue": self.overdue,
            "days_remaining": self.days_remaining,
            "km_remaining": self.km_remaining,
            "forecast_odometer_m": self.forecast_odometer_m,
            "currency": self.bill.currency,
            "bill_low": self.bill.low,
            "bill_expected": self.bill.expected,
            "bill_high": self.bill.high,
            "items": [line.as_json() for line in self.bill.lines],
        }


@dataclass(slots=True, init=False)
class EquityView:
    currency: str
    value_low: float
    value_expected: float
    value_high: float
    payoff: float
    equity_low: float
    equity_expected: float
    equity_high: float
    positive_from: date | None
    """First date the expected equity is forecast positive (the as-of date if it is now);
    None if never within the contract."""

    def __init__(
        self,
        currency: str,
        value_low: float,
        value_expected: float,
        value_high: float,
        payoff: float,
        equity_low: float,
        equity_expected: float,
        equity_high: float,
        positive_from: date | None,
    ) -> None:
        self.currency = currency
        self.value_low = value_low
        self.value_expected = value_expected
        self.value_high = value_high
        self.payoff = payoff
        self.equity_low = equity_low
        self.equity_expected = equity_expected
        self.equity_high = equity_high
        self.positive_from = positive_from

    def as_json(self) -> Json:
        return {
            "currency": self.currency,
            "value_low": self.value_low,
            "value_expected": self.value_expected,
            "value_high": self.value_high,
            "payoff": self.payoff,
            "equity_low": self.equity_low,
            "equity_expected": self.equity_expected,
            "equity_high": self.equity_high,
            "positive_from": _iso(self.positive_from),
        }


@dataclass(slots=True, init=False)
class FaultView:
    """A diagnostic code as the catalog describes it, priced in the vehicle's currency."""

    code: str
    description: str
    severity: str
    repair: str
    currency: str
    cost_low: float
    cost_expected: float
    cost_high: float
    coverage: str
    catalogued: bool

    def __init__(
        self,
        code: str,
        description: str,
        severity: str,
        repair: str,
        currency: str,
        cost_low: float,
        cost_expected: float,
        cost_high: float,
        coverage: str,
        catalogued: bool,
    ) -> None:
        self.code = code
        self.description = description
        self.severity = severity
        self.repair = repair
        self.currency = currency
        self.cost_low = cost_low
        self.cost_expected = cost_expected
        self.cost_high = cost_high
        self.coverage = coverage
        self.catalogued = catalogued

    def as_json(self) -> Json:
        return {
            "code": self.code,
            "description": self.description,
            "severity": self.severity,
            "repair": self.repair,
            "currency": self.currency,
            "cost_low": self.cost_low,
            "cost_expected": self.cost_expected,
            "cost_high": self.cost_high,
            "coverage": self.coverage,
        }


@dataclass(slots=True, init=False)
class Prediction:
    """Everything predicted for one vehicle at ``as_of_ms`` (its newest event time)."""

    as_of_ms: int
    usage: UsageView
    warranty: tuple[WarrantyView, ...]
    service: ServiceView
    equity: EquityView | None
    """None when the model is not in the catalog (no MSRP or body to depreciate)."""
    faults: tuple[FaultView, ...]
    recent_to_lifetime: float | None = None
    """The recent distance per day over the lifetime rate, where the lifetime spans a year or
    more before the recent days (else None): not published; the processor's metric of it shows
    when a whole fleet drives more or less than its own habit at once (a season; the forecasts
    carry each car's recent rate forward, docs/signals.md#other-kinds-of-fleet)."""

    def __init__(
        self,
        as_of_ms: int,
        usage: UsageView,
        warranty: tuple[WarrantyView, ...],
        service: ServiceView,
        equity: EquityView | None,
        faults: tuple[FaultView, ...],
        recent_to_lifetime: float | None = None,
    ) -> None:
        self.as_of_ms = as_of_ms
        self.usage = usage
        self.warranty = warranty
        self.service = service
        self.equity = equity
        self.faults = faults
        self.recent_to_lifetime = recent_to_lifetime
