"""The usage estimate's statistics of the ring in scalar loops give what NumPy arrays gave, which
they replace (an evaluation estimates one vehicle's 63 days, where NumPy's per-call overhead cost
several times the arithmetic). The array form is kept here as the reference."""

from __future__ import annotations

import math
from dataclasses import astuple

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from signals_kit import Series, clean_series, trips

from processors.signals import estimate
from processors.signals.estimate import RingStatistics, UsageEstimate, ring_statistics
from processors.signals.usage import UsageState, estimate_usage, update_usage

WEEK = 7


def _week_mean_square(days: npt.NDArray[np.float64]) -> tuple[float, int]:
    weeks = days[len(days) % WEEK :].reshape(-1, WEEK)
    means = weeks[np.isfinite(weeks).all(axis=1)].mean(axis=1)
    if means.size < 2:
        return 0.0, 0
    return float(WEEK * np.var(means, ddof=1)), int(means.size - 1)


def statistics_in_arrays(state: UsageState, half_life_days: float) -> RingStatistics:
    """:func:`ring_statistics` as it was written with NumPy."""
    days = state.days_km.astype(np.float64)[:-1]
    known = np.isfinite(days)
    recent = days[known]
    age = np.arange(days.size - 1, -1, -1, dtype=np.float64)[known]
    weights = 0.5 ** (age / half_life_days)
    weekday = (state.end_day - days.size + np.arange(days.size)) % WEEK
    chosen = known & ~state.coarse_days()[:-1]
    if np.count_nonzero(chosen) < 2:
        chosen = known
    sample, sample_weekday = days[chosen], weekday[chosen]
    dof = max(int(sample.size) - 1, 0)
    means = {d: sample[sample_weekday == d].mean() for d in set(sample_weekday.tolist())}
    within_dof = int(sample.size) - len(means)
    residuals = sample - np.array([means[d] for d in sample_weekday.tolist()])
    return RingStatistics(
        recent_days=int(recent.size),
        weight_days=float(weights.sum() ** 2 / np.sum(weights**2)) if recent.size else 0.0,
        recent_km_per_day=float(np.sum(weights * recent) / weights.sum())
        if recent.size
        else math.nan,
        spread_dof=dof,
        spread_variance=float(np.var(sample, ddof=1)) if dof else 0.0,
        within_dof=max(within_dof, 0),
        within_variance=float(np.sum(residuals**2) / within_dof) if within_dof > 0 else 0.0,
        week_mean_square=_week_mean_square(days)[0],
        week_dof=_week_mean_square(days)[1],
        known_km=float(recent.sum()),
    )


@given(clean_series(min_size=1, max_size=80), st.floats(20.0, 80.0))
def test_the_scalar_statistics_are_the_arrays(series: Series, half_life_days: float) -> None:
    ts, odo = series
    state = update_usage(None, ts, odo).state
    assert state is not None
    mine = astuple(ring_statistics(state, half_life_days))
    reference = astuple(statistics_in_arrays(state, half_life_days))
    for x, y in zip(mine, reference, strict=True):
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y)
        else:
            assert x == pytest.approx(y, rel=1e-9, abs=1e-9)


def test_weeks_with_a_gap_are_left_out_of_the_weekly_spread() -> None:
    days = [10.0] * 7 + [math.nan] + [30.0] * 6 + [20.0] * 7 + [40.0] * 7
    ms, dof = estimate._week_mean_square(days)
    assert dof == 2  # three complete weeks of four
    assert ms == pytest.approx(WEEK * float(np.var([10.0, 20.0, 40.0], ddof=1)))


def test_the_spread_within_weekdays_leaves_out_a_steady_weekly_rhythm() -> None:
    rhythm = [130.0, 128.0, 131.0, 129.0, 132.0, 20.0, 0.0]
    days = rhythm * 9
    weekdays = [i % WEEK for i in range(len(days))]
    within, dof = estimate._within_weekdays(days, weekdays)
    assert dof == len(days) - WEEK
    assert within == 0.0  # every weekday the same each week
    assert estimate._variance(days) > 2_500.0  # while the days spread widely
    noisy = [km + (1.0 if i % 2 else -1.0) for i, km in enumerate(days)]
    within, _ = estimate._within_weekdays(noisy, weekdays)
    assert 0.9 < within < 1.2  # the noise around each weekday, and only it


def test_one_day_of_each_weekday_leaves_no_spread_within_them() -> None:
    assert estimate._within_weekdays([10.0, 20.0, 30.0], [0, 1, 2]) == (0.0, 0)


def _estimate(daily_km: list[float]) -> UsageEstimate:
    ts, odo = trips(daily_km)
    return estimate_usage(update_usage(None, ts, odo).state)


def test_a_weekly_rhythm_is_kept_beside_the_forecast_spread() -> None:
    rng = np.random.default_rng(7)
    week = [130.0] * 5 + [25.0, 5.0]
    van = _estimate([km * rng.uniform(0.9, 1.1) for km in week * 8])
    assert van.sd_km_per_day < 0.5 * van.daily_sd_km  # the rhythm is most of a day's spread
    assert van.weekday_sd_km**2 == pytest.approx(
        van.daily_sd_km**2 - van.sd_km_per_day**2, rel=0.35
    )
    noise = _estimate(list(rng.uniform(20.0, 140.0, 56)))  # days in no rhythm
    assert noise.sd_km_per_day == pytest.approx(noise.daily_sd_km, rel=0.2)
    assert noise.weekday_sd_km < 0.5 * noise.daily_sd_km


def test_too_few_days_to_tell_a_rhythm_keep_the_plain_spread() -> None:
    days = [130.0] * 5 + [25.0, 5.0] + [130.0] * 3  # 10 days: each weekday once or twice
    est = _estimate(days)
    assert est.sd_km_per_day == est.daily_sd_km and est.weekday_sd_km == 0.0
