"""Calendar arithmetic and time conversions shared by the signals math.

Contract terms are in calendar years and months from a date (warranty from delivery, service from
the last visit, finance from the contract start), while telemetry time is UTC epoch milliseconds.
These helpers keep both in one convention: dates are calendar dates, instants are UTC-aware
datetimes, and a date stands for its midnight UTC when it becomes an instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)
_MIN = datetime.min.replace(tzinfo=UTC)
_ONE_DAY = timedelta(days=1)
_MIDNIGHT_UTC = time(tzinfo=UTC)
_NEAR_DAYS = 36_500.0
"""A shift shorter than a century from an instant of the years 100-9898 stays within what a
datetime can hold (years 1-9999), so it skips the clamping."""


def add_months(start: date, months: int) -> date:
    """``start`` plus calendar months; a day that does not exist becomes the month's last day."""
    index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(index, 12)
    day = start.day
    if day > 28:  # only then can the month be too short (calendar.monthrange is interpreted)
        day = min(day, days_in_month(year, month0 + 1))
    return date(year, month0 + 1, day)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    """The number of days of ``month`` (1-12) of ``year`` (the Gregorian calendar's leap years,
    as :func:`calendar.monthrange` counts them)."""
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month - 1]


def add_years(start: date, years: int) -> date:
    """``start`` plus calendar years (29 February becomes 28 February in a common year)."""
    return add_months(start, 12 * years)


def midnight_utc(day: date) -> datetime:
    """The instant a calendar date begins, in UTC (``datetime.combine``: half the time of the
    constructor with a ``tzinfo`` keyword in the compiled module, 0.19 against 0.39 µs)."""
    return datetime.combine(day, _MIDNIGHT_UTC)


def ms_to_datetime(ts_ms: int) -> datetime:
    """UTC-aware datetime of epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=int(ts_ms))


def datetime_to_ms(instant: datetime) -> int:
    """Epoch milliseconds of an aware datetime (a naive one is refused: its zone is unknown)."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: time must be UTC-aware")
    d = instant - _EPOCH  # days, seconds in [0, 86400) and microseconds in [0, 10**6)
    return d.days * MS_PER_DAY + d.seconds * 1000 + d.microseconds // 1000


def days_between(start: datetime, end: datetime) -> float:
    """Signed days from ``start`` to ``end``."""
    return (end - start) / _ONE_DAY


def plus_days(instant: datetime, days: float) -> datetime:
    """``instant`` plus (possibly fractional, possibly infinite) days, clamped to what a datetime
    can hold (an infinite forecast becomes the far future, never an error)."""
    if -_NEAR_DAYS < days < _NEAR_DAYS and 100 < instant.year < 9899:
        return instant + timedelta(days=days)
    latest = days_between(instant, _MAX) - 1.0
    earliest = days_between(instant, _MIN) + 1.0
    return instant + timedelta(days=min(max(days, earliest), latest))
