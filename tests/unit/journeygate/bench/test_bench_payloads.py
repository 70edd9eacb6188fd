"""The benchmark's fleet and messages: valid VINs, payload v1 that the normalizer accepts, and
the same values as a frame."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from journeygate.bench.feeder import Broker, FeedPlan, dtc_schedule
from journeygate.bench.payloads import SERIALS, Fleet, fleet_vin, frame, message, raw_headers
from kernel.vin import is_valid
from processors.normalize.validate import Accepted, RawRecord, Rules, validate

INGEST_MS = 1_800_000_000_000


@given(st.integers(min_value=0, max_value=SERIALS * 33 - 1))
def test_every_fleet_vin_is_a_valid_iso_3779_vin(index: int) -> None:
    assert is_valid(fleet_vin(index))


def test_fleet_vins_are_distinct() -> None:
    vins = {fleet_vin(i) for i in range(0, 3 * SERIALS, 997)}
    assert len(vins) == len(range(0, 3 * SERIALS, 997))


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=10**7))
def test_message_n_comes_from_vehicle_n_mod_size_with_seq_n_div_size(size: int, n: int) -> None:
    assert Fleet(size).vehicle_of(n) == (n % size, n // size)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=50))
def test_a_bench_message_is_accepted_by_the_normalizer_as_the_bench_frame(n: int, tag: int) -> None:
    fleet = Fleet(1000, tag)
    ts_ms = INGEST_MS - 1000
    vin, body = message(fleet, n, ts_ms)
    headers = raw_headers(f"vehicles/{vin}/telemetry", INGEST_MS, "bench")
    outcome = validate(RawRecord("raw", 0, n, vin.encode(), body, tuple(headers)), Rules(300_000))
    assert isinstance(outcome, Accepted), outcome
    assert not outcome.check_digit_warning
    assert outcome.frame == frame(fleet, n, ts_ms, INGEST_MS, "bench")


def test_a_payload_has_fifteen_fields() -> None:
    import orjson

    body = orjson.loads(message(Fleet(10), 3, INGEST_MS)[1])
    assert len(body) + len(body["sample"]) == 15


def test_runs_with_different_tags_send_different_keys() -> None:
    a, b = Fleet(10, tag=1), Fleet(10, tag=2)
    assert a.vin(3) == b.vin(3)
    assert a.boot_id(3) != b.boot_id(3)


def test_a_burst_frame_holds_consecutive_samples_ending_at_the_event_time() -> None:
    f = frame(
        Fleet(5),
        7,
        ts_ms=1_700_000_010_000,
        ingest_ts_ms=1_700_000_011_000,
        bridge_id="b",
        samples=3,
    )
    assert [s.sample_idx for s in f.samples] == [0, 1, 2]
    assert [int(s.event_ts.timestamp() * 1000) for s in f.samples] == [
        1_700_000_008_000,
        1_700_000_009_000,
        1_700_000_010_000,
    ]
    assert len({s.odometer_m for s in f.samples}) == 1


def test_a_feed_reports_codes_from_one_message_per_vehicle_on_spread_over_the_feed() -> None:
    plan = FeedPlan(Broker("h", 1, None, None), "c", "r", 100, 1, 100, 450, dtcs=("P0420",))
    codes = dtc_schedule(plan)
    first: dict[int, int] = {}
    for k in range(plan.count):
        index = (plan.first + k) % plan.fleet_size
        if codes(k):
            first.setdefault(index, k)
        else:
            assert index not in first  # once reported, reported in every later message
    assert len(first) == plan.fleet_size
    by_round = Counter(k // plan.fleet_size for k in first.values())
    assert sorted(by_round) == [0, 1, 2, 3] and max(by_round.values()) <= 25
    assert dtc_schedule(FeedPlan(Broker("h", 1, None, None), "c", "r", 5, 1, 0, 9))(3) == ()


def test_a_bench_message_with_codes_is_accepted_with_them() -> None:
    vin, body = message(Fleet(10), 3, INGEST_MS - 1000, ("P0420",))
    headers = raw_headers(f"vehicles/{vin}/telemetry", INGEST_MS, "bench")
    outcome = validate(RawRecord("raw", 0, 3, vin.encode(), body, tuple(headers)), Rules(300_000))
    assert isinstance(outcome, Accepted)
    assert outcome.frame.samples[0].dtcs == ("P0420",)
