"""The signals processor's bench input is a real fleet: registered with catalogued models and
markets, reporting on a fixed period of event time, so the figure measures forecasting (not
quality events for unknown vehicles or impossible odometer jumps)."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from database.vehicle_facts import facts_from_row
from journeygate.bench.feeder import Broker, FeedPlan, _EventClock
from journeygate.bench.kafkaio import frame_records
from journeygate.bench.lab import FLEET_MARKETS, fleet_row
from journeygate.bench.options import FULL, QUICK, Sizes
from journeygate.bench.payloads import Fleet
from journeygate.bench.stages import (
    REPORT_PERIOD_MS,
    SIGNALS_FRAMES_PER_DAY,
    SIGNALS_PERIOD_MS,
    SIGNALS_TRIPS,
    signals_fleet,
)
from kernel.settings import Settings
from processors.signals.predict import vehicle_issues
from processors.signals.usage import update_usage
from reference.catalog import default_catalog
from schemas.codec import FrameCodec

TODAY = date(2026, 11, 28)


@given(st.integers(min_value=0, max_value=10**6))
def test_every_bench_vehicle_is_registered_with_a_catalogued_model_and_market(i: int) -> None:
    catalog = default_catalog()
    markets = [catalog.market(code) for code in FLEET_MARKETS]
    facts = facts_from_row(fleet_row(i, catalog.models, markets, TODAY))
    assert vehicle_issues(facts, catalog) == ()
    assert facts.delivery_date < TODAY
    if facts.finance is not None:
        assert facts.finance.amount > facts.finance.balloon >= 0


def test_the_bench_fleet_mixes_models_markets_and_finance() -> None:
    catalog = default_catalog()
    markets = [catalog.market(code) for code in FLEET_MARKETS]
    rows = [fleet_row(i, catalog.models, markets, TODAY) for i in range(1000)]
    assert len({(r[1], r[2]) for r in rows}) == len(catalog.models)
    assert {r[8] for r in rows} == set(FLEET_MARKETS)
    assert {r[10] for r in rows} == {"cash", "loan", "pcp", "lease"}


@pytest.mark.parametrize("period_ms", [REPORT_PERIOD_MS, SIGNALS_PERIOD_MS])
def test_a_vehicles_frames_are_a_period_apart_and_raise_no_odometer_events(period_ms: int) -> None:
    fleet, per_vehicle = Fleet(50, tag=3), 12
    codec = FrameCodec()
    frames = [codec.decode(v) for _, v, _ in frame_records(fleet, 50 * per_vehicle, 1, period_ms)]
    first = [f for f in frames if f.vin == fleet.vin(7)]
    ts = [round(f.samples[0].event_ts.timestamp() * 1000) for f in first]
    assert [b - a for a, b in itertools.pairwise(ts)] == [period_ms] * (per_vehicle - 1)
    odometers = [f.samples[0].odometer_m for f in first]
    assert all(o is not None for o in odometers)
    update = update_usage(None, ts, [float(o or 0) for o in odometers])
    assert update.events == () and update.accepted == per_vehicle


@pytest.mark.parametrize("acceleration", [1.0, 5.0, 50.0])
def test_an_accelerated_feed_stamps_each_vehicle_a_report_period_apart(
    acceleration: float,
) -> None:
    fleet = 1000
    rate = fleet * acceleration / (REPORT_PERIOD_MS / 1000)
    plan = FeedPlan(Broker("h", 1), "c", "r", fleet, 1, 0, 3 * fleet, rate, event_rate=acceleration)
    clock = _EventClock(plan)
    if acceleration == 1.0:
        assert not clock.accelerated
        return
    steps = {clock.stamp_ms(n + fleet) - clock.stamp_ms(n) for n in range(0, 2 * fleet, 97)}
    assert all(abs(step - REPORT_PERIOD_MS) <= 1 for step in steps)
    # message n is sent no earlier than n / rate after the start: never stamped in the future
    planned_end = clock.stamp_ms(plan.count)
    start_ms = planned_end - plan.count / rate * 1000
    for n in range(0, plan.count, 113):
        assert clock.stamp_ms(n) <= start_ms + n / rate * 1000 + 1


@pytest.mark.parametrize("days", [1, 3])
def test_the_signals_input_starts_a_new_utc_day_once_per_frames_per_day(days: int) -> None:
    # the processor forecasts a known vehicle again at its first frame of a new UTC day; one
    # day after its first frame (the bench's input) crosses midnight once whatever the hour
    fleet = Fleet(20, tag=4)
    per_vehicle = 1 + days * SIGNALS_FRAMES_PER_DAY
    codec = FrameCodec()
    records = frame_records(fleet, 20 * per_vehicle, 1, SIGNALS_PERIOD_MS, SIGNALS_TRIPS)
    frames = [codec.decode(v) for _, v, _ in records]
    for index in (0, 11, 19):
        ts = [
            round(f.samples[-1].event_ts.timestamp() * 1000)
            for f in frames
            if f.vin == fleet.vin(index)
        ]
        utc_days = [t // 86_400_000 for t in ts]
        assert sum(b != a for a, b in itertools.pairwise(utc_days)) == days


def test_one_frame_in_sixteen_of_the_signals_input_is_a_trip_of_three_samples() -> None:
    every, size = SIGNALS_TRIPS
    fleet = Fleet(50, tag=5)
    codec = FrameCodec()
    frames = [
        codec.decode(v)
        for _, v, _ in frame_records(fleet, 800, 1, SIGNALS_PERIOD_MS, SIGNALS_TRIPS)
    ]
    trips = [f for f in frames if len(f.samples) > 1]
    assert len(trips) == 800 // every and {len(f.samples) for f in trips} == {size}
    assert {len(f.samples) for f in frames} == {1, size}
    for f in trips:  # in time order, as a device sends them
        times = [s.event_ts for s in f.samples]
        assert times == sorted(times) and len(set(times)) == size


@pytest.mark.parametrize("sizes", [FULL, QUICK], ids=["full", "quick"])
def test_the_signals_measurement_gives_each_vehicle_a_whole_day_and_fills_a_batch(
    sizes: Sizes,
) -> None:
    vehicles = signals_fleet(sizes.signals_frames)
    assert vehicles * SIGNALS_FRAMES_PER_DAY == sizes.signals_frames
    # a batch of the processor holds about one frame per vehicle, as in production
    assert vehicles >= Settings().batch_max_records
