"""Calendar and instant arithmetic of the signals math."""

from __future__ import annotations

import calendar
import math
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from processors.signals.dates import (
    add_months,
    datetime_to_ms,
    days_in_month,
    midnight_utc,
    ms_to_datetime,
    plus_days,
)

LATEST = datetime.max.replace(tzinfo=UTC)
EARLIEST = datetime.min.replace(tzinfo=UTC)


def clamped(instant: datetime, days: float) -> datetime:
    """What plus_days promises: the shift, clamped a day inside what a datetime can hold."""
    latest = (LATEST - instant) / timedelta(days=1) - 1.0
    earliest = (EARLIEST - instant) / timedelta(days=1) + 1.0
    return instant + timedelta(days=min(max(days, earliest), latest))


# hypothesis takes naive bounds and attaches the zone itself
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 3),  # noqa: DTZ001
    max_value=datetime(9999, 12, 29),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(INSTANTS, st.floats(-1e7, 1e7) | st.sampled_from([math.inf, -math.inf, 36_499.9, -36_500.0]))
def test_plus_days_is_the_clamped_shift(instant: datetime, days: float) -> None:
    assert plus_days(instant, days) == clamped(instant, days)


@given(st.integers(-62_135_596_800_000 + 1, 253_402_300_799_000))
def test_epoch_milliseconds_round_trip(ts_ms: int) -> None:
    assert datetime_to_ms(ms_to_datetime(ts_ms)) == ts_ms


@given(INSTANTS | st.datetimes(timezones=st.timezones()))
def test_epoch_milliseconds_are_the_floor_of_the_elapsed_time(instant: datetime) -> None:
    # sub-millisecond parts and zones other than UTC included: whole milliseconds, rounded down
    elapsed = instant - datetime(1970, 1, 1, tzinfo=UTC)
    assert datetime_to_ms(instant) == elapsed // timedelta(milliseconds=1)


@given(st.integers(1, 9999), st.integers(1, 12))
def test_the_days_of_a_month_are_the_calendar_s(year: int, month: int) -> None:
    assert days_in_month(year, month) == calendar.monthrange(year, month)[1]


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9000, 12, 31)), st.integers(0, 11_000))
def test_adding_months_keeps_the_day_or_takes_the_month_s_last(start: date, months: int) -> None:
    end = add_months(start, months)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    last = calendar.monthrange(end.year, end.month)[1]
    assert end.day == min(start.day, last)


@given(st.dates())
def test_midnight_utc_is_the_date_s_first_instant_in_utc(day: date) -> None:
    at = midnight_utc(day)
    assert at == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert at.tzinfo is UTC and at.date() == day
