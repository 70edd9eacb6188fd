"""When the first of a time limit and a distance limit is reached (warranty, service).

The time limit is a fixed instant and the distance limit a forecast. For a deterministic ``a`` and
a random ``T``, ``P(min(a, T) <= t)`` is 1 from ``a`` on and ``P(T <= t)`` before it, so each
quantile of the minimum is the minimum of ``a`` and that quantile of ``T``: P10/P50/P90 are taken
per quantile, never from a combined distribution.

The distance forecast starts at the odometer reading's time. A limit not yet seen crossed is never
forecast before ``as_of`` (the reading may be old; the crossing cannot be placed in the past
without a reading showing it). A limit already reached reports when it was reached: the time
limit itself, or when the odometer's history places the distance limit's passing
(:mod:`.history`; without one, the reading that showed the odometer past it), whichever first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from processors.signals.dates import plus_days
from processors.signals.estimate import UsageEstimate
from processors.signals.forecast import days_to_reach_one, spread_over

Binding = Literal["time", "distance"]


@dataclass(slots=True, init=False)
class LimitForecast:
    """P10/P50/P90 instants the first limit is reached; which one binds at P50."""

    p10: datetime
    p50: datetime
    p90: datetime
    binding: Binding
    reached: bool  # already reached at ``as_of`` (time passed or odometer seen past the limit)

    def __init__(
        self,
        p10: datetime,
        p50: datetime,
        p90: datetime,
        binding: Binding,
        reached: bool,
    ) -> None:
        self.p10 = p10
        self.p50 = p50
        self.p90 = p90
        self.binding = binding
        self.reached = reached


def earlier_of(
    time_limit: datetime,
    remaining_km: float | None,
    odometer_at: datetime,
    as_of: datetime,
    usage: UsageEstimate,
    passed: tuple[datetime, datetime, datetime] | None = None,
) -> LimitForecast:
    """First of ``time_limit`` and the odometer advancing ``remaining_km`` (None: no such limit).
    ``passed``: P10/P50/P90 of when the odometer passed the distance limit, once it has (else
    the reading at ``odometer_at`` stands for it)."""
    km_reached = remaining_km is not None and remaining_km <= 0
    if km_reached:
        seen = passed if passed is not None else (odometer_at, odometer_at, odometer_at)
        p10, p50, p90 = (min(time_limit, t) for t in seen)
        binding: Binding = "time" if p50 == time_limit else "distance"
        return LimitForecast(p10, p50, p90, binding, reached=True)
    if as_of >= time_limit:
        return LimitForecast(time_limit, time_limit, time_limit, "time", reached=True)
    if remaining_km is None:
        return LimitForecast(time_limit, time_limit, time_limit, "time", reached=False)
    mean = usage.mean_km_per_day
    horizon = remaining_km / mean if mean > 0.0 else math.inf
    spread = spread_over(horizon, usage.sd_km_per_day, usage.weekday_sd_km)
    days = days_to_reach_one(remaining_km, mean, spread, usage.mean_sd_km_per_day)
    by_km = [max(plus_days(odometer_at, d), as_of) for d in days]
    p10, p50, p90 = (min(time_limit, d) for d in by_km)
    return LimitForecast(p10, p50, p90, "distance" if by_km[1] < time_limit else "time", False)
