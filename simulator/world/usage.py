"""When and how far one vehicle is driven: a day-by-day plan of trips, in epoch milliseconds UTC.

Events of one vehicle never overlap and are strictly ordered in time; nothing is planned before
``start_ms`` or so late that its report would be published after ``now_ms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from simulator.scenario.profiles import Profile

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Parked report ("heartbeat") between 03:00 and 04:00 UTC; trips depart in the profile's hours.
HEARTBEAT_HOUR = 3
MIN_GAP_MS = 5 * 60_000
MIN_TRIP_KM = 0.3
# Mean trip speed grows with trip length: 18 + 9 ln(1 + km) km/h, spread by a lognormal. Assumption.
TRIP_SPEED_BASE_KMH = 18.0
TRIP_SPEED_SLOPE_KMH = 9.0
TRIP_SPEED_SIGMA = 0.2
TRIP_SPEED_RANGE_KMH = (12.0, 120.0)


@dataclass(frozen=True, slots=True)
class Trip:
    start_ms: int
    end_ms: int
    distance_m: int
    mean_speed_kmh: float


@dataclass(frozen=True, slots=True)
class Day:
    """One calendar day (UTC) of a vehicle: an optional parked report, then its trips."""

    day: date
    heartbeat_ms: int | None
    trips: tuple[Trip, ...]


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware UTC")
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def from_ms(ts_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)


def day_start_ms(day: date) -> int:
    """Epoch milliseconds of ``day``'s midnight UTC."""
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def plan_days(
    rng: np.random.Generator,
    usage: Profile,
    mean_daily_km: float,
    start_ms: int,
    now_ms: int,
    margin_ms: int,
    later: list[Trip] | None = None,
) -> list[Day]:
    """Days from ``start_ms`` to ``now_ms``; an event is kept only if it ends by
    ``now_ms - margin_ms`` (room for the report's publishing delay). The trips of those days
    that end later are appended to ``later`` (when given): they are driven after the period."""
    last_ms = now_ms - margin_ms
    cursor = 0  # end of the vehicle's previous event; events before start_ms are dropped
    days: list[Day] = []
    day = from_ms(start_ms).date()
    while (midnight := to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))) <= last_ms:
        proposed = midnight + HEARTBEAT_HOUR * HOUR_MS + int(rng.integers(0, HOUR_MS))
        heartbeat = max(proposed, cursor + 60_000)
        kept_heartbeat = heartbeat if start_ms <= heartbeat <= last_ms else None
        cursor = heartbeat
        trips: list[Trip] = []
        for km, proposed_start in _day_trips(rng, usage, mean_daily_km, day, midnight):
            speed = _trip_speed(rng, km)
            begin = max(proposed_start, cursor + MIN_GAP_MS)
            end = begin + round(km / speed * HOUR_MS)
            cursor = end
            if begin >= start_ms and end <= last_ms:
                trips.append(Trip(begin, end, round(km * 1000), round(speed, 2)))
            elif begin >= start_ms and later is not None:
                later.append(Trip(begin, end, round(km * 1000), round(speed, 2)))
        days.append(Day(day, kept_heartbeat, tuple(trips)))
        day += timedelta(days=1)
    return days


def plan_whole_days(
    rng: np.random.Generator,
    usage: Profile,
    mean_daily_km: float,
    first_day: date,
    count: int,
    cursor_ms: int = 0,
) -> list[Day]:
    """``count`` whole days from ``first_day``, every trip kept and no parked report: the days
    after the published period, which nothing is published about. Trips follow the same
    process as :func:`plan_days` (day distance, trips, departures, speeds); ``cursor_ms`` is
    the end of the vehicle's last event before ``first_day``."""
    cursor = cursor_ms
    days: list[Day] = []
    for i in range(count):
        day = first_day + timedelta(days=i)
        midnight = day_start_ms(day)
        trips: list[Trip] = []
        for km, proposed_start in _day_trips(rng, usage, mean_daily_km, day, midnight):
            speed = _trip_speed(rng, km)
            begin = max(proposed_start, cursor + MIN_GAP_MS)
            end = begin + round(km / speed * HOUR_MS)
            cursor = end
            trips.append(Trip(begin, end, round(km * 1000), round(speed, 2)))
        days.append(Day(day, None, tuple(trips)))
    return days


def _day_trips(
    rng: np.random.Generator, usage: Profile, mean_daily_km: float, day: date, midnight: int
) -> list[tuple[float, int]]:
    """(distance km, proposed departure ms) of the day's trips, in departure order."""
    p_zero = usage.zero_day_probability(day)
    factor = usage.day_factor(day)
    if rng.random() < p_zero:
        return []
    sigma = usage.day_sigma
    day_km = mean_daily_km * factor / (1.0 - p_zero) * rng.lognormal(-(sigma**2) / 2, sigma)
    day_km = min(float(day_km), usage.max_day_km)
    count = min(1 + int(rng.poisson(usage.extra_trips_mean)), usage.max_trips)
    shares = rng.dirichlet(np.full(count, 2.0))
    lo, hi = usage.departure_hours
    departures = np.sort(rng.integers(lo * HOUR_MS, hi * HOUR_MS, size=count))
    return [
        (max(MIN_TRIP_KM, float(share) * day_km), midnight + int(dep))
        for share, dep in zip(shares, departures, strict=True)
    ]


def _trip_speed(rng: np.random.Generator, km: float) -> float:
    base = TRIP_SPEED_BASE_KMH + TRIP_SPEED_SLOPE_KMH * math.log1p(km)
    spread = rng.lognormal(0.0, TRIP_SPEED_SIGMA)
    return float(np.clip(base * spread, *TRIP_SPEED_RANGE_KMH))
