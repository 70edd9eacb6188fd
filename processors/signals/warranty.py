"""Warranty expiry per coverage: the earlier of start + years and the distance limit.

Each coverage (basic, powertrain, traction battery where the model has one) runs from the
delivery date for a number of calendar years (29 February + 1 year = 28 February) and, unless
unlimited, up to a distance. Coverage ends at midnight UTC of the anniversary. The distance date is
forecast from the usage estimate; see :mod:`processors.signals.limits` for how the two combine and
why an expiry is never forecast before ``as_of`` nor after start + years.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from processors.signals.dates import add_years, days_between, midnight_utc
from processors.signals.estimate import UsageEstimate
from processors.signals.history import OdometerHistory, passed_instants
from processors.signals.limits import Binding, earlier_of


@dataclass(slots=True, init=False)
class Coverage:
    """A warranty coverage's terms (from the catalog)."""

    name: str  # e.g. "basic", "powertrain", "traction_battery"
    years: int
    limit_km: float | None  # None: unlimited distance

    def __init__(
        self,
        name: str,
        years: int,
        limit_km: float | None,
    ) -> None:
        self.name = name
        self.years = years
        self.limit_km = limit_km


@dataclass(slots=True, init=False)
class CoverageExpiry:
    """When a coverage ends: P10/P50/P90 instants, the binding limit at P50, what is left."""

    coverage: str
    time_end: datetime  # start + years, midnight UTC
    limit_km: float | None
    p10: datetime
    p50: datetime
    p90: datetime
    binding: Binding
    days_remaining: float  # as_of to P50, 0 once expired
    km_remaining: float | None  # to the distance limit, 0 once past it; None when unlimited
    expired: bool

    def __init__(
        self,
        coverage: str,
        time_end: datetime,
        limit_km: float | None,
        p10: datetime,
        p50: datetime,
        p90: datetime,
        binding: Binding,
        days_remaining: float,
        km_remaining: float | None,
        expired: bool,
    ) -> None:
        self.coverage = coverage
        self.time_end = time_end
        self.limit_km = limit_km
        self.p10 = p10
        self.p50 = p50
        self.p90 = p90
        self.binding = binding
        self.days_remaining = days_remaining
        self.km_remaining = km_remaining
        self.expired = expired


def coverage_expiry(
    delivery: date,
    coverage: Coverage,
    odometer_km: float,
    odometer_at: datetime,
    usage: UsageEstimate,
    as_of: datetime,
    history: OdometerHistory | None = None,
) -> CoverageExpiry:
    """One coverage's expiry forecast (a distance limit already passed: when ``history`` places
    its passing)."""
    time_end = midnight_utc(add_years(delivery, coverage.years))
    left = None if coverage.limit_km is None else coverage.limit_km - odometer_km
    passed = None
    if history is not None and coverage.limit_km is not None and coverage.limit_km <= odometer_km:
        passed = passed_instants(history, coverage.limit_km)
    limit = earlier_of(time_end, left, odometer_at, as_of, usage, passed)
    return CoverageExpiry(
        coverage=coverage.name,
        time_end=time_end,
        limit_km=coverage.limit_km,
        p10=limit.p10,
        p50=limit.p50,
        p90=limit.p90,
        binding=limit.binding,
        days_remaining=0.0 if limit.reached else max(days_between(as_of, limit.p50), 0.0),
        km_remaining=None if left is None else max(left, 0.0),
        expired=limit.reached,
    )


def warranty_expiry(
    delivery: date,
    coverages: Sequence[Coverage],
    odometer_km: float,
    odometer_at: datetime,
    usage: UsageEstimate,
    as_of: datetime,
    history: OdometerHistory | None = None,
) -> tuple[CoverageExpiry, ...]:
    """Expiry forecast of every coverage, in the order given."""
    return tuple(
        coverage_expiry(delivery, c, odometer_km, odometer_at, usage, as_of, history)
        for c in coverages
    )
