"""Next scheduled service, and whether a wear item falls due.

A service falls due at the first of ``interval.months`` calendar months and ``interval.km`` after
the last service (or after delivery, with the delivery odometer, when there was none). It is
*overdue* once that point is reached, and *due soon* when the P50 due date is within
``due_soon_days`` or the odometer within ``due_soon_km`` of it. The defaults (30 days, 1,500 km)
follow the first stage of common maker reminders (Ford's maintenance minder warns about 30 days
ahead); both are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from processors.signals.dates import add_months, days_between, midnight_utc
from processors.signals.estimate import UsageEstimate
from processors.signals.history import OdometerHistory, passed_instants
from processors.signals.limits import Binding, earlier_of


@dataclass(slots=True, init=False)
class ServiceInterval:
    """A maintenance schedule: every ``months`` and, if set, every ``km``, whichever first."""

    months: int
    km: float | None = None

    def __init__(
        self,
        months: int,
        km: float | None = None,
    ) -> None:
        self.months = months
        self.km = km


@dataclass(slots=True, init=False)
class ServiceDue:
    """The next service: its bounds, P10/P50/P90 due instants and flags."""

    due_date: datetime  # the time bound, midnight UTC
    due_odometer_km: float | None
    p10: datetime
    p50: datetime
    p90: datetime
    binding: Binding
    days_remaining: float  # as_of to P50, 0 when overdue
    km_remaining: float | None  # signed: negative = overdue by that distance
    due_soon: bool
    overdue: bool

    def __init__(
        self,
        due_date: datetime,
        due_odometer_km: float | None,
        p10: datetime,
        p50: datetime,
        p90: datetime,
        binding: Binding,
        days_remaining: float,
        km_remaining: float | None,
        due_soon: bool,
        overdue: bool,
    ) -> None:
        self.due_date = due_date
        self.due_odometer_km = due_odometer_km
        self.p10 = p10
        self.p50 = p50
        self.p90 = p90
        self.binding = binding
        self.days_remaining = days_remaining
        self.km_remaining = km_remaining
        self.due_soon = due_soon
        self.overdue = overdue


def next_service(
    since: date,
    since_odometer_km: float,
    interval: ServiceInterval,
    odometer_km: float,
    odometer_at: datetime,
    usage: UsageEstimate,
    as_of: datetime,
    *,
    due_soon_days: float = 30.0,
    due_soon_km: float = 1500.0,
    history: OdometerHistory | None = None,
) -> ServiceDue:
    """Forecast of the next service after the one on ``since`` (or delivery); an overdue one
    is due from when ``history`` places the passing of its distance (if that came first)."""
    due_date = midnight_utc(add_months(since, interval.months))
    due_km = None if interval.km is None else since_odometer_km + interval.km
    left = None if due_km is None else due_km - odometer_km
    passed = None
    if history is not None and due_km is not None and due_km <= odometer_km:
        passed = passed_instants(history, due_km)
    limit = earlier_of(due_date, left, odometer_at, as_of, usage, passed)
    days_left = 0.0 if limit.reached else max(days_between(as_of, limit.p50), 0.0)
    soon = days_left <= due_soon_days or (left is not None and left <= due_soon_km)
    return ServiceDue(
        due_date=due_date,
        due_odometer_km=due_km,
        p10=limit.p10,
        p50=limit.p50,
        p90=limit.p90,
        binding=limit.binding,
        days_remaining=days_left,
        km_remaining=left,
        due_soon=soon and not limit.reached,
        overdue=limit.reached,
    )


@dataclass(frozen=True, slots=True)
class WearLife:
    """A wear item's life: distance and/or calendar months, whichever first."""

    km: float | None = None
    months: int | None = None


@dataclass(frozen=True, slots=True)
class WearDue:
    """Whether a wear item is due by a date/odometer, its due point and which limits make it due."""

    due: bool
    due_odometer_km: float | None
    due_date: date | None
    reasons: tuple[Literal["time", "distance"], ...]


def wear_item_due(
    life: WearLife,
    replaced: date,
    replaced_odometer_km: float,
    by_date: date,
    by_odometer_km: float,
) -> WearDue:
    """Whether an item replaced on ``replaced`` (or delivered then) is due by the given point."""
    if life.km is None and life.months is None:
        raise ValueError("a wear life needs a distance, a number of months or both")
    due_km = None if life.km is None else replaced_odometer_km + life.km
    due_date = None if life.months is None else add_months(replaced, life.months)
    reasons: list[Literal["time", "distance"]] = []
    if due_km is not None and by_odometer_km >= due_km:
        reasons.append("distance")
    if due_date is not None and by_date >= due_date:
        reasons.append("time")
    return WearDue(bool(reasons), due_km, due_date, tuple(reasons))
