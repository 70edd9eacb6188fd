"""The pure publish plan: reproducible, schema-valid, physically consistent, never in the future."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sim_kit import CATALOG, NO_FAULTS, fleet_data, merge, plan, truth_lines

from simulator.publishing.logic import KIND_DUPLICATE, KIND_MALFORMED, KIND_VALID, Plan
from simulator.world.messages import SIGNAL_BATTERY_12V, SIGNAL_DTCS, SIGNAL_ODOMETER, SIGNAL_SOC
from simulator.world.usage import to_ms

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "schemas" / "telemetry-v1.schema.json").read_text()
)
VALIDATOR = Draft202012Validator(SCHEMA)
EVERY_PROFILE = {"urban_commuter": 1, "rural_4x4": 1, "fleet_van": 1, "second_car": 1, "ev": 1}


def faulty(vehicles: int = 20, days: int = 7, seed: int = 1) -> dict[str, Any]:
    """Every fault at a high rate, every profile."""
    return fleet_data(
        vehicles,
        days,
        seed,
        fleet={"profiles": EVERY_PROFILE},
        faults={
            "duplicate_rate": 0.05,
            "dead_zone": {"per_vehicle_day": 0.3},
            "out_of_order": {"rate": 0.03},
            "clock_skew": {"per_vehicle_day": 0.2, "far_ahead_share": 0.3},
            "reboot": {"per_vehicle_day": 0.2},
            "odometer": {"rollback": 0.01, "jump": 0.01, "unit_error": 0.01},
            "malformed": {"min_each": 2},
        },
    )


@cache
def clean_plan() -> Plan:
    return plan(fleet_data(40, 14, 11, fleet={"profiles": EVERY_PROFILE}, faults=NO_FAULTS))


@cache
def faulty_plan() -> Plan:
    return plan(faulty(40, 14, 12))


def valid_payloads(p: Plan) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in p.messages if m.kind == KIND_VALID]


def samples_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    if "sample" in payload:
        return [payload["sample"]]
    return list(payload["samples"])


@given(seed=st.integers(0, 2**31))
@settings(max_examples=4, deadline=None)
def test_same_scenario_seed_and_now_give_the_same_bytes_and_truth(seed: int) -> None:
    a, b = plan(faulty(seed=seed)), plan(faulty(seed=seed))
    assert [m.payload for m in a.messages] == [m.payload for m in b.messages]
    assert truth_lines(a) == truth_lines(b)


def test_a_different_seed_gives_different_messages() -> None:
    a, b = plan(faulty(seed=1)), plan(faulty(seed=2))
    assert [v.vin for v in a.fleet] != [v.vin for v in b.fleet]
    assert [m.payload for m in a.messages] != [m.payload for m in b.messages]


def test_faults_leave_the_fleet_and_its_driving_unchanged() -> None:
    """Independent random streams: switching faults on changes the messages, not the world."""
    clean = plan(fleet_data(10, 5, 3, faults=NO_FAULTS))
    noisy = plan(faulty(10, 5, 3) | {"fleet": {"vehicles": 10}})
    assert [v.vin for v in clean.fleet] == [v.vin for v in noisy.fleet]
    assert [t.trajectory_m for t in clean.vehicles] == [t.trajectory_m for t in noisy.vehicles]
    assert [m.payload for m in clean.messages] != [m.payload for m in noisy.messages]


def test_valid_payloads_validate_against_the_schema_and_fit_the_limit() -> None:
    for p in (clean_plan(), faulty_plan()):
        payloads = valid_payloads(p)
        assert len(payloads) > 500
        # Every batch, and every 7th single-sample message (they all share one shape).
        for i, payload in enumerate(payloads):
            if "samples" in payload or i % 7 == 0:
                VALIDATOR.validate(payload)
        assert max(len(m.payload) for m in p.messages if m.kind == KIND_VALID) < 256 * 1024


def test_single_and_batched_messages_both_occur() -> None:
    payloads = valid_payloads(clean_plan())
    assert any("sample" in p for p in payloads)
    assert any("samples" in p and len(p["samples"]) > 1 for p in payloads)


def test_without_faults_odometer_and_time_only_grow_and_seq_counts_from_zero() -> None:
    p = clean_plan()
    odometer: dict[str, int] = {}
    event_ts: dict[str, int] = {}
    next_seq: dict[tuple[str, str], int] = defaultdict(int)
    boots: dict[str, set[str]] = defaultdict(set)
    for payload in valid_payloads(p):
        vin, boot = str(payload["vin"]), str(payload["boot_id"])
        assert payload["seq"] == next_seq[(vin, boot)]
        next_seq[(vin, boot)] += 1
        boots[vin].add(boot)
        for s in samples_of(payload):
            assert int(s[SIGNAL_ODOMETER]) >= odometer.get(vin, 0)
            assert int(s["ts_ms"]) > event_ts.get(vin, 0)
            odometer[vin], event_ts[vin] = int(s[SIGNAL_ODOMETER]), int(s["ts_ms"])
    assert len(odometer) == len(p.fleet)
    assert all(len(b) == 1 for b in boots.values())


def test_with_faults_seq_follows_sending_order_and_true_values_stay_consistent() -> None:
    p = faulty_plan()
    seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
    true_odometer: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for m in p.messages:
        if m.kind == KIND_DUPLICATE or m.device is None:
            continue
        seqs[(m.vin, m.boot_id)].append(m.seq)
        for r in m.device.readings:
            true_odometer[m.vin].append((r.true_ts_ms, r.true_odometer_m))
    for numbers in seqs.values():
        assert sorted(numbers) == list(range(len(numbers)))
    for readings in true_odometer.values():
        readings.sort()
        assert [o for _, o in readings] == sorted(o for _, o in readings)
    assert sum(1 for m in p.messages if "out_of_order" in m.tags) > 0


def test_start_odometer_matches_the_fleet_and_age() -> None:
    p = clean_plan()
    first: dict[str, int] = {}
    for payload in valid_payloads(p):
        first.setdefault(payload["vin"], samples_of(payload)[0][SIGNAL_ODOMETER])
    for v in p.fleet:
        assert first[v.vin] >= v.odometer_start_m
        age_days = (p.start.date() - v.delivery_date).days
        assert v.odometer_start_m < (age_days + 1) * 900_000 + 80_000


def test_publish_times_stay_inside_the_period_and_in_due_order() -> None:
    for p in (clean_plan(), faulty_plan()):
        start_ms, now_ms = to_ms(p.start), to_ms(p.now)
        due = [m.publish_ms for m in p.messages]
        assert due == sorted(due)
        assert start_ms <= due[0] and due[-1] <= now_ms
    for payload in valid_payloads(clean_plan()):
        for s in samples_of(payload):
            assert to_ms(clean_plan().start) <= int(s["ts_ms"]) <= to_ms(clean_plan().now)


def test_readings_are_plausible() -> None:
    p = clean_plan()
    by_vin = {v.vin: v for v in p.fleet}
    dtcs_seen: set[str] = set()
    for payload in valid_payloads(p):
        vehicle = by_vin[str(payload["vin"])]
        for s in samples_of(payload):
            assert 11.8 <= float(s[SIGNAL_BATTERY_12V]) <= 14.7
            assert (SIGNAL_SOC in s) == (vehicle.powertrain == "ev")
            dtcs_seen.update(s[SIGNAL_DTCS])
    assert dtcs_seen <= {c.code for c in CATALOG.codes}


def test_duplicates_repeat_an_earlier_valid_message_byte_for_byte() -> None:
    p = faulty_plan()
    dups = [(n, m) for n, m in enumerate(p.messages) if m.kind == KIND_DUPLICATE]
    assert dups
    for n, m in dups:
        assert m.duplicate_of is not None and m.duplicate_of < n
        original = p.messages[m.duplicate_of]
        assert original.kind == KIND_VALID
        assert (original.payload, original.topic_vin) == (m.payload, m.topic_vin)


def test_now_is_respected_when_it_is_mid_day() -> None:
    now = datetime(2025, 7, 4, 0, 0, 1, tzinfo=UTC)
    p = plan(faulty(10, 3, 9), now=now)
    assert p.start == now - timedelta(days=3)
    assert max(m.publish_ms for m in p.messages) <= to_ms(now)


def test_truth_lines_come_in_the_documented_order() -> None:
    p = plan(merge(faulty(5, 3, 4), {"scenario": {"horizon_days": 30}}))
    types = [json.loads(line)["type"] for line in truth_lines(p)]
    order = [
        "header",
        "dealer",
        "vehicle",
        "trajectory",
        "event",
        "vehicle_now",
        "future",
        "future_event",
        "message",
    ]
    assert types == sorted(types, key=order.index)
    assert types.count("vehicle") == types.count("trajectory") == 5
    assert types.count("vehicle_now") == types.count("future") == 5
    assert types.count("dealer") == p.params.dealers
    assert types.count("message") == len(p.messages)
    assert all(m.kind != KIND_MALFORMED or m.fault for m in p.messages)
