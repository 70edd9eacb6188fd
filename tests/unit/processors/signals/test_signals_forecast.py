"""Time to reach a distance: closed-form quantiles, their order, and calibration on a synthetic
fleet (a small generator of our own, seeded; not the project's simulator)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from signals_kit import DAY, HOUR, T0

from processors.signals.forecast import (
    WEEKDAY_DAYS,
    days_to_reach,
    days_to_reach_one,
    days_to_reach_quantile,
    distance_in,
    spread_over,
)
from processors.signals.usage import UsageState, estimate_usage, update_usage

rates = st.floats(0.0, 500.0)
spreads = st.floats(0.0, 500.0)
mean_sds = st.floats(0.0, 200.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e4, 1e5), min_size=1, max_size=20), rates, spreads, mean_sds)
@example([1.0, 1e-12], 0.0, 0.0, 1.7250932665980975e-158)  # a subnormal spread once broke it
@example([14_869.873684691025], 130.1263153089744, 0.0, 0.0)  # no spread: P10 was 1 ulp late
def test_quantiles_are_ordered_monotone_in_distance_and_never_negative(
    remaining: list[float], mu: float, sd: float, smu: float
) -> None:
    r = np.sort(np.array(remaining))
    q = days_to_reach(r, mu, sd, smu)
    for days in (q.p10_days, q.p50_days, q.p90_days):
        assert np.all(days >= 0) and not np.any(np.isnan(days))
        assert np.all(days[1:] >= days[:-1] * (1 - 1e-9))
        assert np.all(days[r <= 0] == 0)
    assert np.all(q.p10_days <= q.p50_days) and np.all(q.p50_days <= q.p90_days)
    one = [days_to_reach_one(float(x), mu, sd, smu) for x in r]
    assert all(p10 <= p50 <= p90 for p10, p50, p90 in one)


def _bisect(r: float, mu: float, sd: float, smu: float, p: float) -> float:
    """Reference: solve P(S(t) >= r) = p by bisection on the CDF itself."""

    def cdf(t: float) -> float:
        spread = (sd**2 * t + smu**2 * t**2) ** 0.5
        return NormalDist().cdf((mu * t - r) / spread) if spread > 0 else float(mu * t >= r)

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        hi *= 2.0
        if hi > 1e12:
            return float("inf")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return hi


@settings(max_examples=150, deadline=None)
@given(
    st.floats(1.0, 1e5),
    st.floats(0.5, 500.0),
    st.floats(0.1, 500.0),
    st.floats(0.0, 200.0),
    st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9]),
)
def test_closed_form_matches_bisection(
    r: float, mu: float, sd: float, smu: float, p: float
) -> None:
    got = float(days_to_reach_quantile(r, mu, sd, smu, p))
    want = _bisect(r, mu, sd, smu, p)
    if np.isinf(want):
        assert np.isinf(got) or got > 1e11
    else:
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6)


def test_hand_values() -> None:
    # No spread at all: exactly R / mu days at every quantile.
    q = days_to_reach([0.0, 350.0, -5.0], 35.0, 0.0, 0.0)
    assert list(q.p10_days) == list(q.p90_days) == pytest.approx([0.0, 10.0, 0.0])
    # P50 is R / mu whatever the spread; P90 is where mu*t - R = 1.2816 * sqrt(sd^2 t).
    q = days_to_reach(1000.0, 40.0, 30.0, 0.0)
    assert float(q.p50_days) == pytest.approx(25.0)
    t = float(q.p90_days)
    assert 40.0 * t - 1000.0 == pytest.approx(NormalDist().inv_cdf(0.9) * 30.0 * t**0.5)
    # An uncertain rate that may be ~0 with 10 % probability: P90 never comes.
    assert np.isinf(days_to_reach(1000.0, 10.0, 5.0, 10.0).p90_days)
    with pytest.raises(ValueError):
        days_to_reach_quantile(1.0, 1.0, 1.0, 1.0, 1.0)


def test_distance_over_a_horizon() -> None:
    km = distance_in([0.0, 10.0, 30.0], 40.0, 30.0, 5.0)
    assert list(km.p50_km) == pytest.approx([0.0, 400.0, 1200.0])
    assert np.all(km.p10_km <= km.p50_km) and np.all(km.p50_km <= km.p90_km)
    assert np.all(km.p10_km >= 0)
    # consistent with the time quantile: at P50 days the median distance is R
    t50 = float(days_to_reach(900.0, 40.0, 30.0, 5.0).p50_days)
    assert float(distance_in(t50, 40.0, 30.0, 5.0).p50_km) == pytest.approx(900.0)


VAN_WEEK = np.array([1.3, 1.3, 1.3, 1.3, 1.3, 0.4, 0.1])
"""A working week: five busy days, little on the sixth, almost nothing on the seventh."""


def _fleet(
    rng: np.random.Generator,
    history_days: int,
    future_days: int,
    week: npt.NDArray[np.float64] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], float]:
    """One vehicle: idle days, lognormal distance on driving days, a reading at each trip's start
    and end; returns readings over history + future and the vehicle's true mean km/day. With a
    ``week`` (factors by day, mean 1), a working vehicle: each day times its factor, few idle
    days and a steady distance besides, so that the rhythm is most of the days' spread."""
    median = rng.lognormal(np.log(35.0), 0.5)
    p_idle = rng.uniform(0.05, 0.4) if week is None else rng.uniform(0.02, 0.1)
    sigma = rng.uniform(0.3, 0.9) if week is None else rng.uniform(0.2, 0.45)
    n = history_days + future_days
    drive = rng.random(n) >= p_idle
    km = np.where(drive, median * np.exp(sigma * rng.standard_normal(n)), 0.0)
    if week is not None:
        km *= week[(T0 // DAY + np.arange(n)) % 7]
    start = T0 + np.arange(n) * DAY + (rng.uniform(6, 20, n) * HOUR).astype(np.int64)
    end = start + (np.minimum(km / 50.0, 3.5) * HOUR).astype(np.int64) + 60_000
    odo = 20_000_000.0 + np.concatenate(([0.0], np.cumsum(km * 1000.0)))
    ts = np.stack([start, end], axis=1)[drive].ravel()
    readings = np.stack([odo[:-1], odo[1:]], axis=1)[drive].ravel()
    return ts, readings, float((1 - p_idle) * median * np.exp(sigma**2 / 2))


def _coverage(
    seed: int, days: tuple[float, float], week: npt.NDArray[np.float64] | None = None
) -> float:
    """The share of 300 synthetic vehicles (60 days of history) whose true crossing of a limit
    ``days`` ahead (at their true rate, uniform in the range) falls inside P10-P90, forecast as
    the signals processor does (:func:`spread_over` of the estimate's spreads)."""
    rng = np.random.default_rng(seed)
    inside, vehicles = 0, 300
    for _ in range(vehicles):
        ts, odo, true_rate = _fleet(rng, 60, 250, week)
        history = np.flatnonzero(ts < T0 + 60 * DAY)
        state: UsageState | None = None
        for part in np.array_split(history, 3):
            state = update_usage(state, ts[part], odo[part]).state
        est = estimate_usage(state)
        assert est.as_of_ts_ms is not None and est.odometer_m is not None
        remaining_km = true_rate * rng.uniform(*days)
        spread = spread_over(
            remaining_km / est.mean_km_per_day, est.sd_km_per_day, est.weekday_sd_km
        )
        q = days_to_reach_one(remaining_km, est.mean_km_per_day, spread, est.mean_sd_km_per_day)
        crossing = np.interp(est.odometer_m + remaining_km * 1000.0, odo, ts.astype(np.float64))
        true_days = (crossing - est.as_of_ts_ms) / DAY
        inside += int(q[0] <= true_days <= q[2])
    return inside / vehicles


def test_calibration_on_a_synthetic_fleet() -> None:
    """60 days of history; a limit 31-90 days ahead; the true crossing falls inside P10-P90 for
    about 80 % of vehicles (70-90 % accepted)."""
    assert 0.70 <= _coverage(20260101, (31.0, 90.0)) <= 0.90


def test_calibration_with_a_weekly_rhythm() -> None:
    """Vans idle at weekends: with the rhythm counted as day-to-day noise, their intervals held
    95 % of the true dates 31-90 days ahead (a rhythm does not add up over weeks as noise does);
    with each day's spread around its weekday's mean, 83 %. A horizon of days, where which days
    fall in it matters most, keeps its cover (77 % before, 75 % now)."""
    assert 0.70 <= _coverage(20260102, (31.0, 90.0), VAN_WEEK) <= 0.90
    assert 0.70 <= _coverage(20260103, (1.0, 6.0), VAN_WEEK) <= 0.95


def test_a_weekly_rhythm_is_spread_over_a_few_days_of_the_horizon() -> None:
    assert spread_over(30.0, 20.0, 0.0) == 20.0
    both = np.hypot(20.0, 40.0)
    assert spread_over(0.5, 20.0, 40.0) == pytest.approx(both)
    assert spread_over(WEEKDAY_DAYS, 20.0, 40.0) == pytest.approx(both)
    spreads = [spread_over(d, 20.0, 40.0) for d in (4.0, 7.0, 30.0, 300.0)]
    assert spreads == sorted(spreads, reverse=True) and all(20.0 < s < both for s in spreads)
    # the horizon's variance from the rhythm is WEEKDAY_DAYS days of it
    assert spread_over(40.0, 20.0, 40.0) ** 2 * 40.0 == pytest.approx(
        20.0**2 * 40.0 + 40.0**2 * WEEKDAY_DAYS
    )
    assert spread_over(float("inf"), 20.0, 40.0) == pytest.approx(20.0)


@given(st.floats(-1e3, 1e6), st.floats(0, 500), st.floats(0, 500), st.floats(0, 200))
def test_the_scalar_path_equals_the_vectorised_one(
    remaining_km: float, rate: float, spread: float, mean_sd: float
) -> None:
    one = days_to_reach_one(remaining_km, rate, spread, mean_sd)
    many = days_to_reach(remaining_km, rate, spread, mean_sd)
    expected = (many.p10_days, many.p50_days, many.p90_days)
    np.testing.assert_allclose(one, np.array(expected, dtype=float), rtol=1e-12, atol=0)
