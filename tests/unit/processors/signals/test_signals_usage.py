"""Usage properties: any input gives a finite estimate, anomalies are flagged and never trusted,
order and repeats change nothing, batches compose, the mean's uncertainty shrinks with history."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals_kit import DAY, HOUR, T0, Series, clean_series, trips

from processors.signals.quality import MILE_KM, Reason
from processors.signals.usage import (
    SMALL_FRAME,
    STATE_BYTES,
    UsageState,
    estimate_usage,
    update_usage,
)


def _fold(batches: list[Series]) -> UsageState | None:
    state = None
    for ts, odo in batches:
        state = update_usage(state, ts, odo).state
    return state


@settings(max_examples=60, deadline=None)
@given(clean_series())
def test_round_trip_after_anomalies(series: Series) -> None:
    ts, odo = series
    odo = odo.copy()
    odo[len(odo) // 2] = 0.0  # a reboot glitch
    state = update_usage(None, ts, odo).state
    assert state is not None
    assert UsageState.from_bytes(state.to_bytes()).to_bytes() == state.to_bytes()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(T0 - 400 * DAY, T0 + 400 * DAY),
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True),
                st.floats(0, 1e9),
                st.just(0.0),
            ),
        ),
        max_size=40,
    ),
    st.integers(1, 3),
)
def test_estimate_is_finite_and_non_negative_for_any_input(
    samples: list[tuple[int, float]], batches: int
) -> None:
    ts = np.array([s[0] for s in samples], dtype=np.int64)
    odo = np.array([s[1] for s in samples], dtype=np.float64)
    parts = [(ts[i::batches], odo[i::batches]) for i in range(batches)]
    state = _fold(parts)
    est = estimate_usage(state)
    for value in (est.mean_km_per_day, est.sd_km_per_day, est.mean_sd_km_per_day):
        assert math.isfinite(value) and value >= 0
    if state is not None:
        assert est.recent_days <= 63
        assert len(state.to_bytes()) == STATE_BYTES


@settings(max_examples=60, deadline=None)
@given(clean_series(), st.data())
def test_duplicates_and_reordering_change_nothing(series: Series, data: st.DataObject) -> None:
    ts, odo = series
    odo = odo.copy()
    odo[data.draw(st.integers(1, len(odo) - 1))] *= 1000.0  # anomalies must not break it either
    once = update_usage(None, ts, odo)
    perm = np.array(data.draw(st.permutations(range(len(ts)))))
    dup = np.array(data.draw(st.lists(st.integers(0, len(ts) - 1), max_size=10)), dtype=np.int64)
    shuffled = update_usage(
        None, np.concatenate((ts[perm], ts[dup])), np.concatenate((odo[perm], odo[dup]))
    )
    assert once.state is not None and shuffled.state is not None
    assert shuffled.state.to_bytes() == once.state.to_bytes()
    assert shuffled.events == once.events
    assert shuffled.duplicates == len(dup)
    last = once.state.last_ts_ms, once.state.last_odometer_m
    again = update_usage(once.state, [last[0]], [last[1]])  # the last reading, redelivered
    assert again.state == once.state and again.duplicates == 1 and again.events == ()
    assert update_usage(once.state, ts, odo).state == once.state  # the whole batch, redelivered


@settings(max_examples=60, deadline=None)
@given(clean_series(min_size=4), st.lists(st.integers(1, 39), max_size=4))
def test_in_order_batches_match_one_batch(series: Series, cuts: list[int]) -> None:
    ts, odo = series
    edges = sorted({c for c in cuts if c < len(ts)})
    parts = [(ts[a:b], odo[a:b]) for a, b in zip([0, *edges], [*edges, len(ts)], strict=True)]
    whole, split = _fold([(ts, odo)]), _fold(parts)
    assert whole is not None and split is not None
    assert split.last_ts_ms == whole.last_ts_ms and split.last_odometer_m == whole.last_odometer_m
    assert split.lifetime_km == pytest.approx(whole.lifetime_km, rel=1e-9, abs=1e-6)
    np.testing.assert_allclose(split.days_km, whole.days_km, rtol=1e-5, atol=1e-3)
    a, b = estimate_usage(whole), estimate_usage(split)
    assert b.mean_km_per_day == pytest.approx(a.mean_km_per_day, rel=1e-5, abs=1e-6)
    assert b.mean_sd_km_per_day == pytest.approx(a.mean_sd_km_per_day, rel=1e-4, abs=1e-6)


ANOMALIES: dict[str, tuple[set[Reason], Callable[[float, float], float]]] = {
    "rollback": ({Reason.ROLLBACK, Reason.UNIT_ERROR}, lambda o, _room: o - 5_000.0 - 0.2 * o),
    "jump": ({Reason.JUMP, Reason.UNIT_ERROR}, lambda o, room: o + room + 5_000.0),
    "x1000": ({Reason.UNIT_ERROR}, lambda o, _room: o * 1000.0),
    "km_as_m": ({Reason.UNIT_ERROR}, lambda o, _room: o / 1000.0),
    "miles": ({Reason.UNIT_ERROR}, lambda o, _room: o / MILE_KM),
    "x1.609": ({Reason.UNIT_ERROR}, lambda o, _room: o * MILE_KM),
    "zero": ({Reason.ROLLBACK}, lambda _o, _room: 0.0),
}


@settings(max_examples=120, deadline=None)
@given(clean_series(), st.sampled_from(sorted(ANOMALIES)), st.data())
def test_anomaly_is_flagged_and_never_trusted(
    series: Series, kind: str, data: st.DataObject
) -> None:
    ts, odo = series
    i = data.draw(st.integers(0, len(ts) - 2))
    t_bad = int(ts[i] + (ts[i + 1] - ts[i]) // 2)
    room = 250.0 * (t_bad - ts[i]) / 3600.0
    reasons, corrupt = ANOMALIES[kind]
    o_bad = corrupt(float(odo[: i + 1].max()), room)
    clean = update_usage(None, ts, odo)
    dirty = update_usage(None, np.append(ts, t_bad), np.append(odo, o_bad))
    flagged = [e for e in dirty.events if e.ts_ms == t_bad]
    assert len(flagged) == 1 and flagged[0].reason in reasons, (kind, dirty.events)
    assert dirty.state is not None and clean.state is not None
    assert dirty.state.to_bytes() == clean.state.to_bytes()  # the next reading continued the trend


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(10.0, 100.0), min_size=7, max_size=7), st.floats(0.0, 400.0))
def test_uncertainty_of_the_mean_shrinks_as_consistent_history_grows(
    week: list[float], trip_km: float
) -> None:
    """The same weekly rhythm repeated: the mean's sd falls week after week; with a rare long
    trip in it (its share of days depends on where the window cuts), at least overall."""
    sds, spiky = [], []
    for weeks in range(2, 10):
        state = update_usage(None, *trips(week * weeks)).state
        sds.append(estimate_usage(state).mean_sd_km_per_day)
        state = update_usage(None, *trips([trip_km, *week[1:]] * weeks)).state
        spiky.append(estimate_usage(state).mean_sd_km_per_day)
    assert all(b < a for a, b in itertools.pairwise(sds)), sds
    assert spiky[-1] < 0.75 * spiky[0]


def _list_as_arrays(
    quick: UsageState | None, slow: UsageState | None, t: int, o: float
) -> tuple[UsageState, UsageState]:
    """One reading given as lists (paths without arrays where they apply) to ``quick`` and as
    arrays to ``slow``: the same outcome, the state's bytes included."""
    a = update_usage(quick, [t], [o])
    b = update_usage(slow, np.array([t]), np.array([o]))
    assert a.state is not None and b.state is not None
    assert a.state.to_bytes() == b.state.to_bytes()
    assert (a.events, a.accepted, a.duplicates) == (b.events, b.accepted, b.duplicates)
    return a.state, b.state


@given(
    st.lists(
        st.tuples(st.integers(1, 100 * DAY), st.floats(-0.4, 130.0), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=30,
    ),
    st.floats(50_000_000.0, 300_000_000.0),
)
def test_readings_days_apart_given_as_lists_update_as_the_arrays_do(
    steps: list[tuple[int, float, float]], start: float
) -> None:
    """Gaps from a millisecond to 100 days (past the ring), parked, slow and fast, a reading a
    little under the last one (within the slack): every state's bytes as the arrays make them."""
    t, o = T0, start
    quick: UsageState | None = None
    slow: UsageState | None = None
    quick, slow = _list_as_arrays(quick, slow, t, o)
    for gap, kmh, frac in steps:
        t, o = t + gap, max(o + kmh * gap / 3600.0 + frac, 0.0)
        quick, slow = _list_as_arrays(quick, slow, t, o)


@given(clean_series(min_size=2, max_size=60), st.floats(0.0, 1.0))
def test_a_reading_given_as_a_list_updates_as_the_arrays_do(series: Series, frac: float) -> None:
    # lists of one reading take paths without arrays (the commonest updates: a vehicle's first
    # reading, a reading on the last one's day or a later one); they must give what the array
    # path gives, the state's bytes included
    ts, odo = series
    odo = odo + frac  # fractions of a metre: float32 sums that round
    quick: UsageState | None = None
    slow: UsageState | None = None
    for t, o in zip(ts.tolist(), odo.tolist(), strict=True):
        quick, slow = _list_as_arrays(quick, slow, t, o)


@settings(max_examples=80, deadline=None)
@given(
    clean_series(min_size=3, max_size=40),
    st.lists(st.integers(2, SMALL_FRAME), min_size=1, max_size=12),
    st.floats(0.0, 1.0),
)
def test_a_frame_of_a_few_readings_updates_as_frames_of_one_do(
    series: Series, sizes: list[int], frac: float
) -> None:
    """A store-and-forward batch of a few readings, given as lists, takes the path of one reading
    in turn: exactly the state (its bytes) that the same readings in frames of one make through
    the arrays, and the state of the frame as one chain but for the rounding of sums."""
    ts, odo = series
    odo = odo + frac
    start = update_usage(None, ts[:1], odo[:1]).state
    assert start is not None
    quick, chain, singles = start, start, start
    i = 1
    for size in sizes:
        part_t, part_o = ts[i : i + size].tolist(), odo[i : i + size].tolist()
        if len(part_t) < 2:
            break
        i += size
        q = update_usage(quick, part_t, part_o)
        c = update_usage(chain, np.array(part_t), np.array(part_o))
        for t, o in zip(part_t, part_o, strict=True):
            one = update_usage(singles, np.array([t]), np.array([o])).state
            assert one is not None
            singles = one
        assert q.state is not None and c.state is not None
        assert q.state.to_bytes() == singles.to_bytes()
        assert (q.events, q.accepted, q.duplicates) == (c.events, c.accepted, c.duplicates)
        assert (q.state.last_ts_ms, q.state.last_odometer_m, q.state.end_day) == (
            c.state.last_ts_ms,
            c.state.last_odometer_m,
            c.state.end_day,
        )
        assert q.state.lifetime_km == pytest.approx(c.state.lifetime_km, rel=1e-9, abs=1e-6)
        np.testing.assert_allclose(q.state.days_km, c.state.days_km, rtol=1e-5, atol=1e-3)
        quick, chain = q.state, c.state


@pytest.mark.parametrize(
    ("ts", "odo"),
    [
        ([T0 + 2 * HOUR, T0 + HOUR, T0 + 3 * HOUR], [50_020_000.0, 50_010_000.0, 50_030_000.0]),
        ([T0 + HOUR, T0 + HOUR, T0 + 2 * HOUR], [50_010_000.0, 50_010_000.0, 50_020_000.0]),
        ([T0 + HOUR, T0 + HOUR, T0 + 2 * HOUR], [50_010_000.0, 50_011_000.0, 50_020_000.0]),
        ([T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR], [50_010_000.0, 51_900_000.0, 50_030_000.0]),
        ([T0 + HOUR, T0 + 2 * HOUR], [50_010_000.0, 40_000_000.0]),
        ([T0, T0 + HOUR], [50_000_000.0, 50_010_000.0]),
        ([T0 + HOUR, T0 + 2 * HOUR], [50_010_000.0, -1.0]),
    ],
    ids=["unsorted", "repeated", "same-instant", "jump", "rollback", "last-again", "negative"],
)
def test_a_frame_the_quick_path_cannot_take_updates_as_the_arrays_do(
    ts: list[int], odo: list[float]
) -> None:
    state = update_usage(None, [T0], [50_000_000.0]).state
    assert state is not None
    quick, slow = update_usage(state, ts, odo), update_usage(state, np.array(ts), np.array(odo))
    assert quick.state is not None and slow.state is not None
    assert quick.state.to_bytes() == slow.state.to_bytes()
    assert (quick.events, quick.accepted, quick.duplicates) == (
        slow.events,
        slow.accepted,
        slow.duplicates,
    )
