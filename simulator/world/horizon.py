"""The hidden future: the same world lived on after the published period, never published (pure).

With ``scenario.horizon_days`` N > 0 every vehicle lives on until the end of the N-th day after
``now`` with the same owner, usage process, diagnostics, service cycle, garages and wear,
continuing the same random streams (its life stream: day plans, codes and service offsets; its
owner stream: a trade-in; its price stream: invoices). The published part draws first and never
waits on the future, so its bytes are the same with or without a horizon.

Nothing of the future is sent, so no samples are made: only the odometer, codes, services and a
trade-in. The trips of the period's last day that end after the period's cut (``now`` minus the
publishing margin) are driven first, then whole days, each planned just before it is lived, so
a longer horizon extends the same future. An owner who did not trade in during the period
waits an exponential time (``trade_in_per_year``) from ``now``: if it ends within the horizon,
they trade in on the next day, 10:00-16:00 UTC (probability
``1 - exp(-trade_in_per_year * N / 365.25)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from reference.catalog import WarrantySpec
from simulator.scenario.people import OwnersSection
from simulator.scenario.profiles import Profile
from simulator.world.diagnostics import repair_all, self_clear
from simulator.world.events import Event, TradeIn
from simulator.world.fleet import Vehicle
from simulator.world.owners import DAYS_PER_YEAR, TRADE_IN_HOURS, Owner
from simulator.world.service import service_ms
from simulator.world.timeline import Continuation
from simulator.world.usage import DAY_MS, HOUR_MS, Day, Trip, day_start_ms, plan_whole_days
from simulator.world.warranty import CoverageTruth, coverages


@dataclass(frozen=True, slots=True)
class Future:
    """What happens after ``now``: ``trajectory_m[i]`` is the true odometer at the end of day
    ``first_day + i`` (``first_day`` is the day after ``now``); ``now_day_odometer_m`` the one
    at the end of ``now``'s own day; ``events`` in time order; ``warranty`` each coverage's true
    end when it falls by the end of the horizon."""

    now_day_odometer_m: int
    first_day: date
    trajectory_m: tuple[int, ...]
    events: tuple[Event, ...]
    warranty: tuple[CoverageTruth, ...]
    trade_in_ms: int | None


def future_trade_in(
    rng: np.random.Generator, owner: Owner, owners: OwnersSection, now: datetime, days: int
) -> int | None:
    """When an owner who kept the vehicle through the period trades it in during the horizon."""
    rate = owners.trade_in_per_year
    if owner.trade_in_ms is not None or days <= 0 or rate <= 0:
        return None
    wait_days = float(rng.exponential(DAYS_PER_YEAR / rate))
    lo, hi = TRADE_IN_HOURS
    at_ms = int(rng.integers(lo * HOUR_MS, hi * HOUR_MS))
    if wait_days >= days:
        return None
    return day_start_ms(now.date() + timedelta(days=1 + math.floor(wait_days))) + at_ms


def live_on(
    rng: np.random.Generator,
    vehicle: Vehicle,
    profile: Profile,
    life: Continuation,
    last_days: Sequence[Day],
    leftover: Sequence[Trip],
    trade_in_ms: int | None,
    now: datetime,
    horizon_days: int,
) -> tuple[dict[date, int], list[Event]]:
    """Drive the period's leftover trips, then whole days until ``horizon_days`` after ``now``.

    ``last_days`` are the period's planned days (the last one is the cut day). Returns the true
    odometer at the end of each day from the cut day on, and the events, in time order.
    """
    vin = vehicle.vin
    state, codes, planner = life.state, life.codes, life.planner
    events: list[Event] = []
    ends: dict[date, int] = {}
    cut_day = last_days[-1].day
    last_end = [t.end_ms for d in last_days for t in d.trips[-1:]]
    cursor = max([*last_end, *(t.end_ms for t in leftover)], default=0)
    end_day = now.date() + timedelta(days=horizon_days)

    def live_day(day: date, trips: Sequence[Trip], *, whole_day: bool) -> None:
        ordinal, midnight = day.toordinal(), day_start_ms(day)
        if whole_day:
            events.extend(self_clear(state.active_dtcs, ordinal, vin, midnight, state.odometer_m))
            if not life.traded and planner.planned <= day:
                at = service_ms(day)
                events.extend(repair_all(state.active_dtcs, vin, at, state.odometer_m))
                active = state.active_dtcs
                repairs = codes.specs(sorted(c for c, until in active.items() if until is None))
                active.clear()
                events.append(planner.visit(rng, day, state.odometer_m, repairs))
        driven = [] if life.traded else [t for t in trips if _before(t, trade_in_ms)]
        if driven:
            km = sum(t.distance_m for t in driven) / 1000.0
            events.extend(
                codes.raise_codes(
                    rng, state.active_dtcs, km, ordinal, vin, driven[0].start_ms, state.odometer_m
                )
            )
        for trip in driven:
            state.odometer_m += trip.distance_m
        if trade_in_ms is not None and not life.traded and trade_in_ms < midnight + DAY_MS:
            events.append(TradeIn(vin, trade_in_ms, state.odometer_m, vehicle.dealer_id))
            life.traded = True
        if not life.traded:
            planner.observe(day, state.odometer_m)
        ends[day] = state.odometer_m

    live_day(cut_day, leftover, whole_day=False)
    for i in range(1, (end_day - cut_day).days + 1):
        (day,) = plan_whole_days(
            rng, profile, vehicle.mean_daily_km, cut_day + timedelta(days=i), 1, cursor
        )
        cursor = max([cursor, *(t.end_ms for t in day.trips)])
        live_day(day.day, day.trips, whole_day=True)
    events.sort(key=lambda e: e.ts_ms)
    return ends, events


def _before(trip: Trip, trade_in_ms: int | None) -> bool:
    return trade_in_ms is None or trip.start_ms < trade_in_ms


def future_of(
    vehicle: Vehicle,
    terms: WarrantySpec,
    first_day: date,
    trajectory_m: Sequence[int],
    ends: dict[date, int],
    events: Sequence[Event],
    now: datetime,
    horizon_days: int,
    trade_in_ms: int | None,
) -> Future:
    """The future's record: daily odometers from the day after ``now``, and the true end of
    every coverage over the period and the horizon together."""
    now_day = now.date()
    days = [now_day + timedelta(days=i) for i in range(1, horizon_days + 1)]
    cut_day = first_day + timedelta(days=len(trajectory_m) - 1)
    later = sorted(d for d in ends if d > cut_day)
    series = (*trajectory_m[:-1], ends[cut_day], *(ends[d] for d in later))
    return Future(
        now_day_odometer_m=ends[now_day],
        first_day=now_day + timedelta(days=1),
        trajectory_m=tuple(ends[d] for d in days),
        events=tuple(events),
        warranty=coverages(vehicle, terms, first_day, series),
        trade_in_ms=trade_in_ms,
    )
