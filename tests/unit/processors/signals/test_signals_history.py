"""When the odometer passed a distance already behind it: points, bridge and forecasts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals_kit import DAY, T0, trips, usage

from processors.signals.dates import ms_to_datetime
from processors.signals.history import OdometerHistory, bridge
from processors.signals.service import ServiceDue, ServiceInterval, next_service
from processors.signals.upkeep import ServicePoint
from processors.signals.usage import update_usage
from processors.signals.usage_state import RING_DAYS, UsageState
from processors.signals.warranty import Coverage, coverage_expiry

Z90 = 1.2815515655446004


def state_of(daily_km: list[float]) -> UsageState:
    ts, odo = trips(daily_km)  # from 60,000 km on 2026-01-01
    state: UsageState | None = None
    for t, o in zip(ts.tolist(), odo.tolist(), strict=True):
        state = update_usage(state, [t], [o]).state
    assert state is not None
    return state


# The reference: every known point at once, kept as the module docstring says, then the limit
# placed between the newest kept point below it and the one after it.
Point = tuple[int, float]


def ring_midnights(state: UsageState) -> list[Point]:
    days = state.days_km.tolist()
    out, odometer_m = [], state.last_odometer_m
    for back in range(RING_DAYS):
        km = days[RING_DAYS - 1 - back]
        if not math.isfinite(km):
            break
        odometer_m -= km * 1000.0
        out.append(((state.end_day - back) * DAY, odometer_m))
    return out


def consistent(points: list[Point]) -> list[Point]:
    kept: list[Point] = []
    for ts, odometer_m in sorted(points, reverse=True):
        if kept and ts == kept[-1][0]:
            kept[-1] = (ts, min(odometer_m, kept[-1][1]))
        elif not kept or odometer_m <= kept[-1][1]:
            kept.append((ts, odometer_m))
    return kept[::-1]


def reference(history: OdometerHistory, odometer_km: float) -> tuple[int, int, int] | None:
    points = list(history.anchors())
    if history.state is not None:
        points += ring_midnights(history.state)
    kept, target = consistent(points), odometer_km * 1000.0
    if not kept or kept[-1][1] < target:
        return None
    if kept[0][1] >= target:
        return (kept[0][0],) * 3
    i = max(i for i, (_, o) in enumerate(kept) if o < target)
    return bridge(kept[i], kept[i + 1], target, history.sd_km_per_day)


def test_the_ring_gives_the_odometer_at_each_known_midnight() -> None:
    # 100 km on each of five days from 2026-01-01 (08:00-09:00), from 60,000 km
    state = state_of([100.0] * 5)
    assert (state.last_ts_ms, state.last_odometer_m) == (T0 + 4 * DAY + 9 * 3_600_000, 60_500_000)
    # back from the last reading: midnights of 5, 4, 3 and 2 January; 1 January's distance
    # (the day of the first reading) is unknown, so 60,050 km is placed between the first
    # reading and the midnight after it
    assert ring_midnights(state) == [
        (T0 + 4 * DAY, 60_400_000.0),
        (T0 + 3 * DAY, 60_300_000.0),
        (T0 + 2 * DAY, 60_200_000.0),
        (T0 + 1 * DAY, 60_100_000.0),
    ]
    history = OdometerHistory(state, 0, 0.0, (None, None), 0.0)
    assert history.passed(60_250.0) == (T0 + 2 * DAY + DAY // 2,) * 3
    first = T0 + 8 * 3_600_000
    assert history.passed(60_050.0) == (first + (DAY - 8 * 3_600_000) // 2,) * 3
    assert history.passed(60_500.0) == (T0 + 4 * DAY + 9 * 3_600_000,) * 3  # the last reading
    assert history.passed(60_500.1) is None


def test_older_points_above_a_newer_one_are_dropped_and_an_instant_keeps_its_lowest() -> None:
    points = [(5, 900.0), (1, 100.0), (3, 950.0), (3, 500.0), (7, 1000.0), (2, 2000.0)]
    assert consistent(points) == [(1, 100.0), (3, 500.0), (5, 900.0), (7, 1000.0)]
    # a visit that read more than the readings after it (another instrument cluster) is passed
    # over: 31,000 km is half-way from delivery (2,000 km) to the first reading (60,000 km)
    state = state_of([100.0] * 5)
    high = ServicePoint(T0 - 10 * DAY, 70_000_000, "v")
    history = OdometerHistory(state, T0 - 100 * DAY, 2_000_000.0, (high, None), 0.0)
    assert history.passed(60_500.0 - 1.0) is not None
    found = history.passed(31_000.0)
    first = T0 + 8 * 3_600_000
    assert found == (round(T0 - 100 * DAY + (first - T0 + 100 * DAY) / 2),) * 3


def test_between_two_points_the_limit_is_interpolated_with_a_bridge_s_spread() -> None:
    before, after = (0, 0.0), (10 * DAY, 1_000_000.0)  # 1,000 km in 10 days
    p10, p50, p90 = bridge(before, after, 500_000.0, sd_km_per_day=10.0)
    assert p50 == 5 * DAY
    # the bridge's sd half-way: 10 km x sqrt(10 x 0.5 x 0.5) = 15.8 km, at 100 km a day
    spread = Z90 * 10.0 * math.sqrt(2.5) / 100.0 * DAY
    assert (p10, p90) == (round(5 * DAY - spread), round(5 * DAY + spread))
    assert bridge(before, after, 1_000_000.0, 0.0) == (10 * DAY,) * 3
    assert bridge(before, after, 1.0, 1e6) == (0, 864, 10 * DAY)  # never outside the two points


@st.composite
def histories(draw: st.DrawFn) -> OdometerHistory:
    """A state from readings over up to 80 days (some idle, some gaps), and anchors anywhere
    from long before to after it, some reading higher than the readings (a replaced cluster)."""
    daily = draw(st.lists(st.sampled_from([0.0, 0.0, 15.0, 40.0, 120.0]), min_size=2, max_size=80))
    state = state_of(daily) if sum(daily) > 0 else None
    visits: list[ServicePoint | None] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            quarter_days, thousand_km = draw(st.integers(-4000, 400)), draw(st.integers(20, 70))
            visits.append(ServicePoint(T0 + quarter_days * DAY // 4, thousand_km * 1_000_000, "v"))
        else:
            visits.append(None)
    delivery = draw(st.integers(-8000, 0))
    sd = draw(st.floats(0, 80))
    return OdometerHistory(state, T0 + delivery * DAY // 4, 5_000.0, tuple(visits), sd)


@st.composite
def cases(draw: st.DrawFn) -> tuple[OdometerHistory, float]:
    """A history and a distance: anywhere up to a little past its newest point, or within the
    last tenth of it (among the readings, most of the time)."""
    history = draw(histories())
    newest_km = history.anchors()[0][1] / 1000.0
    share = draw(st.one_of(st.floats(0.0, 1.01), st.floats(0.9, 1.0)))
    return history, share * newest_km


@settings(max_examples=300)
@given(cases())
def test_the_walk_back_finds_what_every_point_at_once_finds(
    case: tuple[OdometerHistory, float],
) -> None:
    history, km = case
    assert history.passed(km) == reference(history, km)


@given(cases())
def test_the_instants_are_ordered_and_a_longer_distance_is_never_passed_earlier(
    case: tuple[OdometerHistory, float],
) -> None:
    history, km = case
    found = history.passed(km)
    if found is None:
        assert history.passed(km + 1.0) is None
        return
    p10, p50, p90 = found
    assert p10 <= p50 <= p90
    further = history.passed(km + 1.0)
    assert further is None or further[1] >= p50


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
