"""When each warranty coverage truly ends, from the delivery date and the true odometer (pure).

A coverage ends at ``years`` after delivery or when the odometer reaches ``limit_km``, whichever
comes first. Before the period the odometer is taken as growing linearly from delivery; during
it, the true end-of-day odometer decides. An end that falls after the period is not known yet:
``expires_on`` is then ``None`` and only the time limit is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from reference.catalog import Coverage, WarrantySpec
from simulator.world.fleet import Vehicle
from simulator.world.service import add_months


@dataclass(frozen=True, slots=True)
class CoverageTruth:
    coverage: str
    years: int
    limit_km: float
    time_limit_date: date
    distance_reached_on: date | None
    expires_on: date | None
    binding: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "years": self.years,
            "limit_km": round(self.limit_km, 1),
            "time_limit_date": self.time_limit_date.isoformat(),
            "distance_reached_on": _iso(self.distance_reached_on),
            "expires_on": _iso(self.expires_on),
            "binding": self.binding,
        }


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def coverages(
    vehicle: Vehicle, terms: WarrantySpec, first_day: date, trajectory_m: tuple[int, ...]
) -> tuple[CoverageTruth, ...]:
    """The truth of every coverage that applies to the vehicle's powertrain."""
    named = [("basic", terms.basic), ("powertrain", terms.powertrain)]
    if vehicle.powertrain in ("ev", "hybrid"):
        named.append(("traction_battery", terms.traction_battery))
    last_day = first_day + timedelta(days=len(trajectory_m) - 1)
    return tuple(
        _coverage(name, c, vehicle, first_day, last_day, trajectory_m) for name, c in named
    )


def _coverage(
    name: str,
    c: Coverage,
    vehicle: Vehicle,
    first_day: date,
    last_day: date,
    trajectory_m: tuple[int, ...],
) -> CoverageTruth:
    time_limit = add_months(vehicle.delivery_date, 12 * c.years)
    reached = _distance_reached(vehicle, c.limit_km * 1000, first_day, trajectory_m)
    candidates = [(d, why) for d, why in ((time_limit, "time"), (reached, "distance")) if d]
    end, why = min(candidates, key=lambda x: x[0])
    known = end <= last_day
    return CoverageTruth(
        name,
        c.years,
        c.limit_km,
        time_limit,
        reached,
        end if known else None,
        why if known else None,
    )


def _distance_reached(
    vehicle: Vehicle, limit_m: float, first_day: date, trajectory_m: tuple[int, ...]
) -> date | None:
    if vehicle.odometer_start_m >= limit_m:
        age_days = max(1, (first_day - vehicle.delivery_date).days)
        per_day_m = (vehicle.odometer_start_m - vehicle.delivery_odometer_m) / age_days
        days = math.ceil((limit_m - vehicle.delivery_odometer_m) / per_day_m)
        return vehicle.delivery_date + timedelta(days=max(0, days))
    for i, odometer in enumerate(trajectory_m):
        if odometer >= limit_m:
            return first_day + timedelta(days=i)
    return None
