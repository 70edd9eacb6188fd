"""Injected faults: each malformed kind is what it claims to be, and rates are as configured."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from jsonschema import Draft202012Validator

from simulator.catalog import load_catalog
from simulator.faults import FAULT_KINDS, FAULTS, Malformed, malformed_messages
from simulator.fleet import generate_fleet
from simulator.logic import KIND_DUPLICATE, KIND_MALFORMED, KIND_VALID, build_plan
from simulator.params import GenerationParams, SimulationParams
from simulator.truth import message_line
from simulator.usage import DAY_MS, to_ms
from simulator.vin import is_valid

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "schemas" / "telemetry-v1.schema.json").read_text()
)
VALIDATOR = Draft202012Validator(SCHEMA)
CATALOG = load_catalog()
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
NOW_MS = to_ms(NOW)
START_MS = NOW_MS - 7 * DAY_MS
FLEET = generate_fleet(np.random.default_rng(1), CATALOG, 25, date(2026, 2, 22))
FLEET_VINS = {v.vin for v in FLEET}
MAX_BYTES = 256 * 1024


def make(kind: str, count: int = 12, seed: int = 3) -> list[Malformed]:
    return malformed_messages(
        np.random.default_rng(seed), FLEET, count, (kind,), START_MS, NOW_MS, MAX_BYTES
    )


def schema_errors(payload: bytes) -> list[Any]:
    return list(VALIDATOR.iter_errors(json.loads(payload)))


def sample(payload: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(payload)["sample"]
    return parsed


def test_expected_outcomes() -> None:
    assert FAULTS["bad_vin"].stage == "bridge" and FAULTS["bad_vin"].reason == "bad_topic"
    assert FAULTS["oversize"].stage == "bridge" and FAULTS["oversize"].reason == "oversize"
    for kind in FAULT_KINDS:
        if kind not in ("bad_vin", "oversize"):
            assert FAULTS[kind].stage == "normalize" and FAULTS[kind].reason == kind


def test_invalid_json_does_not_parse() -> None:
    for m in make("invalid_json"):
        with pytest.raises(json.JSONDecodeError):
            json.loads(m.payload)


def test_non_finite_number_is_a_nan_literal() -> None:
    for m in make("non_finite_number"):
        assert b"NaN" in m.payload
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(m.payload)
        assert math.isnan(sample(m.payload)["Vehicle.Speed"])


def test_schema_fault_puts_a_string_where_a_number_belongs() -> None:
    for m in make("schema"):
        errors = schema_errors(m.payload)
        assert [e.validator for e in errors] == ["type"]
        assert isinstance(sample(m.payload)["Vehicle.Speed"], str)


def test_out_of_range_is_speed_900() -> None:
    for m in make("out_of_range"):
        assert sample(m.payload)["Vehicle.Speed"] == 900.0
        assert [e.validator for e in schema_errors(m.payload)] == ["maximum"]


def test_bad_dtc_breaks_only_the_code_pattern() -> None:
    for m in make("bad_dtc"):
        assert [e.validator for e in schema_errors(m.payload)] == ["pattern"]
        assert len(sample(m.payload)["Vehicle.Diagnostics.DTCList"]) == 1


def test_vin_mismatch_names_another_registered_vehicle() -> None:
    for m in make("vin_mismatch"):
        assert m.payload_vin != m.topic_vin
        assert {m.payload_vin, m.topic_vin} <= FLEET_VINS
        assert json.loads(m.payload)["vin"] == m.payload_vin
        assert schema_errors(m.payload) == []


def test_unknown_vin_is_valid_but_not_registered() -> None:
    vins = [m.topic_vin for m in make("unknown_vin")]
    assert len(set(vins)) == len(vins)
    for m in make("unknown_vin"):
        assert m.payload_vin == m.topic_vin
        assert is_valid(m.topic_vin) and m.topic_vin not in FLEET_VINS
        assert schema_errors(m.payload) == []


def test_future_timestamp_is_a_day_after_now() -> None:
    for m in make("future_timestamp"):
        assert sample(m.payload)["ts_ms"] == NOW_MS + DAY_MS
        assert schema_errors(m.payload) == []


def test_bad_vin_has_16_characters_in_topic_and_payload() -> None:
    for m in make("bad_vin"):
        assert len(m.topic_vin) == 16 and m.topic_vin == m.payload_vin
        assert json.loads(m.payload)["vin"] == m.topic_vin


def test_oversize_is_otherwise_a_valid_payload() -> None:
    for m in make("oversize", count=3):
        assert len(m.payload) > MAX_BYTES
        assert schema_errors(m.payload) == []


def test_malformed_messages_use_their_own_boot_ids() -> None:
    messages = malformed_messages(
        np.random.default_rng(4), FLEET, 40, FAULT_KINDS, START_MS, NOW_MS, MAX_BYTES
    )
    assert Counter(m.kind for m in messages) == dict.fromkeys(FAULT_KINDS, 4)
    assert len({m.boot_id for m in messages}) == 40
    assert all(m.boot_id.startswith("bad-") for m in messages)
    assert all(START_MS <= m.publish_ms <= NOW_MS for m in messages)


def test_every_kind_reaches_the_plan_and_truth_with_its_reason() -> None:
    params = GenerationParams(vehicles=10, days=7, seed=8, malformed_rate=0.1)
    plan = build_plan(np.random.default_rng(8), params, CATALOG, NOW)
    seen = {}
    for n, m in enumerate(plan.messages):
        if m.kind == KIND_MALFORMED:
            line = json.loads(message_line(n, m))
            seen[line["fault"]] = (line["expect_stage"], line["expect_reason"])
    assert seen == {k: (FAULTS[k].stage, FAULTS[k].reason) for k in FAULT_KINDS}


@pytest.mark.parametrize(("duplicate_rate", "malformed_rate"), [(0.02, 0.01), (0.1, 0.05)])
def test_rates_are_roughly_as_configured(duplicate_rate: float, malformed_rate: float) -> None:
    params = GenerationParams(
        vehicles=40, days=14, seed=21, duplicate_rate=duplicate_rate, malformed_rate=malformed_rate
    )
    kinds = Counter(
        m.kind for m in build_plan(np.random.default_rng(21), params, CATALOG, NOW).messages
    )
    valid = kinds[KIND_VALID]
    observed = ((duplicate_rate, kinds[KIND_DUPLICATE]), (malformed_rate, kinds[KIND_MALFORMED]))
    for rate, got in observed:
        expected = valid * rate
        assert abs(got - expected) <= 5 * math.sqrt(valid * rate * (1 - rate)), (rate, got, valid)


def test_no_faults_when_rates_are_zero() -> None:
    params = GenerationParams(vehicles=5, days=3, seed=2, duplicate_rate=0.0, malformed_rate=0.0)
    plan = build_plan(np.random.default_rng(2), params, CATALOG, NOW)
    assert {m.kind for m in plan.messages} == {KIND_VALID}


def test_simulation_params_carry_generation_settings() -> None:
    sim = SimulationParams(vehicles=7, malformed_kinds=("oversize",), malformed_rate=0.5)
    generation = sim.generation(max_payload_bytes=1000)
    assert generation.vehicles == 7 and generation.max_payload_bytes == 1000
    assert generation.malformed_kinds == ("oversize",)


def test_single_vehicle_fleet_skips_vin_mismatch() -> None:
    params = GenerationParams(vehicles=1, days=7, seed=3, malformed_rate=0.5)
    plan = build_plan(np.random.default_rng(3), params, CATALOG, NOW)
    faults = {m.fault for m in plan.messages if m.kind == KIND_MALFORMED}
    assert faults == set(FAULT_KINDS) - {"vin_mismatch"}
