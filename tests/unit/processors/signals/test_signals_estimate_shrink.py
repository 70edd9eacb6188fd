"""With a long lifetime behind it, the recent rate is shrunk toward the lifetime rate only as
far as its own noise allows: noise is pooled away, a real change of habits stands."""

from __future__ import annotations

import numpy as np
from signals_kit import DAY, T0, trips

from processors.signals.estimate import recent_to_lifetime
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


def ratio_after(daily_km: list[float], delivered_days_before: int) -> float | None:
    ts, odo = trips(daily_km)
    state = update_usage(None, ts, odo).state
    delivery = T0 - delivered_days_before * DAY
    # the lifetime before the readings: 60,000 km over the days since delivery
    est = estimate_usage(state, delivery_ts_ms=delivery, delivery_odometer_m=0.0)
    return recent_to_lifetime(est)


def test_the_recent_rate_over_the_lifetime_s_is_what_the_metric_observes() -> None:
    # 60 days at 65 km against 60,000 km over 1,200 days before them and the 60 days' own
    # 3,900 km over them: a lifetime rate of (60,000 + 3,900) / 1,260 days = 50.7 km a day.
    ratio = ratio_after([65.0] * 60, 1200)
    assert ratio is not None
    assert abs(ratio - 65.0 / (63_900 / 1_260)) < 0.01


def test_without_a_year_of_lifetime_or_four_weeks_of_days_there_is_no_ratio() -> None:
    assert ratio_after([65.0] * 60, 300) is None  # delivered 300 days before: no year behind
    assert ratio_after([65.0] * 20, 1200) is None  # 20 known days
