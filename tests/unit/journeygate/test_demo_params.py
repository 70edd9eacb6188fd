"""What ``journeygate demo`` simulates: its own small fleet, or a scenario with values given."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from journeygate.demo import DEFAULTS, simulation_params
from kernel.errors import ConfigError
from simulator.scenario.files import BUILT_IN, SCENARIO_DIR

TRUTH = Path("truth.jsonl")
NOTHING_GIVEN = dict.fromkeys(DEFAULTS)


def test_without_a_scenario_the_demo_runs_its_own_small_fleet() -> None:
    params = simulation_params(None, TRUTH, None, **NOTHING_GIVEN, horizon_days=180)
    run = params.effective()
    assert params.scenario_source == BUILT_IN
    assert (run.fleet.vehicles, run.scenario.days, run.scenario.seed) == (300, 28, 42)
    assert run.faults.duplicate_rate == 0.01
    assert run.faults.malformed.total == pytest.approx(0.002)
    assert run.scenario.horizon_days == 180
    assert params.truth_path == TRUTH


def test_a_scenario_keeps_its_own_values_unless_given() -> None:
    own = simulation_params("mixed-fleet", TRUTH, None, **NOTHING_GIVEN, horizon_days=0)
    run = own.effective()
    assert own.scenario_source == str(SCENARIO_DIR / "mixed-fleet.toml")
    assert (run.fleet.vehicles, run.scenario.days, run.scenario.seed) == (200, 28, 2026)
    given = {**NOTHING_GIVEN, "vehicles": 500, "days": 60, "seed": 7, "malformed_rate": 0.0}
    run = simulation_params("mixed-fleet", TRUTH, None, **given, horizon_days=0).effective()
    assert (run.fleet.vehicles, run.scenario.days, run.scenario.seed) == (500, 60, 7)
    assert run.faults.malformed.total == 0.0
    assert run.fleet.dealers == 12  # what was not given stays the scenario's


def test_now_ends_the_period_and_needs_a_zone() -> None:
    params = simulation_params(
        "rural-seasonal", TRUTH, "2026-03-01T12:00:00+00:00", **NOTHING_GIVEN, horizon_days=0
    )
    assert params.effective().scenario.end == datetime(2026, 3, 1, 12, tzinfo=UTC)
    kept = simulation_params("rural-seasonal", TRUTH, None, **NOTHING_GIVEN, horizon_days=0)
    assert kept.effective().scenario.end == datetime(2025, 10, 31, 23, tzinfo=UTC)
    with pytest.raises(ConfigError, match="time zone"):
        simulation_params(None, TRUTH, "2026-03-01T12:00:00", **NOTHING_GIVEN, horizon_days=0)
