"""Calendar and instant arithmetic of the signals math."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from processors.signals.dates import datetime_to_ms, ms_to_datetime, plus_days

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
