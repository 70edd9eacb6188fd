"""The pure publish plan: reproducible, schema-valid, physically consistent, never in the future."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from simulator.catalog import Catalog, load_catalog
from simulator.logic import KIND_DUPLICATE, KIND_MALFORMED, KIND_VALID, Plan, build_plan
from simulator.messages import SIGNAL_BATTERY_12V, SIGNAL_DTCS, SIGNAL_ODOMETER, SIGNAL_SOC
from simulator.params import GenerationParams, SimulationParams
from simulator.truth import header_line, message_line, vehicle_line
from simulator.usage import to_ms

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "schemas" / "telemetry-v1.schema.json").read_text()
)
VALIDATOR = Draft202012Validator(SCHEMA)
CATALOG = load_catalog()
NOW = datetime(2026, 3, 1, 9, 30, 12, 345000, tzinfo=UTC)


def make_plan(
    seed: int, vehicles: int = 20, days: int = 7, now: datetime = NOW, catalog: Catalog = CATALOG
) -> Plan:
    params = GenerationParams(
        vehicles=vehicles, days=days, seed=seed, duplicate_rate=0.05, malformed_rate=0.05
    )
    return build_plan(np.random.default_rng(seed), params, catalog, now)


@cache
def sample_plan() -> Plan:
    return make_plan(seed=11, vehicles=40, days=14)


def truth_lines(plan: Plan) -> list[bytes]:
    sim = SimulationParams(vehicles=plan.params.vehicles, days=plan.params.days)
    lines = [header_line(plan, sim, "vehicles")]
    lines += [vehicle_line(v) for v in plan.fleet]
    lines += [message_line(n, m) for n, m in enumerate(plan.messages)]
    return lines


def valid_payloads(plan: Plan) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in plan.messages if m.kind == KIND_VALID]


def samples_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    if "sample" in payload:
        return [payload["sample"]]
    return list(payload["samples"])


@given(seed=st.integers(0, 2**31))
@settings(max_examples=5, deadline=None)
def test_same_seed_same_bytes_and_truth(seed: int) -> None:
    a, b = make_plan(seed), make_plan(seed)
    assert [m.payload for m in a.messages] == [m.payload for m in b.messages]
    assert truth_lines(a) == truth_lines(b)


def test_different_seed_different_messages() -> None:
    a, b = make_plan(1), make_plan(2)
    assert [v.vin for v in a.fleet] != [v.vin for v in b.fleet]
    assert [m.payload for m in a.messages] != [m.payload for m in b.messages]


def test_every_valid_payload_validates_against_the_schema() -> None:
    plan = sample_plan()
    payloads = valid_payloads(plan)
    assert len(payloads) > 500
    for payload in payloads:
        VALIDATOR.validate(payload)


def test_single_and_batched_messages_both_occur() -> None:
    payloads = valid_payloads(sample_plan())
    assert any("sample" in p for p in payloads)
    assert any("samples" in p and len(p["samples"]) > 1 for p in payloads)


def test_per_vehicle_odometer_never_decreases_and_seq_counts_from_zero_per_boot() -> None:
    plan = sample_plan()
    odometer: dict[str, int] = {}
    next_seq: dict[tuple[str, str], int] = defaultdict(int)
    boots: dict[str, list[str]] = defaultdict(list)
    event_ts: dict[str, int] = {}
    for payload in valid_payloads(plan):
        vin, boot = str(payload["vin"]), str(payload["boot_id"])
        assert payload["seq"] == next_seq[(vin, boot)]
        next_seq[(vin, boot)] += 1
        if not boots[vin] or boots[vin][-1] != boot:
            assert boot not in boots[vin]
            boots[vin].append(boot)
        for s in samples_of(payload):
            odo = int(s[SIGNAL_ODOMETER])
            ts = int(s["ts_ms"])
            assert odo >= odometer.get(vin, 0)
            assert ts > event_ts.get(vin, 0)
            odometer[vin], event_ts[vin] = odo, ts
    assert len(odometer) == len(plan.fleet)
    assert any(len(b) > 1 for b in boots.values()), "no device rebooted"


def test_start_odometer_matches_the_fleet_and_age() -> None:
    plan = sample_plan()
    first: dict[str, int] = {}
    for payload in valid_payloads(plan):
        first.setdefault(payload["vin"], samples_of(payload)[0][SIGNAL_ODOMETER])
    for v in plan.fleet:
        assert first[v.vin] >= v.odometer_start_m
        age_days = (plan.start.date() - v.delivery_date).days
        assert v.odometer_start_m < (age_days + 1) * 300_000 + 80_000


def test_event_and_publish_times_stay_inside_the_period() -> None:
    plan = sample_plan()
    start_ms, now_ms = to_ms(plan.start), to_ms(plan.now)
    for m in plan.messages:
        assert start_ms <= m.publish_ms <= now_ms
        if m.kind != KIND_MALFORMED or m.fault != "future_timestamp":
            assert m.first_ts_ms <= m.last_ts_ms <= now_ms
    for payload in valid_payloads(plan):
        for s in samples_of(payload):
            assert start_ms <= int(s["ts_ms"]) <= now_ms


def test_publish_order_is_by_due_time() -> None:
    due = [m.publish_ms for m in sample_plan().messages]
    assert due == sorted(due)


def test_readings_are_plausible() -> None:
    plan = sample_plan()
    by_vin = {v.vin: v for v in plan.fleet}
    dtcs_seen: set[str] = set()
    for payload in valid_payloads(plan):
        vehicle = by_vin[str(payload["vin"])]
        for s in samples_of(payload):
            assert 11.8 <= float(s[SIGNAL_BATTERY_12V]) <= 14.7
            assert (SIGNAL_SOC in s) == (vehicle.powertrain == "ev")
            dtcs_seen.update(s[SIGNAL_DTCS])
    assert dtcs_seen <= {"P0420", "P0171", "P0300", "P0442", "C0035", "U0100"}


def test_active_codes_persist_for_days() -> None:
    frequent = replace(CATALOG, faults=replace(CATALOG.faults, dtc_daily_probability=0.2))
    plan = make_plan(seed=5, vehicles=10, days=14, catalog=frequent)
    spans: dict[tuple[str, str], list[int]] = defaultdict(list)
    for payload in valid_payloads(plan):
        for s in samples_of(payload):
            for code in s[SIGNAL_DTCS]:
                spans[(payload["vin"], code)].append(s["ts_ms"])
    assert spans, "no fault code became active"
    day_ms = 86_400_000
    assert any(max(t) - min(t) >= day_ms for t in spans.values())


def test_duplicates_repeat_an_earlier_valid_message_byte_for_byte() -> None:
    plan = sample_plan()
    dups = [(n, m) for n, m in enumerate(plan.messages) if m.kind == KIND_DUPLICATE]
    assert dups
    for n, m in dups:
        assert m.duplicate_of is not None and m.duplicate_of < n
        original = plan.messages[m.duplicate_of]
        assert original.kind == KIND_VALID
        assert (original.payload, original.topic_vin) == (m.payload, m.topic_vin)


def test_now_is_respected_when_it_is_mid_day() -> None:
    now = datetime(2025, 7, 4, 0, 0, 1, tzinfo=UTC)
    plan = make_plan(seed=9, vehicles=10, days=3, now=now)
    assert plan.start == now - timedelta(days=3)
    assert max(m.publish_ms for m in plan.messages) <= to_ms(now)
