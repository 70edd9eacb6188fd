"""The references journeygate's forecasts are scored beside (pure).

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
- **ideal**: the oracle's forecast with one thing unknown, each car's own mean daily distance,
  which it estimates as well as the world lets one (:func:`ideal_mean_daily_km`): from the car's
  whole days in the period, each read through the world's weekday and month factors and weighed
  by how much a day of its kind varies, and from its lifetime average, weighed by how far the
  world lets a car's history stray from its present habits. Only a reader of the simulator's
  own model could do this well; its error above the oracle's is what sixty days (or however many
  are published) leave unknown of a car's pace, whatever the forecaster.

The three return days after ``today`` (the date of ``now``, the end of the published period) on
which a distance limit is reached (0: today, negative: a day before it), capped by a time limit
when one applies; ``inf`` when never within ten years (``-inf``: passed more than ten years ago).
All are whole days, as the true dates are: a forecast's instant is the day it falls on
(:func:`day_of`), so that every method's error is counted alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

from simulator.scoring.metrics import first_day_reaching
from simulator.world.fleet import HISTORY_SIGMA

MAX_DAYS = 3653


def day_of(days_after_midnight: float) -> float:
    """The day (0: today) an instant ``days_after_midnight`` days after today's midnight UTC
    falls on, as the oracle and the truth count: a distance is reached on the day whose end
    finds it driven, so an instant in ``(i, i + 1]`` is day ``i``."""
    if not math.isfinite(days_after_midnight):
        return days_after_midnight
    return float(math.ceil(days_after_midnight) - 1)


def day_fraction(now: datetime) -> float:
    """The share of ``now``'s UTC day gone at ``now``."""
    now = now.astimezone(UTC)
    midnight = datetime.combine(now.date(), time(), UTC)
    return (now - midnight) / timedelta(days=1)


class Naive:
    """The naive forecaster's days to a distance from ``now``, at the whole-history pace."""

    def __init__(self, lifetime_km_per_day: float, now: datetime) -> None:
        self.rate, self.gone = lifetime_km_per_day, day_fraction(now)

    def days(self, remaining_km: float) -> float:
        """The day the pace, from ``now``, drives ``remaining_km`` (back from ``now`` when
        negative: as long ago as the pace takes to drive what is past)."""
        if self.rate <= 0 or not math.isfinite(self.rate):
            return math.inf if remaining_km > 0 else 0.0
        day = day_of(self.gone + remaining_km / self.rate)
        return max(day, 0.0) if remaining_km >= 0 else day


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


def ideal_mean_daily_km(
    usage: Mapping[str, Any], trajectory: Mapping[str, Any] | None, today: date, lifetime_km: float
) -> float:
    """The best linear estimate of a car's mean daily distance from what the period shows and
    the world's model (docs/simulator.md, "Daily distance, for an oracle").

    Each whole day ``d`` of the period (its first and ``today`` are cut) drove ``km(d)``, whose
    mean is ``m f(d)`` and whose variance is ``m² f(d)² v(d)`` with ``v(d) = exp(σ²) / (1 -
    p0(d)) - 1``; ``km(d) / f(d)`` is weighed by ``1 / v(d)``. The lifetime average
    ``lifetime_km`` (its starting odometer over its age) is ``m`` times a lognormal history
    factor of mean 1 (``HISTORY_SIGMA``), weighed by ``1 / (exp(HISTORY_SIGMA²) - 1)``. Both
    variances grow with ``m²``, so the weights need no ``m``. The spread of the cars' means
    around their profile's, a third source, is left out: it weighs under 5 % of these two.
    """
    weekday = np.asarray(usage["weekday_factors"], dtype=np.float64)
    month = np.asarray(usage["month_factors"], dtype=np.float64)
    sigma2 = float(usage["day_sigma"]) ** 2
    p0 = tuple(float(usage[f"zero_day_probability_{k}"]) for k in ("weekday", "weekend"))
    total = weight = 0.0
    if trajectory is not None:
        first = date.fromisoformat(str(trajectory["first_day"]))
        ends = np.asarray(trajectory["odometer_m"], dtype=np.float64) / 1000
        for i in range(1, ends.size):
            day = first + timedelta(days=i)
            if day >= today:
                break
            f = float(weekday[day.weekday()] * month[day.month - 1])
            idle = p0[1] if day.weekday() >= 5 else p0[0]
            if f <= 0 or idle >= 1:
                continue
            w = 1.0 / max(math.exp(sigma2) / (1.0 - idle) - 1.0, 1e-9)
            total += w * float(ends[i] - ends[i - 1]) / f
            weight += w
    if lifetime_km > 0:
        w = 1.0 / (math.exp(HISTORY_SIGMA**2) - 1.0)
        total += w * lifetime_km
        weight += w
    return total / weight if weight > 0 else 0.0


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
