"""The fleet's usage shift: its histogram and median, its place in the estimate, and a batch
cut before each tick giving the same signals however the records were cut into batches."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals_kit import FACTS, Rec, trips

from processors.signals.dates import datetime_to_ms
from processors.signals.estimate import estimate_usage
from processors.signals.fleetshift import (
    BIN_WIDTH,
    EPOCH_DAYS,
    MAX_BIN,
    MAX_SHIFT,
    MIN_VEHICLES,
    PartitionShift,
    epoch_of,
    median_bin,
    ratio_bin,
)
from processors.signals.logic import Decoded, Rejected, VehicleRow, next_offsets, process_batch
from processors.signals.memory import VehicleMemory
from processors.signals.partition import PartitionState
from processors.signals.segments import process_records, tick_starts
from processors.signals.usage import update_usage
from reference.catalog import default_catalog
from schemas.codec import FrameReadings
from schemas.services import ServiceItem, ServiceVisitRecord

CATALOG = default_catalog()
FRAMES = "telemetry.frames"


# --- the histogram ----------------------------------------------------------------------------


def counts(bins: dict[int, int]) -> tuple[int, ...]:
    return tuple(bins.get(b, 0) for b in range(-MAX_BIN, MAX_BIN + 1))


def test_a_ratio_falls_in_the_bin_of_its_log() -> None:
    assert ratio_bin(1.0) == 0
    assert ratio_bin(math.exp(BIN_WIDTH * 3)) == 3
    assert ratio_bin(1.24) == 4  # log 1.24 = 0.215
    assert ratio_bin(0.8) == -4
    assert ratio_bin(1e-6) == -MAX_BIN and ratio_bin(1e6) == MAX_BIN


def test_the_shift_is_the_median_bin_once_enough_vehicles_count() -> None:
    assert median_bin(counts({4: MIN_VEHICLES - 1})) == 0
    assert median_bin(counts({4: MIN_VEHICLES})) == 4
    assert median_bin(counts({-1: 10, 2: 11, 6: 10})) == 2
    assert median_bin(counts({-1: 10, 2: 10})) == -1  # the lower median
    assert median_bin(counts({MAX_BIN: 40})) == MAX_SHIFT
    assert median_bin(counts({-MAX_BIN: 40})) == -MAX_SHIFT


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-MAX_BIN, MAX_BIN), min_size=MIN_VEHICLES, max_size=200))
def test_the_median_bin_halves_the_vehicles(bins: list[int]) -> None:
    m = median_bin(counts({b: bins.count(b) for b in set(bins)}))
    if abs(m) < MAX_SHIFT:
        assert sum(b <= m for b in bins) >= len(bins) / 2
        assert sum(b >= m for b in bins) >= len(bins) / 2


DAY0 = 20_020  # the first day of an epoch
E0 = epoch_of(DAY0)


def test_a_vehicle_moving_bins_moves_one_count_and_the_shift_waits_for_a_tick() -> None:
    state = PartitionShift().at_tick(DAY0)
    for _ in range(MIN_VEHICLES):
        state = state.moved(None, 0, 3, E0)
    assert state.vehicles == MIN_VEHICLES and state.shift == 0
    ticked = state.at_tick(DAY0 + 1)
    assert (ticked.day, ticked.shift) == (DAY0 + 1, 3)
    moved = ticked.moved(3, E0, -2, E0).moved(3, E0, None, E0)
    assert moved.vehicles == MIN_VEHICLES - 1 and moved.shift == 3
    assert moved.counts[3 + MAX_BIN] == MIN_VEHICLES - 2 and moved.counts[-2 + MAX_BIN] == 1
    assert moved.moved(5, E0, 5, E0) is moved
    assert PartitionShift.from_json(moved.as_json()) == moved


def test_a_vehicle_counts_in_each_epoch_it_is_evaluated_in_and_drops_out_two_later() -> None:
    assert epoch_of(DAY0 - 1) == E0 - 1 and epoch_of(DAY0 + EPOCH_DAYS - 1) == E0
    state = PartitionShift().at_tick(DAY0)
    for _ in range(MIN_VEHICLES):
        state = state.moved(None, 0, 4, E0)
    # the next epoch: its vehicles still count from the last one until evaluated again
    state = state.at_tick(DAY0 + EPOCH_DAYS)
    assert state.shift == 4 and state.vehicles == MIN_VEHICLES and sum(state.counts) == 0
    half = MIN_VEHICLES // 2
    for _ in range(half):  # half of them again, now at bin -1: both epochs count
        state = state.moved(4, E0, -1, E0 + 1)
    assert sum(state.previous) == MIN_VEHICLES and sum(state.counts) == half
    assert state.at_tick(DAY0 + EPOCH_DAYS + 1).shift == 4  # 20 at 4 and 10 at -1
    # late data: a bin of the last epoch replaces the vehicle's one there; older is history
    late = state.moved(4, E0, 0, E0)
    assert late.previous[4 + MAX_BIN] == MIN_VEHICLES - 1 and late.previous[MAX_BIN] == 1
    assert state.moved(None, 0, 2, E0 - 1) == state
    # two epochs on, the half that stopped reporting is gone, and so is the shift (too few)
    gone = state.at_tick(DAY0 + 2 * EPOCH_DAYS)
    assert sum(gone.previous) == half and sum(gone.counts) == 0
    assert gone.vehicles == half and gone.shift == 0
    # a gap of more than an epoch forgets both
    assert state.at_tick(DAY0 + 3 * EPOCH_DAYS).vehicles == 0


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"day": 1, "shift": 0, "counts": [1, 2], "previous": [0] * 41},
        {"day": "x", "shift": 0, "counts": [], "previous": []},
        {"day": 1, "shift": 0, "counts": [0] * 41},
        {"day": 1, "shift": 0, "counts": [0] * 41, "previous": [-1] + [0] * 40},
    ],
)
def test_a_damaged_state_is_refused(data: object) -> None:
    with pytest.raises(ValueError, match="damaged usage shift state"):
        PartitionShift.from_json(data)


# --- in the estimate --------------------------------------------------------------------------


def test_the_shift_comes_off_the_recent_rate_before_pooling() -> None:
    ts, odo = trips([50.0] * 60)
    state = update_usage(None, ts.tolist(), odo.tolist()).state
    plain = estimate_usage(state)
    shifted = estimate_usage(state, shift=0.2)
    assert shifted.recent_km_per_day == plain.recent_km_per_day  # the vehicle's own
    assert shifted.mean_km_per_day < plain.mean_km_per_day
    # with no lifetime beyond the ring, the recent rate is nearly all of the estimate
    assert shifted.mean_km_per_day == pytest.approx(plain.mean_km_per_day * math.exp(-0.2), 0.03)
    assert estimate_usage(state, shift=-0.2).mean_km_per_day > plain.mean_km_per_day


# --- a batch cut before each tick -------------------------------------------------------------

START = datetime(2025, 9, 1, tzinfo=UTC)
DELIVERY_KM = 12.0
HABIT_DAYS = (START.date() - FACTS.delivery_date).days
DAYS = 40
SHIFTED, STEADY = 0, 1
"""Partition 0's cars drive 30 % above their habits (a season), partition 1's as usual."""


def fleet() -> dict[str, tuple[int, float]]:
    """VIN -> (partition, habit km/day): 22 cars in each partition."""
    out = {}
    for i in range(44):
        out[f"VIN{i:014d}"] = (i % 2, 30.0 + i % 20)
    return out


FLEET = fleet()
FACTS_OF = {vin: replace(FACTS, vin=vin) for vin in FLEET}


def stream() -> tuple[list[Rec], list[FrameReadings]]:
    """A frame a day of each car, days in order, the partitions' records interleaved."""
    records: list[Rec] = []
    frames: list[FrameReadings] = []
    offsets = [0, 0]
    odo = {vin: (DELIVERY_KM + HABIT_DAYS * habit) * 1000.0 for vin, (_, habit) in FLEET.items()}
    for day in range(DAYS):
        at = datetime_to_ms(START + timedelta(days=day, hours=12))
        for vin, (p, habit) in FLEET.items():
            km = habit * (1.3 if p == SHIFTED else 1.0)
            odos = (round(odo[vin]), round(odo[vin] + km * 1000.0))
            odo[vin] += km * 1000.0
            frames.append(FrameReadings(vin, (at, at + 1_800_000), odos, (None, None)))
            records.append(Rec(FRAMES, p, offsets[p]))
            offsets[p] += 1
    return records, frames


RECORDS, STREAM = stream()


Replay = tuple[
    dict[str, bytes], dict[str, list[str]], dict[str, VehicleRow], dict[int, PartitionShift]
]


def replay(cuts: list[int], *, shift: bool = True) -> Replay:
    """Fold :data:`STREAM` in batches cut at ``cuts``, as the runner does (``shift=False``: the
    batches folded with no shift, for comparison)."""
    memories: dict[str, VehicleMemory | None] = {}
    ids: dict[str, list[str]] = {}
    rows: dict[str, VehicleRow] = {}
    states: dict[int, PartitionState] = {}
    for a, b in itertools.pairwise([0, *sorted(set(cuts)), len(STREAM)]):
        decoded = Decoded(tuple(STREAM[a:b]), (), (), {}, frame_at=tuple(range(b - a)))
        if shift:
            segments = process_records(RECORDS[a:b], decoded, memories, FACTS_OF, CATALOG, states)
            outcomes = [seg.outcome for seg in segments]
            for seg in segments:
                states.update(seg.states)
        else:
            outcomes = [process_batch(decoded, memories, FACTS_OF, CATALOG)]
        for outcome in outcomes:
            memories.update(outcome.memories)
            for s in outcome.signals:
                ids.setdefault(s.vin, []).append(s.signal_id)
            rows.update({r.vin: r.merged_into(rows.get(r.vin)) for r in outcome.vehicle_rows})
    stored = {v: m.to_bytes() for v, m in memories.items() if m is not None}
    return stored, ids, rows, {p: state.shift for p, state in states.items()}


WHOLE = replay([])


def test_a_season_shared_by_a_partition_s_cars_becomes_its_shift() -> None:
    _, _, rows, shifts = WHOLE
    assert shifts[SHIFTED].vehicles == shifts[STEADY].vehicles == 22
    assert shifts[SHIFTED].shift == ratio_bin(1.3)  # 5 bins, exp(0.25) = 1.28
    assert shifts[STEADY].shift == 0
    last_day = datetime_to_ms(START + timedelta(days=DAYS - 1)) // (86_400_000)
    assert shifts[SHIFTED].day == shifts[STEADY].day == last_day
    # the shifted cars' forecasts use a rate near their habits; the steady cars' are untouched
    for vin, (p, habit) in FLEET.items():
        usage = rows[vin].usage
        assert usage is not None
        if p == SHIFTED:
            assert usage["km_per_day"] < habit * 1.3 * 0.85
        else:
            assert usage["km_per_day"] == pytest.approx(habit, rel=0.05)


def test_without_the_shift_the_season_is_carried_forward() -> None:
    rows = replay([], shift=False)[2]
    for vin, (p, habit) in FLEET.items():
        if p == SHIFTED:
            usage = rows[vin].usage
            assert usage is not None and usage["km_per_day"] > habit * 1.3 * 0.95


def test_a_batch_is_cut_before_each_partition_s_first_record_of_a_new_day() -> None:
    decoded = Decoded(tuple(STREAM), (), (), {}, frame_at=tuple(range(len(STREAM))))
    starts = tick_starts(RECORDS, decoded, {})
    per_day = len(FLEET)
    assert starts[0] == (0, [(SHIFTED, starts[0][1][0][1])])
    assert len(starts) == 2 * DAYS  # each partition's first record of each day
    assert [a for a, _ in starts[:4]] == [0, 1, per_day, per_day + 1]
    # a batch of days already seen is one segment
    late = PartitionState(PartitionShift(day=10**6))
    seen = {SHIFTED: late, STEADY: late}
    assert tick_starts(RECORDS, decoded, seen) == [(0, [])]


@settings(max_examples=4, deadline=None)
@given(st.lists(st.integers(1, len(STREAM) - 1), max_size=12))
def test_the_signals_do_not_depend_on_how_batches_are_cut(cuts: list[int]) -> None:
    assert replay(cuts) == WHOLE


def test_a_visit_alone_evaluates_with_the_shift_the_vehicle_last_used() -> None:
    vin = next(v for v, (p, _) in FLEET.items() if p == SHIFTED)
    memory = VehicleMemory.from_bytes(WHOLE[0][vin])
    assert memory.usage_shift == ratio_bin(1.3) and memory.usage_bin is not None
    at = START + timedelta(days=DAYS - 1, hours=9)
    visit = ServiceVisitRecord(
        "inv-9",
        vin,
        at,
        30_000_000,
        FACTS.dealer_id,
        "USD",
        (ServiceItem("wear", "wiper_blades", "wipers", 40.0),),
    )
    decoded = Decoded((), (visit,), (), {}, visit_at=(0,))
    (segment,) = process_records(
        [Rec("vehicle.services", 0, 0)], decoded, {vin: memory}, FACTS_OF, CATALOG, {}
    )
    after = segment.outcome.memories[vin]
    assert segment.outcome.evaluations == 1
    assert (after.usage_shift, after.usage_bin) == (memory.usage_shift, memory.usage_bin)
    assert segment.states == {}


def test_each_record_is_in_one_segment_and_the_offsets_are_the_batch_s() -> None:
    # a visit first (its topic is read first), a record that could not be decoded mid-batch
    n = 3 * len(FLEET)  # three days of frames
    frames = STREAM[:n]
    records: list[Rec] = [Rec("vehicle.services", 1, 7), *RECORDS[:n]]
    bad_at = len(FLEET) + 5  # on the second day
    records.insert(bad_at, Rec(FRAMES, records[bad_at].partition, -1, value=None))
    frame_at = tuple(i for i in range(1, len(records)) if i != bad_at)
    visit = ServiceVisitRecord(
        "inv-1",
        frames[0].vin,
        START,
        1,
        FACTS.dealer_id,
        "USD",
        (ServiceItem("wear", "wiper_blades", "wipers", 40.0),),
    )
    rejected = Rejected(records[bad_at], "undecodable", "record has no value")
    decoded = Decoded(
        tuple(frames),
        (visit,),
        (rejected,),
        {},
        frame_at=frame_at,
        visit_at=(0,),
        rejected_at=(bad_at,),
    )
    segments = process_records(records, decoded, {}, FACTS_OF, CATALOG, {})
    # the visit, then a cut before each partition's first record of each day
    assert len(segments) == 1 + 2 * 3
    assert sum(s.records for s in segments) == len(records)
    assert [len(s.decoded.visits) for s in segments] == [1] + [0] * 6
    assert sum(len(s.decoded.frames) for s in segments) == len(frames)
    (holder,) = [s for s in segments if s.decoded.rejected]
    assert holder.decoded.rejected == (rejected,)
    assert bad_at in range(min(holder.decoded.frame_at), max(holder.decoded.frame_at) + 1)
    merged: dict[tuple[str, int], int] = {}
    for s in segments:
        for key, offset in s.offsets.items():
            merged[key] = max(merged.get(key, 0), offset)
    assert merged == next_offsets(records)
