"""With a long lifetime behind it, the recent rate is shrunk toward the lifetime rate only as
far as its own noise allows: noise is pooled away, a real change of habits stands."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from signals_kit import DAY, T0, trips

from processors.signals.estimate import (
    BEFORE_RING_MIN_DAYS,
    DEFAULT_MODEL,
    recent_to_lifetime,
    ring_statistics,
    tracked_before_ring,
)
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


def test_the_tracked_days_before_the_ring_are_a_source_of_their_own() -> None:
    # 100 days at 100 km, then 70 at 50 km (readings at 08:00 and 09:00 of each day): the ring
    # holds the last 63 complete days (50 km each) and the open day (50 km by 09:00); before
    # them, 100 days at 100 km and 6 at 50 km, over 169 days 1 hour less 63 days 9 hours
    ts, odo = trips([100.0] * 100 + [50.0] * 70)
    state = update_usage(None, ts, odo).state
    assert state is not None
    ring = ring_statistics(state, DEFAULT_MODEL.recent_half_life_days)
    km, days = tracked_before_ring(state, ring)
    assert km == pytest.approx(10_300.0)
    assert days == pytest.approx(169 + 1 / 24 - 63 - 9 / 24)
    # the same ring with nothing tracked before it: the faster past pulls the estimate up
    alone = replace(
        state, lifetime_km=state.lifetime_km - km, lifetime_days=state.lifetime_days - days
    )
    assert tracked_before_ring(alone, ring) == (0.0, 0.0)
    assert estimate_usage(state).mean_km_per_day > estimate_usage(alone).mean_km_per_day > 45.0


def test_a_vehicle_followed_within_the_ring_has_nothing_before_it() -> None:
    ts, odo = trips([40.0] * 50)
    state = update_usage(None, ts, odo).state
    assert state is not None
    _, days = tracked_before_ring(state, ring_statistics(state, 56.0))
    assert days < BEFORE_RING_MIN_DAYS
