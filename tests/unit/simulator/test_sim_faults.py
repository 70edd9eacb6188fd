"""Injected faults: each kind is what it claims, meets the fate the truth file promises in the
pipeline's own validation code, and occurs at its configured rate."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from jsonschema import Draft202012Validator
from sim_kit import CATALOG, MIX, NOW, fleet_data, plan

from ingest.logic import parse_topic
from kernel.errors import DataError
from kernel.vin import is_valid
from processors.normalize.validate import Accepted, RawRecord, Rules, validate
from simulator.publishing.logic import KIND_DUPLICATE, KIND_MALFORMED, KIND_VALID, Plan
from simulator.publishing.malformed import malformed_messages
from simulator.scenario.kinds import (
    EXPECTATIONS,
    FAULT_KINDS,
    FAULTS,
    FUTURE_AHEAD_MS,
    VARIANTS,
    malformed_kinds,
)
from simulator.truth.record import message_line
from simulator.world.fleet import generate_fleet
from simulator.world.usage import DAY_MS, to_ms

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "schemas" / "telemetry-v1.schema.json").read_text()
)
VALIDATOR = Draft202012Validator(SCHEMA)
NOW_MS = to_ms(NOW)
START_MS = NOW_MS - 7 * DAY_MS
FLEET = generate_fleet(np.random.default_rng(1), CATALOG, 25, date(2026, 2, 22), MIX)
FLEET_VINS = {v.vin for v in FLEET}
MAX_BYTES = 256 * 1024
ROOT = "vehicles"


def make(kind: str, count: int = 30, seed: int = 3) -> list[Any]:
    return malformed_messages(
        np.random.default_rng(seed), FLEET, [kind] * count, START_MS, NOW_MS, MAX_BYTES
    )


def sample(payload: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(payload)["sample"]
    return parsed


def test_expected_outcomes() -> None:
    assert FAULTS["bad_vin"].stage == "bridge" and FAULTS["bad_vin"].reason == "bad_topic"
    assert FAULTS["oversize"].stage == "bridge" and FAULTS["oversize"].reason == "oversize"
    for kind in FAULT_KINDS:
        if kind not in ("bad_vin", "oversize"):
            assert FAULTS[kind].stage == "normalize" and FAULTS[kind].reason == kind
    assert EXPECTATIONS["clock_far_ahead"].reason == "future_timestamp"


def test_every_variant_is_drawn() -> None:
    for kind in FAULT_KINDS:
        assert {m.variant for m in make(kind, 60)} == set(VARIANTS[kind]), kind


def test_invalid_json_variants_do_not_parse_as_an_object() -> None:
    for m in make("invalid_json"):
        try:
            value = json.loads(m.payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        assert m.variant == "not_an_object" and isinstance(value, list)


def test_non_finite_numbers_are_nan_and_infinity_literals() -> None:
    for m in make("non_finite_number"):
        assert m.variant.encode() in m.payload
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(m.payload)
        assert not math.isfinite(sample(m.payload)["Vehicle.Speed"])


def test_schema_variants_break_only_a_type_or_a_key() -> None:
    for m in make("schema"):
        errors = list(VALIDATOR.iter_errors(json.loads(m.payload)))
        assert errors, m.variant
        assert {e.validator for e in errors} <= {
            "type",
            "additionalProperties",
            "required",
            "oneOf",
        }


def test_out_of_range_and_bad_dtc_break_only_a_bound_or_the_pattern() -> None:
    for m in make("out_of_range"):
        assert [e.validator for e in VALIDATOR.iter_errors(json.loads(m.payload))] in (
            ["maximum"],
            ["minimum"],
        )
    for m in make("bad_dtc"):
        assert [e.validator for e in VALIDATOR.iter_errors(json.loads(m.payload))] == ["pattern"]


def test_vin_faults() -> None:
    for m in make("vin_mismatch"):
        assert m.payload_vin != m.topic_vin and {m.payload_vin, m.topic_vin} <= FLEET_VINS
    unknown = make("unknown_vin")
    assert len({m.topic_vin for m in unknown}) == len(unknown)
    for m in unknown:
        assert is_valid(m.topic_vin) and m.topic_vin not in FLEET_VINS
    for m in make("bad_vin"):
        with pytest.raises(DataError):
            parse_topic(ROOT, f"{ROOT}/{m.topic_vin}/telemetry")


def test_future_timestamps_are_years_ahead_and_oversize_is_otherwise_valid() -> None:
    for m in make("future_timestamp"):
        assert (
            NOW_MS + FUTURE_AHEAD_MS[0] <= sample(m.payload)["ts_ms"] <= NOW_MS + FUTURE_AHEAD_MS[1]
        )
    for m in make("oversize", count=3):
        assert len(m.payload) > MAX_BYTES
        assert list(VALIDATOR.iter_errors(json.loads(m.payload))) == []


def test_malformed_messages_use_their_own_boot_ids() -> None:
    kinds = list(FAULT_KINDS) * 4
    messages = malformed_messages(
        np.random.default_rng(4), FLEET, kinds, START_MS, NOW_MS, MAX_BYTES
    )
    assert Counter(m.kind for m in messages) == dict.fromkeys(FAULT_KINDS, 4)
    assert len({m.boot_id for m in messages}) == 40
    assert all(START_MS <= m.publish_ms <= NOW_MS for m in messages)


def pipeline_fate(
    topic_vin: str, payload: bytes, vins: set[str], ingest_ms: int
) -> tuple[str, str]:
    """What the bridge and the normalizer do with a publish, using their own pure logic."""
    try:
        vin = parse_topic(ROOT, f"{ROOT}/{topic_vin}/telemetry")
    except DataError as exc:
        return "bridge", exc.reason
    if len(payload) > MAX_BYTES:
        return "bridge", "oversize"
    headers = (("ingest_ts_ms", str(ingest_ms).encode()), ("bridge_id", b"b"))
    outcome = validate(RawRecord("raw", 0, 0, vin.encode(), payload, headers), Rules(300_000))
    if not isinstance(outcome, Accepted):
        return "normalize", str(outcome.reason)
    return ("store", "stored") if outcome.frame.vin in vins else ("normalize", "unknown_vin")


@cache
def hostile() -> Plan:
    return plan(
        fleet_data(
            30,
            10,
            5,
            fleet={"profiles": {"urban_commuter": 1, "rural_4x4": 1, "fleet_van": 1, "ev": 1}},
            faults={
                "duplicate_rate": 0.05,
                "dead_zone": {"per_vehicle_day": 0.5},
                "out_of_order": {"rate": 0.05},
                "clock_skew": {"per_vehicle_day": 0.3, "far_ahead_share": 0.4},
                "reboot": {"per_vehicle_day": 0.3},
                "odometer": {"rollback": 0.01, "jump": 0.01, "unit_error": 0.01},
                "malformed": {"min_each": 3},
            },
        )
    )


@pytest.mark.parametrize("ingest_delay_ms", [5_000, 400 * DAY_MS])
def test_the_pipeline_logic_gives_every_message_the_fate_the_truth_promises(
    ingest_delay_ms: int,
) -> None:
    p = hostile()
    vins = {v.vin for v in p.fleet}
    fates: Counter[str] = Counter()
    for n, m in enumerate(p.messages):
        line = json.loads(message_line(n, m))
        stage, reason = pipeline_fate(m.topic_vin, m.payload, vins, NOW_MS + ingest_delay_ms)
        if line["expect"] == "dead_letter":
            assert (stage, reason) == (line["expect_stage"], line["expect_reason"]), line
        else:
            assert (stage, reason) == ("store", "stored"), line
        fates[line["fault"] if "fault" in line else line["expect"]] += 1
    assert set(fates) >= {*FAULT_KINDS, "clock_far_ahead", "stored", "absorbed"}
    tags = Counter(t for m in p.messages if m.kind == KIND_VALID for t in m.tags)
    assert set(tags) >= {
        "dead_zone",
        "out_of_order",
        "clock_skew",
        "reboot",
        "odometer_rollback",
        "odometer_jump",
        "odometer_unit_error",
    }


def within(got: int, n: float, p: float, slack: int = 0) -> bool:
    """``got`` is within 5 standard deviations of Binomial(n, p) (plus ``slack``)."""
    return abs(got - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + slack


RATES: dict[str, Any] = {
    "duplicate_rate": 0.03,
    "dead_zone": {"per_vehicle_day": 0.08, "duration_min": [5, 30]},
    "out_of_order": {"rate": 0.02, "overtaken_by": [1, 2]},
    "clock_skew": {"per_vehicle_day": 0.05, "far_ahead_share": 0.25},
    "reboot": {"per_vehicle_day": 0.1},
    "odometer": {"rollback": 0.004, "jump": 0.002, "unit_error": 0.003},
    "malformed": {
        "invalid_json": 0.004,
        "non_finite_number": 0.002,
        "schema": 0.003,
        "out_of_range": 0.001,
        "bad_dtc": 0.002,
        "vin_mismatch": 0.003,
        "unknown_vin": 0.002,
        "future_timestamp": 0.001,
        "bad_vin": 0.002,
        "oversize": 0.001,
    },
}


@cache
def rated() -> Plan:
    return plan(fleet_data(60, 40, 21, faults=RATES))


def test_repeats_and_malformed_kinds_occur_at_their_rates() -> None:
    p = rated()
    kinds = Counter(m.kind for m in p.messages)
    stream = kinds[KIND_VALID]
    assert within(kinds[KIND_DUPLICATE], stream, RATES["duplicate_rate"])
    faults = Counter(m.fault for m in p.messages if m.kind == KIND_MALFORMED)
    for kind, rate in RATES["malformed"].items():
        assert within(faults[kind], stream, rate), (kind, faults[kind], stream * rate)


def test_episodes_occur_at_their_rates_per_vehicle_day() -> None:
    p = rated()
    vehicle_days = len(p.fleet) * 40
    events = Counter(e.kind for v in p.vehicles for e in v.events)
    for kind, rate in (("dead_zone", 0.08), ("clock_skew", 0.05), ("reboot", 0.1)):
        assert within(events[kind], vehicle_days, rate), (kind, events[kind])
    skews = [e for v in p.vehicles for e in v.events if e.kind == "clock_skew"]
    far = sum(1 for e in skews if getattr(e, "far_ahead", False))
    assert within(far, len(skews), 0.25)


def test_per_message_and_per_sample_faults_occur_at_their_rates() -> None:
    p = rated()
    stream = [m for m in p.messages if m.device is not None and m.kind != KIND_DUPLICATE]
    moved = sum(1 for m in stream if "out_of_order" in m.tags)
    assert within(moved, len(stream), 0.02, slack=2 * len(p.fleet))
    readings = [r for m in stream for r in m.device.readings]  # type: ignore[union-attr]
    glitches = Counter(r.glitch for r in readings)
    for kind in ("rollback", "jump", "unit_error"):
        assert within(glitches[kind], len(readings), RATES["odometer"][kind]), kind


def test_min_each_guarantees_every_kind_and_zero_rates_produce_none() -> None:
    rng = np.random.default_rng(0)
    rates = dict.fromkeys(FAULT_KINDS, 0.0) | {"schema": 1e-9, "oversize": 1e-9}
    assert Counter(malformed_kinds(rng, 10, rates, min_each=2)) == {"schema": 2, "oversize": 2}
    assert malformed_kinds(rng, 10_000, dict.fromkeys(FAULT_KINDS, 0.0), min_each=5) == []


def test_single_vehicle_fleet_skips_vin_mismatch() -> None:
    p = plan(fleet_data(1, 7, 3, faults={"malformed": {"min_each": 1}}))
    faults = {m.fault for m in p.messages if m.kind == KIND_MALFORMED}
    assert "vin_mismatch" not in faults
    assert faults >= set(FAULT_KINDS) - {"vin_mismatch"}
