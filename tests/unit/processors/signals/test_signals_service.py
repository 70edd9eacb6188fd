"""Next service (months or km, whichever first) and wear items falling due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from signals_kit import usage

from processors.signals.service import (
    ServiceInterval,
    WearLife,
    next_service,
    wear_item_due,
)

EVERY_YEAR_OR_15K = ServiceInterval(months=12, km=15_000.0)
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def test_due_by_distance_soon() -> None:
    due = next_service(
        date(2026, 1, 10),
        30_000.0,
        EVERY_YEAR_OR_15K,
        43_000.0,
        AS_OF,
        usage(100.0, 50.0, 5.0),
        AS_OF,
    )
    assert due.due_odometer_km == 45_000.0 and due.km_remaining == 2_000.0
    assert due.due_date == datetime(2027, 1, 10, tzinfo=UTC)
    assert due.binding == "distance" and due.p50 == AS_OF + timedelta(days=20)
    assert due.due_soon and not due.overdue and due.days_remaining == pytest.approx(20.0)


def test_due_by_time_and_overdue() -> None:
    quiet = next_service(
        date(2025, 6, 20),
        30_000.0,
        EVERY_YEAR_OR_15K,
        35_000.0,
        AS_OF,
        usage(10.0, 8.0, 1.0),
        AS_OF,
    )
    assert quiet.binding == "time" and quiet.p50 == datetime(2026, 6, 20, tzinfo=UTC)
    assert quiet.due_soon and not quiet.overdue  # 19 days left
    far = next_service(
        date(2026, 5, 1),
        30_000.0,
        EVERY_YEAR_OR_15K,
        31_000.0,
        AS_OF,
        usage(10.0),
        AS_OF,
        due_soon_days=14.0,
    )
    assert not far.due_soon and not far.overdue
    late = next_service(
        date(2025, 5, 1), 30_000.0, EVERY_YEAR_OR_15K, 35_000.0, AS_OF, usage(10.0), AS_OF
    )
    assert late.overdue and not late.due_soon and late.days_remaining == 0.0
    over_km = next_service(
        date(2026, 1, 1), 30_000.0, EVERY_YEAR_OR_15K, 45_600.0, AS_OF, usage(10.0), AS_OF
    )
    assert over_km.overdue and over_km.km_remaining == -600.0 and over_km.binding == "distance"


def test_time_only_schedule_from_delivery() -> None:
    ev = next_service(
        date(2025, 8, 31), 0.0, ServiceInterval(months=12), 9_000.0, AS_OF, usage(40.0), AS_OF
    )
    assert ev.due_odometer_km is None and ev.km_remaining is None
    assert ev.p10 == ev.p90 == datetime(2026, 8, 31, tzinfo=UTC) and ev.binding == "time"


@settings(max_examples=150, deadline=None)
@given(
    st.floats(0.0, 20_000.0),
    st.floats(0.0, 300.0),
    st.floats(0.0, 200.0),
    st.floats(0.0, 50.0),
    st.integers(0, 500),
)
# No spread: the three quantiles are one date, computed by two formulas a rounding apart.
@example(130.1263153089744, 130.1263153089744, 0.0, 0.0, 0)
def test_due_dates_bounded_and_ordered(
    driven_km: float, mean: float, sd: float, mean_sd: float, since_days: int
) -> None:
    since = (AS_OF - timedelta(days=since_days)).date()
    due = next_service(
        since,
        10_000.0,
        EVERY_YEAR_OR_15K,
        10_000.0 + driven_km,
        AS_OF,
        usage(mean, sd, mean_sd),
        AS_OF,
    )
    assert due.p10 <= due.p50 <= due.p90 <= due.due_date
    assert due.overdue == (driven_km >= 15_000.0 or due.due_date <= AS_OF)
    assert not (due.overdue and due.due_soon)
    if not due.overdue:
        assert due.p10 >= AS_OF


def test_wear_items() -> None:
    pads = WearLife(km=40_000.0)
    assert not wear_item_due(pads, date(2024, 1, 1), 10_000.0, date(2030, 1, 1), 49_999.0).due
    hit = wear_item_due(pads, date(2024, 1, 1), 10_000.0, date(2026, 1, 1), 50_000.0)
    assert hit.due and hit.reasons == ("distance",) and hit.due_odometer_km == 50_000.0
    fluid = WearLife(km=60_000.0, months=24)
    aged = wear_item_due(fluid, date(2024, 2, 29), 0.0, date(2026, 2, 28), 20_000.0)
    assert aged.due and aged.reasons == ("time",) and aged.due_date == date(2026, 2, 28)
    assert not wear_item_due(fluid, date(2024, 2, 29), 0.0, date(2026, 2, 27), 20_000.0).due
    with pytest.raises(ValueError):
        wear_item_due(WearLife(), date(2024, 1, 1), 0.0, date(2025, 1, 1), 0.0)
