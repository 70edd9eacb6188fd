"""A seeded fleet: which vehicles exist, who sold them, and how far they had driven at the start."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from journeygate.errors import ConfigError
from simulator.catalog import Catalog, ModelSpec
from simulator.vin import make_unique_vin

MIN_AGE_DAYS = 14
MAX_AGE_DAYS = 5 * 365
NEXT_MODEL_YEAR_MONTH = 7
MAX_DRAWS = 1000
DELIVERY_KM = (5.0, 80.0)
# Average speed over a vehicle's life, used to derive engine hours from distance. Assumption.
LIFETIME_SPEED_KMH = (30.0, 45.0)
# Share of driving time a full hybrid runs its combustion engine. Assumption.
HYBRID_ENGINE_SHARE = 0.6
# Spread of a vehicle's past usage around its current mean (lognormal sigma). Assumption.
HISTORY_SIGMA = 0.15


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A simulated vehicle and its state at the start of the simulated period."""

    vin: str
    spec: ModelSpec
    model_year: int
    delivery_date: date
    dealer_id: str
    odometer_start_m: int
    engine_hours_start_h: float
    mean_daily_km: float
    weak_battery: bool

    @property
    def brand(self) -> str:
        return self.spec.brand

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def powertrain(self) -> str:
        return self.spec.powertrain


def dealer_ids(count: int) -> tuple[str, ...]:
    """``DLR-001`` .. ``DLR-<count>``."""
    return tuple(f"DLR-{i:03d}" for i in range(1, count + 1))


def generate_fleet(
    rng: np.random.Generator, catalog: Catalog, count: int, start: date, dealers: int = 20
) -> tuple[Vehicle, ...]:
    """``count`` vehicles with unique valid VINs, delivered 2 weeks to 5 years before ``start``.

    The delivery date is uniform over that window; the model year is the delivery year, or the
    next one for half the vehicles delivered from July on (when the next model year goes on
    sale); the model is drawn by weight among those offered in that model year.
    """
    dealer_pool = dealer_ids(dealers)
    usage = catalog.usage
    mu = math.log(usage.mean_daily_km) - usage.vehicle_sigma**2 / 2
    taken: set[str] = set()
    vehicles = []
    for _ in range(count):
        delivered, model_year, spec = _pick_model(rng, catalog, start)
        mean_daily_km = float(np.clip(rng.lognormal(mu, usage.vehicle_sigma), 3.0, 300.0))
        age_days = (start - delivered).days
        history = float(rng.lognormal(-(HISTORY_SIGMA**2) / 2, HISTORY_SIGMA))
        odometer_km = float(rng.uniform(*DELIVERY_KM)) + age_days * mean_daily_km * history
        wmi = spec.wmis[int(rng.integers(0, len(spec.wmis)))]
        vin = make_unique_vin(rng, wmi, model_year, taken)
        taken.add(vin)
        vehicles.append(
            Vehicle(
                vin=vin,
                spec=spec,
                model_year=model_year,
                delivery_date=delivered,
                dealer_id=dealer_pool[int(rng.integers(0, len(dealer_pool)))],
                odometer_start_m=round(odometer_km * 1000),
                engine_hours_start_h=_engine_hours(rng, spec, odometer_km),
                mean_daily_km=round(mean_daily_km, 3),
                weak_battery=bool(rng.random() < catalog.faults.weak_battery_share),
            )
        )
    return tuple(vehicles)


def _pick_model(
    rng: np.random.Generator, catalog: Catalog, start: date
) -> tuple[date, int, ModelSpec]:
    first = start - timedelta(days=MAX_AGE_DAYS)
    span_days = MAX_AGE_DAYS - MIN_AGE_DAYS
    for _ in range(MAX_DRAWS):
        delivered = first + timedelta(days=int(rng.integers(0, span_days + 1)))
        next_year = delivered.month >= NEXT_MODEL_YEAR_MONTH and rng.random() < 0.5
        model_year = delivered.year + int(next_year)
        offered = [m for m in catalog.models if m.offered_in(model_year)]
        if offered:
            weights = np.array([m.weight for m in offered])
            spec = offered[int(rng.choice(len(offered), p=weights / weights.sum()))]
            return delivered, model_year, spec
    raise ConfigError(f"no catalog model is offered in the model years sold before {start}")


def _engine_hours(rng: np.random.Generator, spec: ModelSpec, odometer_km: float) -> float:
    speed_kmh = float(rng.uniform(*LIFETIME_SPEED_KMH))
    if spec.powertrain == "ev":
        return 0.0
    share = HYBRID_ENGINE_SHARE if spec.powertrain == "hybrid" else 1.0
    return round(odometer_km / speed_kmh * share, 2)
