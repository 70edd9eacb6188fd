"""Warranty expiry: calendar years, the earlier of time and distance per quantile, flags."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals_kit import usage

from processors.signals.dates import add_months, add_years, midnight_utc
from processors.signals.warranty import Coverage, coverage_expiry, warranty_expiry

DELIVERY = date(2024, 2, 29)
AS_OF = datetime(2026, 3, 1, 12, tzinfo=UTC)
BASIC = Coverage("basic", 3, 60_000.0)
POWERTRAIN = Coverage("powertrain", 5, 100_000.0)
BATTERY = Coverage("traction_battery", 8, 160_000.0)
EU_BASIC = Coverage("basic", 2, None)


def test_calendar_years_and_months() -> None:
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2025, 3, 15), -3) == date(2024, 12, 15)


def test_time_binds_for_a_light_driver() -> None:
    (basic,) = warranty_expiry(DELIVERY, [BASIC], 20_000.0, AS_OF, usage(20.0, 15.0, 2.0), AS_OF)
    assert basic.time_end == datetime(2027, 2, 28, tzinfo=UTC)
    assert basic.p10 == basic.p50 == basic.p90 == basic.time_end  # 40,000 km at 20/day: 5.5 y
    assert basic.binding == "time" and not basic.expired
    assert basic.km_remaining == 40_000.0
    assert basic.days_remaining == pytest.approx((basic.time_end - AS_OF) / timedelta(days=1))


def test_distance_binds_for_a_heavy_driver() -> None:
    (basic,) = warranty_expiry(DELIVERY, [BASIC], 50_000.0, AS_OF, usage(100.0, 60.0, 10.0), AS_OF)
    assert basic.binding == "distance"
    assert basic.p50 == AS_OF + timedelta(days=100)  # 10,000 km at 100 km/day
    assert AS_OF < basic.p10 < basic.p50 < basic.p90 <= basic.time_end
    assert basic.days_remaining == pytest.approx(100.0)


def test_expired_by_time_by_distance_and_unlimited() -> None:
    late = datetime(2027, 3, 1, tzinfo=UTC)
    basic, battery, eu = warranty_expiry(
        DELIVERY, [BASIC, BATTERY, EU_BASIC], 30_000.0, late, usage(30.0), late
    )
    assert basic.expired and basic.binding == "time" and basic.p50 == basic.time_end
    assert basic.days_remaining == 0.0
    assert not battery.expired and battery.binding == "time"  # 130,000 km left at 30/day
    assert eu.expired and eu.km_remaining is None and eu.limit_km is None
    seen = datetime(2026, 2, 1, tzinfo=UTC)
    over = coverage_expiry(DELIVERY, BASIC, 60_500.0, seen, usage(30.0), AS_OF)
    assert over.expired and over.binding == "distance" and over.p50 == seen
    assert over.km_remaining == 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.dates(date(2015, 1, 1), date(2026, 1, 1)),
    st.sampled_from([BASIC, POWERTRAIN, BATTERY, EU_BASIC]),
    st.floats(0.0, 250_000.0),
    st.integers(0, 400),
    st.integers(0, 400),
    st.floats(0.0, 300.0),
    st.floats(0.0, 300.0),
    st.floats(0.0, 100.0),
)
def test_expiry_bounds(
    delivery: date,
    coverage: Coverage,
    odometer_km: float,
    reading_age_days: int,
    days_after_delivery: int,
    mean: float,
    sd: float,
    mean_sd: float,
) -> None:
    """Never after start + years; never before as_of unless already expired; never before the
    odometer reading unless the reading already showed the limit crossed; quantiles ordered."""
    as_of = midnight_utc(delivery) + timedelta(days=days_after_delivery, hours=7)
    read_at = as_of - timedelta(days=reading_age_days)
    e = coverage_expiry(delivery, coverage, odometer_km, read_at, usage(mean, sd, mean_sd), as_of)
    assert (
        e.p10 <= e.p50 <= e.p90 <= e.time_end == midnight_utc(add_years(delivery, coverage.years))
    )
    crossed = coverage.limit_km is not None and odometer_km >= coverage.limit_km
    assert e.expired == (crossed or as_of >= e.time_end)
    if not e.expired:
        assert e.p10 >= as_of and e.p10 >= read_at and e.days_remaining >= 0
    if e.binding == "distance":
        assert coverage.limit_km is not None
