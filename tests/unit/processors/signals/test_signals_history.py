"""When the odometer passed a distance already behind it: points, bridge and forecasts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from signals_kit import DAY, T0, trips, usage

from processors.signals.dates import ms_to_datetime
from processors.signals.history import OdometerHistory, consistent, passed_at, ring_midnights
from processors.signals.service import ServiceDue, ServiceInterval, next_service
from processors.signals.upkeep import ServicePoint
from processors.signals.usage import update_usage
from processors.signals.usage_state import UsageState
from processors.signals.warranty import Coverage, coverage_expiry

Z90 = 1.2815515655446004


def state_of(daily_km: list[float]) -> UsageState:
    ts, odo = trips(daily_km)  # from 60,000 km on 2026-01-01
    state: UsageState | None = None
    for t, o in zip(ts.tolist(), odo.tolist(), strict=True):
        state = update_usage(state, [t], [o]).state
    assert state is not None
    return state


def test_the_ring_gives_the_odometer_at_each_known_midnight() -> None:
    # 100 km on each of five days from 2026-01-01 (08:00-09:00), from 60,000 km
    state = state_of([100.0] * 5)
    assert (state.last_ts_ms, state.last_odometer_m) == (T0 + 4 * DAY + 9 * 3_600_000, 60_500_000)
    # back from the last reading: midnights of 5, 4, 3 and 2 January; 1 January's distance
    # (the day of the first reading) is unknown
    assert ring_midnights(state) == [
        (T0 + 4 * DAY, 60_400_000.0),
        (T0 + 3 * DAY, 60_300_000.0),
        (T0 + 2 * DAY, 60_200_000.0),
        (T0 + 1 * DAY, 60_100_000.0),
    ]


def test_older_points_above_a_newer_one_are_dropped_and_an_instant_keeps_its_lowest() -> None:
    points = [(5, 900.0), (1, 100.0), (3, 950.0), (3, 500.0), (7, 1000.0), (2, 2000.0)]
    assert consistent(points) == [(1, 100.0), (3, 500.0), (5, 900.0), (7, 1000.0)]


def test_between_two_points_the_limit_is_interpolated_with_a_bridge_s_spread() -> None:
    points = [(0, 0.0), (10 * DAY, 1_000_000.0)]  # 1,000 km in 10 days
    found = passed_at(points, 500_000.0, sd_km_per_day=10.0)
    assert found is not None
    p10, p50, p90 = found
    assert p50 == 5 * DAY
    # the bridge's sd half-way: 10 km x sqrt(10 x 0.5 x 0.5) = 15.8 km, at 100 km a day
    spread = Z90 * 10.0 * math.sqrt(2.5) / 100.0 * DAY
    assert (p10, p90) == (round(5 * DAY - spread), round(5 * DAY + spread))
    assert passed_at(points, 1_000_001.0, 10.0) is None  # not passed yet
    assert passed_at(points, 0.0, 10.0) == (0, 0, 0)  # at or below the oldest point: then
    assert passed_at(points, 1_000_000.0, 0.0) == (10 * DAY,) * 3


@given(
    st.lists(st.tuples(st.integers(0, 400), st.floats(0.0, 500.0)), min_size=2, max_size=12),
    st.floats(0.0, 1.0),
    st.floats(0.0, 100.0),
)
def test_the_instants_are_ordered_within_their_points_and_move_with_the_distance(
    steps: list[tuple[int, float]], where: float, sd: float
) -> None:
    points, t, o = [], 0, 0.0
    for days, km in steps:
        t, o = t + days * DAY + 1, o + km * 1000.0
        points.append((t, o))
    points = consistent(points)
    target = points[0][1] + where * (points[-1][1] - points[0][1])
    found = passed_at(points, target, sd)
    assert found is not None
    p10, p50, p90 = found
    assert points[0][0] <= p10 <= p50 <= p90 <= points[-1][0]
    further = passed_at(points, min(target + 1_000.0, points[-1][1]), sd)
    assert further is not None and further[1] >= p50


def test_an_overdue_service_is_due_from_when_its_distance_was_passed() -> None:
    # serviced on 2025-12-01 at 49,650 km (due again at 64,650 km or in 12 months); 100 km a
    # day from 2026-01-01 at 60,000 km: 64,650 km is passed on 2026-02-16, the 47th day
    state = state_of([100.0] * 60)
    service = ServicePoint(
        int(datetime(2025, 12, 1, tzinfo=UTC).timestamp() * 1000), 59_000_000, "v"
    )
    interval = ServiceInterval(months=12, km=15_000.0)

    def due_on(as_of: datetime, st_: UsageState) -> ServiceDue:
        history = OdometerHistory(st_, 0, 0.0, (service, service), 30.0)
        odo_at = ms_to_datetime(st_.last_ts_ms)
        return next_service(
            date(2025, 12, 1), 49_650.0, interval, st_.last_odometer_m / 1000, odo_at,
            usage(100.0, 30.0), as_of, history=history,
        )  # fmt: skip

    due = due_on(datetime(2026, 3, 2, tzinfo=UTC), state)
    assert due.overdue and due.binding == "distance" and due.km_remaining == pytest.approx(-1_350.0)
    assert due.p50.date() == date(2026, 2, 16) and due.p10.date() == due.p90.date()
    # days later, with more readings, it is still due from then (no "overdue since yesterday")
    later = state_of([100.0] * 64)
    assert due_on(datetime(2026, 3, 6, tzinfo=UTC), later).p50 == due.p50
    # without the history, the latest reading stands for it
    bare = next_service(
        date(2025, 12, 1), 49_650.0, interval, 66_000.0,
        ms_to_datetime(state.last_ts_ms), usage(100.0), datetime(2026, 3, 2, tzinfo=UTC),
    )  # fmt: skip
    assert bare.p50 == ms_to_datetime(state.last_ts_ms)


def test_a_limit_passed_before_the_ring_is_placed_between_the_visit_and_the_ring() -> None:
    # a visit 200 days before the readings start read 30,000 km; the first reading 60,000 km:
    # 50,000 km was passed 2/3 of the way, 133.3 days after the visit, with a bridge around it
    visit_ms = T0 - 200 * DAY
    state = state_of([100.0] * 30)
    history = OdometerHistory(state, 0, 0.0, (ServicePoint(visit_ms, 30_000_000, "v"), None), 60.0)
    first_ms = T0 + 8 * 3_600_000
    found = history.passed(50_000.0)
    assert found is not None
    p10, p50, p90 = found
    span = first_ms - visit_ms
    assert p50 == round(visit_ms + span * 2 / 3)
    assert visit_ms < p10 < p50 < p90 < first_ms
    assert p90 - p50 == pytest.approx(p50 - p10, abs=1)


def test_a_warranty_ended_by_distance_ends_when_the_odometer_passed_it() -> None:
    state = state_of([100.0] * 20)  # 60,000 km on 2026-01-01, then 100 km a day
    history = OdometerHistory(state, 0, 0.0, (None, None), 30.0)
    odo_at = ms_to_datetime(state.last_ts_ms)
    basic = Coverage("basic", 3, 60_550.0)  # passed during 2026-01-06
    end = coverage_expiry(
        date(2025, 1, 1), basic, state.last_odometer_m / 1000, odo_at, usage(100.0, 30.0),
        odo_at + timedelta(days=1), history,
    )  # fmt: skip
    assert end.expired and end.binding == "distance" and end.p50.date() == date(2026, 1, 6)
    assert end.days_remaining == 0.0 and end.km_remaining == 0.0
