"""With a long lifetime behind it, the recent rate is shrunk toward the lifetime rate only as
far as its own noise allows: noise is pooled away, a real change of habits stands."""

from __future__ import annotations

import numpy as np
from signals_kit import DAY, T0, trips

from processors.signals.usage import estimate_usage, update_usage

# trips() starts at 60,000 km: over 1,200 days since delivery, a lifetime rate of 50 km a day.
DELIVERY_MS = T0 - 1200 * DAY


def estimate_after(daily_km: list[float]) -> tuple[float, float, float]:
    ts, odo = trips(daily_km)
    state = update_usage(None, ts, odo).state
    est = estimate_usage(state, delivery_ts_ms=DELIVERY_MS, delivery_odometer_m=0.0)
    return est.mean_km_per_day, est.mean_sd_km_per_day, est.recent_km_per_day


def test_noisy_recent_days_around_the_lifetime_rate_are_pulled_to_it() -> None:
    rng = np.random.default_rng(7)
    days = [float(x) for x in rng.lognormal(np.log(50.0) - 0.5**2 / 2, 0.5, size=60)]
    mean, mean_sd, recent = estimate_after(days)
    assert abs(mean - 50.0) < abs(recent - 50.0) or abs(recent - 50.0) < 1.0
    assert abs(mean - 50.0) < 2.0 * mean_sd  # the stated uncertainty covers the truth
    assert mean_sd < 5.0


def test_a_real_change_of_habits_stands() -> None:
    mean, _, recent = estimate_after([100.0] * 60)
    assert recent > 95.0
    assert mean > 90.0
