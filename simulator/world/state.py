"""How one vehicle's readings evolve: energy (fuel or charge), engine hours, 12 V battery.

All functions are pure apart from drawing from the generator they are given and updating the
:class:`VehicleState` that belongs to the vehicle being generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reference.catalog import ModelSpec
from simulator.world.fleet import HYBRID_ENGINE_SHARE, Vehicle

# Energy left below which the driver refuels or fast-charges before a trip, and the range a
# refuel / charge ends in (percent). Assumptions.
RESERVE_PCT = 8.0
REFUEL_TO_PCT = (85.0, 100.0)
FAST_CHARGE_TO_PCT = (80.0, 95.0)
# An EV is plugged in overnight when its charge is below a threshold drawn from this range and
# charged to a level in the second range. Assumptions.
OVERNIGHT_PLUG_BELOW_PCT = (30.0, 70.0)
OVERNIGHT_CHARGE_TO_PCT = (80.0, 90.0)
MIN_ENERGY_PCT = 2.0
CONSUMPTION_SIGMA = 0.1
# 12 V battery voltage by phase (V): resting, weak battery resting, alternator / DC-DC charging
# while driving. A healthy lead-acid battery rests at 12.4-12.8 V; charging is 13.5-14.7 V.
PARKED_V = (12.3, 12.8)
WEAK_PARKED_V = (11.8, 12.2)
DRIVING_V = (13.6, 14.7)
EV_DRIVING_V = (13.5, 14.4)


@dataclass(slots=True)
class VehicleState:
    """Mutable readings of one vehicle while its messages are generated. ``active_dtcs`` maps
    each active code to the date ordinal it clears itself on (``None``: until a service)."""

    odometer_m: int
    engine_hours_h: float
    energy_pct: float
    active_dtcs: dict[str, int | None] = field(default_factory=dict)

    @property
    def dtcs(self) -> tuple[str, ...]:
        return tuple(sorted(self.active_dtcs))


def initial_state(rng: np.random.Generator, vehicle: Vehicle) -> VehicleState:
    return VehicleState(
        odometer_m=vehicle.odometer_start_m,
        engine_hours_h=vehicle.engine_hours_start_h,
        energy_pct=float(rng.uniform(35.0, 95.0)),
    )


def energy_use_pct(rng: np.random.Generator, spec: ModelSpec, km: float) -> float:
    """Percent of tank or battery used to drive ``km``."""
    noise = float(rng.lognormal(-(CONSUMPTION_SIGMA**2) / 2, CONSUMPTION_SIGMA))
    if spec.powertrain == "ev":
        return km * spec.energy_kwh_per_100km / 100.0 / spec.battery_kwh * 100.0 * noise
    return km * spec.fuel_l_per_100km / 100.0 / spec.tank_l * 100.0 * noise


def refill_if_needed(
    rng: np.random.Generator, spec: ModelSpec, state: VehicleState, use_pct: float
) -> None:
    """Refuel or fast-charge before a trip that would end below the reserve."""
    if state.energy_pct - use_pct < RESERVE_PCT:
        target = FAST_CHARGE_TO_PCT if spec.powertrain == "ev" else REFUEL_TO_PCT
        state.energy_pct = max(state.energy_pct, float(rng.uniform(*target)))


def overnight(rng: np.random.Generator, spec: ModelSpec, state: VehicleState) -> None:
    """An EV is plugged in at home when its charge is low enough."""
    if spec.powertrain != "ev":
        return
    threshold = float(rng.uniform(*OVERNIGHT_PLUG_BELOW_PCT))
    if state.energy_pct < threshold:
        state.energy_pct = float(rng.uniform(*OVERNIGHT_CHARGE_TO_PCT))


def drive(
    state: VehicleState, spec: ModelSpec, distance_m: int, hours: float, use_pct: float
) -> None:
    """Advance odometer, engine hours and energy by a stretch of driving."""
    state.odometer_m += distance_m
    state.energy_pct = max(MIN_ENERGY_PCT, state.energy_pct - use_pct)
    if spec.powertrain == "ice":
        state.engine_hours_h += hours
    elif spec.powertrain == "hybrid":
        state.engine_hours_h += hours * HYBRID_ENGINE_SHARE


def battery_v(rng: np.random.Generator, vehicle: Vehicle, driving: bool) -> float:
    """12 V battery voltage, within 11.8-14.7 V."""
    if driving:
        span = EV_DRIVING_V if vehicle.powertrain == "ev" else DRIVING_V
    else:
        span = WEAK_PARKED_V if vehicle.weak_battery else PARKED_V
    return round(float(rng.uniform(*span)), 2)
