"""The oracle's expected distance, by hand: the rest of the period's last day, then whole days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.scoring.references import (
    Naive,
    Oracle,
    day_of,
    departures_left,
    ideal_mean_daily_km,
)
from simulator.world.fleet import HISTORY_SIGMA

USAGE = {
    "mean_daily_km": 50.0,
    "weekday_factors": [1.2, 1.2, 1.2, 1.2, 1.2, 0.6, 0.4],
    "month_factors": [1.0] * 12,
    "departure_hours": [7, 19],
}
MONDAY_NOON = datetime(2026, 6, 15, 12, tzinfo=UTC)


def test_the_share_of_the_day_s_departures_still_ahead() -> None:
    day = datetime(2026, 6, 15, tzinfo=UTC)
    assert departures_left(USAGE, day + timedelta(hours=6)) == 1.0
    assert departures_left(USAGE, day + timedelta(hours=7)) == 1.0
    assert departures_left(USAGE, day + timedelta(hours=13)) == 0.5
    assert departures_left(USAGE, day + timedelta(hours=16, minutes=30)) == pytest.approx(0.2083333)
    assert departures_left(USAGE, day + timedelta(hours=19)) == 0.0
    assert departures_left(USAGE, day + timedelta(hours=23)) == 0.0
    # the hours are UTC whatever zone `now` is given in
    paris = timezone(timedelta(hours=2))
    assert departures_left(USAGE, datetime(2026, 6, 15, 15, tzinfo=paris)) == 0.5


def test_the_cumulative_starts_with_the_rest_of_today_then_each_whole_day() -> None:
    oracle = Oracle(USAGE, MONDAY_NOON, days=7)
    # Monday: 60 km a day, 7 of its 12 departure hours left at noon; then Tuesday to Friday
    # 60 km each, Saturday 30, Sunday 20, Monday 60
    daily = [60 * 7 / 12, 60, 60, 60, 60, 30, 20, 60]
    assert oracle.ahead == pytest.approx(np.cumsum(daily))
    assert oracle.days(35.0) == 0  # reached before the end of today
    assert oracle.days(36.0) == 1
    assert oracle.days(oracle.ahead[-1] + 1) == float("inf")
    assert oracle.days(0.0) == 0


def test_a_distance_already_passed_is_placed_back_from_now() -> None:
    oracle = Oracle(USAGE, MONDAY_NOON, days=7)
    # back from Monday noon: 5 of its 12 departure hours gone (25 km), then Sunday 20 km,
    # Saturday 30, Friday 60
    assert oracle.behind()[:4] == pytest.approx(np.cumsum([25, 20, 30, 60]))
    assert oracle.days(-20.0) == 0  # passed this morning
    assert oracle.days(-30.0) == -1  # on Sunday
    assert oracle.days(-50.0) == -2  # on Saturday
    assert oracle.days(-1e6) == -float("inf")
    # the naive forecaster: as long ago as its pace takes to drive it, from noon
    naive = Naive(50.0, MONDAY_NOON)
    assert naive.days(-300.0) == -6.0  # Tuesday noon a week before: that Tuesday
    assert naive.days(-20.0) == 0.0  # 09:36 today
    assert naive.days(-30.0) == -1.0  # 21:36 yesterday
    assert Naive(0.0, MONDAY_NOON).days(300.0) == float("inf")
    assert Naive(0.0, MONDAY_NOON).days(-300.0) == 0.0


def test_every_method_s_forecast_is_the_day_its_instant_falls_on() -> None:
    # a day ends the instant its last kilometre is driven: (i, i + 1] is day i
    assert [day_of(x) for x in (0.2, 1.0, 1.0001, 6.5, -0.5, 0.0)] == [0, 0, 1, 6, -1, -1]
    assert day_of(float("inf")) == float("inf")
    naive = Naive(50.0, MONDAY_NOON)
    assert naive.days(300.0) == 6.0  # Sunday noon + ... : 6 days from Monday noon, a Sunday
    assert naive.days(20.0) == 0.0  # 21:36 today
    assert naive.days(30.0) == 1.0  # 02:24 tomorrow
    assert naive.days(0.0) == 0.0
    # a midnight `now`: what is still to drive is never dated before today
    assert Naive(50.0, datetime(2026, 6, 15, tzinfo=UTC)).days(0.0) == 0.0


@given(st.floats(0, 300), st.floats(1, 500), st.integers(0, 24 * 60 - 1))
def test_the_naive_day_is_the_oracle_s_for_a_steady_pace(
    days: float, pace: float, minute: int
) -> None:
    # an oracle whose every day is the same, its trips spread over the whole day, dates a
    # distance as the naive forecaster at that pace does (an instant on a day's boundary aside,
    # where the two sums may round apart)
    now = datetime(2026, 6, 15, tzinfo=UTC) + timedelta(minutes=minute)
    steady = {**USAGE, "mean_daily_km": pace, "weekday_factors": [1.0] * 7}
    steady["departure_hours"] = [0, 24]
    oracle, naive = Oracle(steady, now, days=400), Naive(pace, now)
    for km in (days * pace, -days * pace):
        instant = minute / (24 * 60) + km / pace
        if abs(instant - round(instant)) > 1e-6:
            assert oracle.days(km) == naive.days(km)


@given(st.floats(0, 10_000), st.integers(0, 24 * 60 - 1))
def test_a_longer_distance_is_never_reached_sooner(km: float, minute: int) -> None:
    now = datetime(2026, 6, 15, tzinfo=UTC) + timedelta(minutes=minute)
    oracle = Oracle(USAGE, now, days=400)
    assert oracle.days(km) <= oracle.days(km + 1.0)
    assert oracle.days(-km - 1.0) <= oracle.days(-km)


NOISY = {
    **USAGE,
    "day_sigma": 0.5,
    "zero_day_probability_weekday": 0.0,
    "zero_day_probability_weekend": 0.5,
}


def _days(first: str, km: list[float]) -> dict[str, object]:
    """A period from ``first`` (cut) whose next days drive ``km``."""
    ends = np.concatenate([[0.0], np.cumsum(km)]) * 1000
    return {"first_day": first, "odometer_m": [int(x) for x in ends]}


def test_the_ideal_reader_weighs_each_day_by_how_much_a_day_of_its_kind_varies() -> None:
    # Monday 2026-06-08 to Sunday 2026-06-14 are whole days before Monday 15 (today); the
    # period's first day (Sunday 7) is cut. A weekday's variance is e^0.25 - 1 = 0.284 of its
    # mean's square (weight 3.52), a weekend day's, idle half the time, 2 e^0.25 - 1 = 1.568
    # (weight 0.638); each day is read through its factor (1.2 on weekdays, 0.6 and 0.4)
    trajectory = _days("2026-06-07", [60, 60, 60, 60, 60, 60, 0])
    today = date(2026, 6, 15)
    m = ideal_mean_daily_km(NOISY, trajectory, today, 0.0)
    weekday, weekend = 1 / (np.exp(0.25) - 1), 1 / (2 * np.exp(0.25) - 1)
    expected = (5 * weekday * 50 + weekend * 100 + weekend * 0) / (5 * weekday + 2 * weekend)
    assert m == pytest.approx(expected)
    # the lifetime average alone, and beside the days, weighed by 1 / (e^(0.15²) - 1)
    assert ideal_mean_daily_km(NOISY, None, today, 40.0) == 40.0
    lifetime = 1 / (np.exp(HISTORY_SIGMA**2) - 1)
    both = ideal_mean_daily_km(NOISY, trajectory, today, 40.0)
    assert both == pytest.approx(
        (expected * (5 * weekday + 2 * weekend) + 40.0 * lifetime)
        / (5 * weekday + 2 * weekend + lifetime)
    )
    assert ideal_mean_daily_km(NOISY, None, today, 0.0) == 0.0


@given(st.floats(1, 300), st.integers(0, 120), st.integers(0, 365))
def test_days_at_their_expected_distance_and_a_true_lifetime_give_the_mean(
    mean: float, days: int, start: int
) -> None:
    usage = {**NOISY, "month_factors": [0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.2, 1.1, 1.0, 0.9, 0.8]}
    first = date(2025, 1, 1) + timedelta(days=start)
    factors = [
        usage["weekday_factors"][d.weekday()] * usage["month_factors"][d.month - 1]
        for d in (first + timedelta(days=i) for i in range(1, days + 1))
    ]
    today = first + timedelta(days=days + 1)
    trajectory = _days(first.isoformat(), [mean * f for f in factors])
    # (the odometer is whole metres: a few of them off a day at most)
    assert ideal_mean_daily_km(usage, trajectory, today, mean) == pytest.approx(mean, abs=0.01)
