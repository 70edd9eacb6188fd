"""The two references journeygate's forecasts are scored beside (pure).

- **naive**: the due-date method fleet tools use: today + remaining distance / the whole-history
  average distance per day (odometer growth since delivery over the days since delivery); a
  distance already passed, as long ago as that pace takes to drive what is past it.
- **oracle**: knows each vehicle's true usage parameters from the truth file and forecasts the
  expected distance of every future day (``mean_daily_km * weekday factor * month factor``,
  docs/simulator.md "Daily distance, for an oracle"), starting with the rest of the period's
  last day: the share of that day's expected distance whose trips are still to leave at ``now``
  (departures are uniform over the profile's ``departure_hours``); a distance already passed, on
  the day the expected distance back from ``now`` covers what is past it. Its remaining error is
  the day-to-day noise no forecaster can remove (the noise floor).

Both return days after ``today`` (the date of ``now``, the end of the published period) on which
a distance limit is reached (0: today, negative: a day before it), capped by a time limit when
one applies; ``inf`` when never within ten years (``-inf``: passed more than ten years ago).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from simulator.scoring.metrics import first_day_reaching

MAX_DAYS = 3653


def naive_days(remaining_km: float, lifetime_km_per_day: float) -> float:
    if lifetime_km_per_day <= 0 or not math.isfinite(lifetime_km_per_day):
        return math.inf if remaining_km > 0 else 0.0
    return remaining_km / lifetime_km_per_day


def lifetime_rate(
    odometer_km: float, delivery_odometer_km: float, today: date, delivery: date
) -> float:
    """The whole-history average distance per day (0 for a car delivered today)."""
    days = (today - delivery).days
    return max(odometer_km - delivery_odometer_km, 0.0) / days if days > 0 else 0.0


def oracle_daily_km(usage: Mapping[str, Any], today: date, days: int = MAX_DAYS) -> np.ndarray:
    """The expected distance of each day from ``today`` (index 0: the whole of ``today``)."""
    weekday = np.asarray(usage["weekday_factors"], dtype=np.float64)
    month = np.asarray(usage["month_factors"], dtype=np.float64)
    dates = np.datetime64(today, "D") + np.arange(days + 1)
    dow = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    months = dates.astype("datetime64[M]").astype(np.int64) % 12
    result: np.ndarray = float(usage["mean_daily_km"]) * weekday[dow] * month[months]
    return result


def departures_left(usage: Mapping[str, Any], now: datetime) -> float:
    """The share of ``now``'s day's trips that leave after ``now``: departures are uniform over
    ``[first, last)`` hours UTC (the profile's ``departure_hours``)."""
    first, last = (float(h) for h in usage["departure_hours"])
    now = now.astimezone(UTC)
    hour = now.hour + now.minute / 60.0 + (now.second + now.microsecond / 1e6) / 3600.0
    return min(max((last - hour) / (last - first), 0.0), 1.0)


class Oracle:
    """The oracle's days to a distance from ``now`` (see the module docstring): the expected
    distance of each day ahead of ``now`` and of each day behind it, ``now``'s own day split by
    :func:`departures_left`."""

    def __init__(self, usage: Mapping[str, Any], now: datetime, days: int = MAX_DAYS) -> None:
        self.usage, self.span = usage, days
        self.today = now.astimezone(UTC).date()
        self.left = departures_left(usage, now)
        ahead = oracle_daily_km(usage, self.today, days)
        ahead[0] *= self.left
        self.ahead: np.ndarray = np.cumsum(ahead)
        """Index ``i``: the expected distance from ``now`` to the end of day ``today + i``."""
        self._behind: np.ndarray | None = None

    def behind(self) -> np.ndarray:
        """Index ``i``: the expected distance from the start of day ``today - i`` to ``now``
        (computed when first asked: only a distance already passed needs it)."""
        if self._behind is None:
            first = self.today - timedelta(days=self.span)
            daily = oracle_daily_km(self.usage, first, self.span)[::-1].copy()
            daily[0] *= 1.0 - self.left
            self._behind = np.cumsum(daily)
        return self._behind

    def days(self, remaining_km: float) -> float:
        """Days after ``now``'s date on which the odometer is expected to reach ``remaining_km``
        more (negative: the day it passed ``-remaining_km`` less)."""
        if remaining_km >= 0:
            return first_day_reaching(self.ahead, remaining_km)
        return -first_day_reaching(self.behind(), -remaining_km)


def capped(days: float, today: date, time_limit: date | None) -> float:
    """``days`` after ``today``, or the time limit if that comes first."""
    if time_limit is None:
        return days
    return min(days, float((time_limit - today).days))
