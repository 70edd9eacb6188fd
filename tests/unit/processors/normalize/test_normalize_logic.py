"""Batch planning and the registry refresh policy, as pure functions."""

from __future__ import annotations

import normalize_payloads as p
from hypothesis import given
from hypothesis import strategies as st

from kernel.deadletters import Reason
from processors.normalize.dedupe import DedupeWindow
from processors.normalize.logic import (
    DeadLetterOut,
    FrameOut,
    next_offsets,
    plan_batch,
    should_refresh,
    unknown_vin_ingest_times,
    validate_batch,
)
from processors.normalize.validate import Accepted, RawRecord, Rules
from schemas.codec import FrameCodec

RULES = Rules(future_tolerance_ms=p.TOLERANCE_MS)
CODEC = FrameCodec()
KNOWN = p.with_check_digit("WVWZZZ1JZXW000001")
NEW = p.with_check_digit("1HGCM82633A004352")
WARN = p.with_wrong_check_digit("WVWZZZ1JZXW000003")


def _records(*payloads: object, partition: int = 0, first_offset: int = 100) -> list[RawRecord]:
    return [
        p.record(body, offset=first_offset + i, partition=partition)
        for i, body in enumerate(payloads)
    ]


def test_plan_keeps_input_order_and_routes_each_record() -> None:
    records = _records(
        p.simple_payload(KNOWN, seq=1, signals={"Vehicle.Speed": 10}),
        {"v": 2},
        p.simple_payload(NEW, seq=1),
        p.simple_payload(KNOWN, seq=1),  # exact repeat of the first: dropped
        p.simple_payload(KNOWN, seq=4),  # skips 2 and 3
        p.simple_payload(WARN, seq=9),
    )
    outcomes = validate_batch(records, RULES)
    plan = plan_batch(records, outcomes, {KNOWN, WARN}, DedupeWindow(), CODEC)
    kinds = [(o.frame_id if isinstance(o, FrameOut) else o.reason) for o in plan.outputs]
    assert kinds == [
        f"{KNOWN}:boot-1:1",
        Reason.UNSUPPORTED_VERSION,
        Reason.UNKNOWN_VIN,
        f"{KNOWN}:boot-1:4",
        f"{WARN}:boot-1:9",
    ]
    assert (plan.frames, plan.samples, plan.duplicates, plan.seq_gaps) == (3, 3, 1, 2)
    assert plan.check_digit_warnings == 1
    assert plan.dead_by_reason() == {Reason.UNSUPPORTED_VERSION: 1, Reason.UNKNOWN_VIN: 1}
    assert plan.next_offsets == {("telemetry.raw", 0): 106}
    first = plan.outputs[0]
    assert isinstance(first, FrameOut) and first.key == KNOWN.encode()
    assert isinstance(outcomes[0], Accepted)
    assert CODEC.decode(first.value) == outcomes[0].frame
    dead = plan.outputs[1]
    assert isinstance(dead, DeadLetterOut) and dead.record is records[1]


def test_unknown_vins_are_not_entered_in_the_dedupe_window() -> None:
    window = DedupeWindow()
    records = _records(p.simple_payload(NEW, seq=1))
    plan_batch(records, validate_batch(records, RULES), set(), window, CODEC)
    assert len(window) == 0


def test_next_offsets_per_partition() -> None:
    records = _records({}, {}, partition=0, first_offset=5) + _records(
        {}, partition=3, first_offset=0
    )
    assert next_offsets(records) == {("telemetry.raw", 0): 7, ("telemetry.raw", 3): 1}
    assert next_offsets([]) == {}


def test_unknown_vin_ingest_times_lists_only_valid_unregistered_messages() -> None:
    records = [
        p.record(p.simple_payload(NEW), hdrs=p.headers(ingest_ts_ms=p.INGEST_TS_MS + 5)),
        p.record(p.simple_payload(KNOWN)),
        p.record({"v": 1}),
    ]
    outcomes = validate_batch(records, RULES)
    assert unknown_vin_ingest_times(records, outcomes, {KNOWN}) == [p.INGEST_TS_MS + 5]


def test_a_replayed_unknown_vin_counts_from_its_replay() -> None:
    replayed_ms = p.INGEST_TS_MS + 86_400_000
    hdrs = (*p.headers(), ("replayed_ts_ms", str(replayed_ms).encode()))
    records = [p.record(p.simple_payload(NEW), hdrs=hdrs)]
    outcomes = validate_batch(records, RULES)
    assert unknown_vin_ingest_times(records, outcomes, {KNOWN}) == [replayed_ms]


def test_refresh_policy_cases() -> None:
    assert should_refresh([], None, now_ms=0, min_interval_ms=1000)
    assert should_refresh([5_000], 5_000, now_ms=6_000, min_interval_ms=1000)
    assert should_refresh([4_000, 5_500], 5_000, now_ms=6_000, min_interval_ms=1000)
    assert not should_refresh([4_999], 5_000, now_ms=60_000, min_interval_ms=1000)
    assert not should_refresh([], 5_000, now_ms=60_000, min_interval_ms=0)
    assert not should_refresh([9_000], 5_000, now_ms=5_999, min_interval_ms=1000)


@given(
    ingest=st.lists(st.integers(0, 10**6), max_size=20),
    loaded=st.integers(0, 10**6),
    elapsed=st.integers(0, 10**4),
    interval=st.integers(0, 10**4),
)
def test_refresh_policy_properties(
    ingest: list[int], loaded: int, elapsed: int, interval: int
) -> None:
    decision = should_refresh(ingest, loaded, now_ms=loaded + elapsed, min_interval_ms=interval)
    if elapsed < interval or all(ts < loaded for ts in ingest):
        assert not decision
    else:
        assert decision


def test_unknown_vins_cost_at_most_one_load_per_interval() -> None:
    """Batches full of an unregistered VIN, 100 ms apart for 10 s, 1 s minimum interval."""
    loaded_at, loads = 0, 0
    for batch in range(100):
        now = 100 * batch + 50
        ingest_times = [now - 40] * 500  # 500 messages of unregistered vehicles per batch
        if should_refresh(ingest_times, loaded_at, now_ms=now, min_interval_ms=1000):
            loaded_at, loads = now, loads + 1
    assert loads == 9  # at 1.05 s, 2.05 s, ..., 9.05 s: never two within 1 s
