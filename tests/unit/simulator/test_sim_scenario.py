"""Scenario files: the shipped ones are valid, and every mistake is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_kit import CATALOG, PROFILES

from kernel.errors import ConfigError
from simulator.scenario.faults import MalformedFaults
from simulator.scenario.files import SCENARIO_DIR, Scenario, load_scenario, resolve_path
from simulator.scenario.kinds import FAULT_KINDS
from simulator.scenario.params import SimulationParams, generation_params

SHIPPED = sorted(SCENARIO_DIR.glob("*.toml"))


def load(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_scenario(path, CATALOG, PROFILES)


def test_the_shipped_scenarios_are_valid_and_resolve() -> None:
    assert {p.stem for p in SHIPPED} >= {
        "smoke",
        "mixed-fleet",
        "hostile-network",
        "rural-seasonal",
        "high-mileage",
        "noisy-days",
    }
    for path in SHIPPED:
        scenario = load_scenario(path, CATALOG, PROFILES)
        assert scenario.scenario.name == path.stem
        assert scenario.scenario.description
        generation = generation_params(scenario, CATALOG, PROFILES, source=str(path))
        assert sum(generation.profiles.values()) == pytest.approx(1.0)


def test_mixed_fleet_uses_all_five_profiles_and_hostile_network_every_fault() -> None:
    mixed = load_scenario(resolve_path("mixed-fleet"), CATALOG, PROFILES)
    assert set(mixed.fleet.profiles) == {
        "urban_commuter",
        "rural_4x4",
        "fleet_van",
        "second_car",
        "ev",
    }
    hostile = load_scenario(resolve_path("hostile-network"), CATALOG, PROFILES)
    faults = hostile.faults
    assert faults.duplicate_rate > 0 and faults.out_of_order.rate > 0
    assert faults.dead_zone.per_vehicle_day > 0 and faults.reboot.per_vehicle_day > 0
    assert faults.clock_skew.per_vehicle_day > 0 and faults.clock_skew.far_ahead_share > 0
    assert min(faults.odometer.rollback, faults.odometer.jump, faults.odometer.unit_error) > 0
    assert all(rate > 0 for rate in faults.malformed.rates().values())


def test_an_empty_file_is_the_built_in_scenario(tmp_path: Path) -> None:
    assert load(tmp_path, "") == Scenario()
    assert set(MalformedFaults().rates()) == set(FAULT_KINDS)


def test_resolve_path_finds_shipped_scenarios_by_name() -> None:
    assert resolve_path("smoke") == SCENARIO_DIR / "smoke.toml"
    assert resolve_path("my/own.toml") == Path("my/own.toml")


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[fleet]\nvehicles = 0\n", "fleet.vehicles", "greater than or equal to 1"),
        ("[fleet]\nvehicle = 3\n", "fleet.vehicle", "unknown key"),
        (
            "[faults.dead_zone]\nper_vehicle_day = -1\n",
            "faults.dead_zone.per_vehicle_day",
            "greater than or equal to 0",
        ),
        ("[faults.malformed]\nschema = 2\n", "faults.malformed.schema", "less than or equal"),
        ("[faults.odometer]\njump_km = [5, 1]\n", "faults.odometer.jump_km", "low <= high"),
        ("[owners.service]\nlate = 'often'\n", "owners.service.late", "valid number"),
        ("[publish]\nspeedup = 2\nrate = 3\n", "publish", "exclusive"),
        ("[scenario]\nend = 2026-01-01T00:00:00\n", "scenario.end", "time zone"),
        ("[fleet.profiles]\nurbn = 1\n", "fleet.profiles.urbn", "unknown profile"),
        ("[fleet.models]\n'Trabant 601' = 1\n", "fleet.models.Trabant 601", "unknown model"),
        ("[profiles.ev]\nannual_km = -5\n", "profiles.ev.annual_km", "greater than 0"),
        ("[profiles.ev]\nweekday_factors = [1, 2]\n", "profiles.ev.weekday_factors", "7 items"),
        (
            "[fleet.profiles]\nfleet_van = 1\n[fleet.models]\n'Ford Transit' = 0\n"
            "'Ford E-Transit' = 0\n",
            "fleet.profiles.fleet_van",
            "no catalog model",
        ),
        ("[fleet\nvehicles = 3\n", "not valid TOML", "line 1"),
    ],
)
def test_mistakes_are_one_line_naming_file_and_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "s.toml"))
    assert key in message and problem in message, message


def test_a_missing_scenario_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.toml", CATALOG, PROFILES)


def test_a_skew_beyond_the_future_tolerance_is_refused() -> None:
    scenario = Scenario.model_validate({"faults": {"clock_skew": {"offset_s": [-10, 400]}}})
    with pytest.raises(ConfigError, match=r"faults\.clock_skew\.offset_s"):
        generation_params(scenario, CATALOG, PROFILES, future_tolerance_ms=300_000)
    generation_params(scenario, CATALOG, PROFILES, future_tolerance_ms=500_000)


def test_profile_overrides_and_flags_apply_on_top_of_the_file(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        "[fleet]\nvehicles = 9\n[fleet.profiles]\nev = 1\n[profiles.ev]\nannual_km = 30000\n",
    )
    generation = generation_params(scenario, CATALOG, PROFILES)
    assert generation.profile_specs["ev"].annual_km == 30000
    assert generation.profile_specs["ev"].sample_interval_s == PROFILES["ev"].sample_interval_s
    params = SimulationParams(scenario=scenario, vehicles=3, duplicate_rate=0.2)
    assert params.effective().fleet.vehicles == 3
    assert params.effective().faults.duplicate_rate == 0.2
    assert params.effective().fleet.profiles == {"ev": 1.0}


def test_horizon_market_world_and_services_keys(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        '[scenario]\nhorizon_days = 30\n[fleet]\nmarket = "DE"\n'
        "[dealers]\nprice_level_sigma = 0.2\n[invoices]\nother_repair_usd = [10, 20]\n"
        "[wear]\nlife_sigma = 0.25\n[value]\nmarket_sigma = 0\n[publish]\nservices = false\n",
    )
    generation = generation_params(scenario, CATALOG, PROFILES)
    assert (generation.horizon_days, generation.market) == (30, "DE")
    assert generation.dealer_prices.price_level_sigma == 0.2
    assert generation.invoices.other_repair_usd == (10, 20)
    assert generation.wear.life_sigma == 0.25 and generation.value.market_sigma == 0
    assert Scenario().scenario.horizon_days == 0 and Scenario().publish.services is True
    params = SimulationParams(scenario=scenario, horizon_days=7, services=True)
    assert params.effective().scenario.horizon_days == 7 and params.publish.services is True
    with pytest.raises(ConfigError, match=r"fleet\.market: unknown market 'XX'"):
        load(tmp_path, '[fleet]\nmarket = "XX"\n')
    with pytest.raises(ConfigError, match=r"wear\.life_sigma"):
        load(tmp_path, "[wear]\nlife_sigma = -1\n")
    with pytest.raises(ConfigError, match="--horizon-days"):
        SimulationParams(horizon_days=-1)
