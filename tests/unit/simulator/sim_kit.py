"""Shared builders for the simulator's unit tests: reference data, scenarios and plans."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from reference.catalog import load_catalog
from simulator.publishing.logic import Plan, build_plan
from simulator.scenario.files import Scenario, parse_scenario
from simulator.scenario.params import GenerationParams, generation_params
from simulator.scenario.profiles import load_profiles
from simulator.truth.record import header_line, message_line, world_lines
from simulator.world.fleet import FleetMix

CATALOG = load_catalog()
PROFILES = load_profiles()
NOW = datetime(2026, 3, 1, 9, 30, 12, 345000, tzinfo=UTC)
# The average driver with the catalog's model weights.
MIX = FleetMix({"average": 1.0}, PROFILES, {m.name: m.weight for m in CATALOG.models})

NO_FAULTS: dict[str, Any] = {
    "duplicate_rate": 0.0,
    "dead_zone": {"per_vehicle_day": 0.0},
    "out_of_order": {"rate": 0.0},
    "clock_skew": {"per_vehicle_day": 0.0},
    "reboot": {"per_vehicle_day": 0.0},
    "odometer": {"rollback": 0.0, "jump": 0.0, "unit_error": 0.0},
    "malformed": {
        k: 0.0
        for k in (
            "invalid_json",
            "non_finite_number",
            "schema",
            "out_of_range",
            "bad_dtc",
            "vin_mismatch",
            "unknown_vin",
            "future_timestamp",
            "bad_vin",
            "oversize",
        )
    },
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, table by table."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def scenario(data: dict[str, Any] | None = None) -> Scenario:
    return parse_scenario(data or {}, "test")


def params(data: dict[str, Any] | None = None, **limits: int) -> GenerationParams:
    return generation_params(scenario(data), CATALOG, PROFILES, **limits)


def plan(data: dict[str, Any] | None = None, now: datetime = NOW, seed: int | None = None) -> Plan:
    generation = params(data)
    rng = np.random.default_rng(generation.seed if seed is None else seed)
    return build_plan(rng, generation, CATALOG, now)


def fleet_data(vehicles: int, days: int, seed: int, **sections: Any) -> dict[str, Any]:
    """A scenario table for ``vehicles`` over ``days`` with ``seed``, plus other sections."""
    return merge(
        {"scenario": {"seed": seed, "days": days}, "fleet": {"vehicles": vehicles}}, sections
    )


def truth_lines(p: Plan) -> list[bytes]:
    s = scenario()
    lines = [header_line(p, s, s.publish, "vehicles", "test")]
    lines += world_lines(p, CATALOG)
    lines += [message_line(n, m) for n, m in enumerate(p.messages)]
    return lines
