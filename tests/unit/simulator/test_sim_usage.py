"""Usage model, publish clock, reference data and parameter checks."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_kit import CATALOG, MIX, PROFILES

from kernel.errors import ConfigError
from reference.catalog import KM_PER_MILE, load_catalog
from simulator.publishing.clock import Pacer
from simulator.scenario.params import SimulationParams
from simulator.scenario.profiles import Profile
from simulator.world.fleet import generate_fleet
from simulator.world.usage import DAY_MS, plan_days, to_ms

AVERAGE = PROFILES["average"]
NOW_MS = to_ms(datetime(2026, 3, 2, tzinfo=UTC))


def daily_km(seed: int, mean_km: float, days: int, profile: Profile = AVERAGE) -> dict[date, float]:
    plan = plan_days(
        np.random.default_rng(seed), profile, mean_km, NOW_MS - days * DAY_MS, NOW_MS, 0
    )
    return {d.day: sum(t.distance_m for t in d.trips) / 1000 for d in plan}


def test_average_profile_matches_fhwa_annual_distance() -> None:
    assert AVERAGE.mean_daily_km == pytest.approx(13476 * KM_PER_MILE / 365.25, rel=1e-4)
    assert 58 < AVERAGE.mean_daily_km < 60


def test_long_run_daily_distance_matches_the_vehicle_mean() -> None:
    km = daily_km(seed=1, mean_km=50.0, days=2000)
    assert statistics.fmean(km.values()) == pytest.approx(50.0, rel=0.06)


def test_weekends_are_lighter_and_some_days_are_idle() -> None:
    km = daily_km(seed=2, mean_km=60.0, days=1500)
    weekday = [v for d, v in km.items() if d.weekday() < 5]
    weekend = [v for d, v in km.items() if d.weekday() >= 5]
    assert statistics.fmean(weekend) < statistics.fmean(weekday)
    idle = sum(1 for v in km.values() if v == 0) / len(km)
    assert 0.05 < idle < 0.2


@given(seed=st.integers(0, 2**31), mean_km=st.floats(3.0, 300.0), days=st.integers(1, 20))
@settings(max_examples=50, deadline=None)
def test_events_are_ordered_and_inside_the_period(seed: int, mean_km: float, days: int) -> None:
    start_ms = NOW_MS - days * DAY_MS - 12_345
    margin_ms = 60_000
    plan = plan_days(np.random.default_rng(seed), AVERAGE, mean_km, start_ms, NOW_MS, margin_ms)
    times: list[int] = []
    for d in plan:
        if d.heartbeat_ms is not None:
            times.append(d.heartbeat_ms)
        for t in d.trips:
            assert t.distance_m > 0 and t.end_ms > t.start_ms
            times += [t.start_ms, t.end_ms]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(start_ms <= t <= NOW_MS - margin_ms for t in times)


def test_fleet_mix_and_ages() -> None:
    start = date(2026, 3, 1)
    fleet = generate_fleet(np.random.default_rng(3), CATALOG, 400, start, MIX)
    assert {v.powertrain for v in fleet} == {"ice", "hybrid", "ev"}
    assert {v.brand for v in fleet} == {m.brand for m in CATALOG.models if m.body != "van"}
    assert all(14 <= (start - v.delivery_date).days <= 5 * 365 for v in fleet)
    assert all(v.spec.offered_in(v.model_year) for v in fleet)
    assert all(v.delivery_date.year - 1 <= v.model_year <= v.delivery_date.year + 1 for v in fleet)
    assert len({v.dealer_id for v in fleet}) == 20
    older = [v for v in fleet if (start - v.delivery_date).days > 3 * 365]
    newer = [v for v in fleet if (start - v.delivery_date).days < 365]
    assert statistics.fmean(v.odometer_start_m for v in older) > 2 * statistics.fmean(
        v.odometer_start_m for v in newer
    )
    assert all(v.engine_hours_start_h == 0 for v in fleet if v.powertrain == "ev")


def test_pacer_paces_by_simulated_time_or_target_rate_and_caps() -> None:
    unpaced = Pacer(sim_start_ms=1_000)
    assert unpaced.due_s(7, 10_000_000, 5.0) == 0.0
    hourly = Pacer(sim_start_ms=0, speedup=3600)
    assert hourly.due_s(0, 3_600_000, None) == pytest.approx(1.0)
    assert hourly.wall_span_s(28 * DAY_MS, 10) == pytest.approx(28 * 24.0)
    steady = Pacer(sim_start_ms=0, rate_per_s=100)
    assert steady.due_s(0, 0, None) == 0.0
    assert steady.due_s(250, 0, 0.1) == pytest.approx(2.5)
    assert steady.wall_span_s(0, 101) == pytest.approx(1.0)
    capped = Pacer(sim_start_ms=0, max_rate_per_s=10)
    assert capped.due_s(1, 0, 2.0) == pytest.approx(2.1)
    assert capped.wall_span_s(0, 11) == pytest.approx(1.0)
    both = Pacer(sim_start_ms=0, speedup=1000, max_rate_per_s=10)
    assert both.due_s(3, 5_000_000, 1.0) == pytest.approx(5.0)
    assert both.due_s(3, 1_000, 1.0) == pytest.approx(1.1)


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"vehicles": 0}, "--vehicles"),
        ({"days": 0}, "--days"),
        ({"duplicate_rate": 1.5}, "--duplicate-rate"),
        ({"malformed_rate": -0.1}, "--malformed-rate"),
        ({"malformed_kinds": ("nonsense",)}, "--malformed-kinds"),
        ({"vehicles": 1, "malformed_kinds": ("vin_mismatch",)}, "--malformed-kinds"),
        ({"speedup": -1.0}, "--speedup"),
        ({"rate_per_s": -2.0}, "--rate"),
        ({"speedup": 10.0, "rate_per_s": 5.0}, "speedup and rate are exclusive"),
        ({"connections": 0}, "--connections"),
        ({"max_inflight": 70_000}, "--max-inflight"),
        ({"now": datetime(2026, 1, 1)}, "--now"),  # noqa: DTZ001 - naive on purpose
        ({"seed": -1}, "--seed"),
        ({"ack_timeout_s": 0.0}, "ack_timeout_s"),
    ],
)
def test_bad_simulation_params_are_one_line_config_errors(
    kwargs: dict[str, object], flag: str
) -> None:
    with pytest.raises(ConfigError, match=flag) as caught:
        SimulationParams(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_overrides_replace_scenario_values() -> None:
    params = SimulationParams(vehicles=7, malformed_kinds=("oversize",), malformed_rate=0.5)
    effective = params.effective()
    assert effective.fleet.vehicles == 7
    rates = effective.faults.malformed.rates()
    assert rates["oversize"] == 0.5 and sum(rates.values()) == 0.5
    generation = params.generation(CATALOG, PROFILES, max_payload_bytes=1000)
    assert generation.vehicles == 7 and generation.max_payload_bytes == 1000
    assert SimulationParams(max_rate_per_s=3.0).publish.max_rate == 3.0


def test_broken_catalog_is_a_config_error(tmp_path: Path) -> None:
    text = (Path(__file__).parents[3] / "reference" / "data" / "models.toml").read_text()
    bad = tmp_path / "models.toml"
    bad.write_text(text.replace('powertrain = "ev"', 'powertrain = "steam"', 1))
    with pytest.raises(ConfigError, match="powertrain"):
        load_catalog(bad)
    with pytest.raises(ConfigError):
        load_catalog(tmp_path / "missing.toml")
