"""The oracle's expected distance, by hand: the rest of the period's last day, then whole days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.scoring.references import Oracle, departures_left, naive_days

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
    # the naive forecaster: as long ago as its pace takes to drive it
    assert naive_days(-300.0, 50.0) == -6.0
    assert naive_days(300.0, 50.0) == 6.0
    assert naive_days(300.0, 0.0) == float("inf") and naive_days(-300.0, 0.0) == 0.0


@given(st.floats(0, 10_000), st.integers(0, 24 * 60 - 1))
def test_a_longer_distance_is_never_reached_sooner(km: float, minute: int) -> None:
    now = datetime(2026, 6, 15, tzinfo=UTC) + timedelta(minutes=minute)
    oracle = Oracle(USAGE, now, days=400)
    assert oracle.days(km) <= oracle.days(km + 1.0)
    assert oracle.days(-km - 1.0) <= oracle.days(-km)
