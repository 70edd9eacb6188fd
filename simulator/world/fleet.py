"""A seeded fleet: which vehicles exist, who sold them, and how far they had driven at the start."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from kernel.errors import ConfigError
from reference.catalog import Catalog, ModelSpec
from simulator.scenario.profiles import Profile
from simulator.world.vin import make_unique_vin

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
    profile: str
    model_year: int
    delivery_date: date
    dealer_id: str
    delivery_odometer_m: int
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


@dataclass(frozen=True, slots=True)
class FleetMix:
    """Who is in the fleet: profile shares (summing to 1), the profiles, model weights by name."""

    shares: Mapping[str, float]
    profiles: Mapping[str, Profile]
    model_weights: Mapping[str, float]


def dealer_ids(count: int) -> tuple[str, ...]:
    """``DLR-001`` .. ``DLR-<count>``."""
    return tuple(f"DLR-{i:03d}" for i in range(1, count + 1))


def generate_fleet(
    rng: np.random.Generator,
    catalog: Catalog,
    count: int,
    start: date,
    mix: FleetMix,
    dealers: int = 20,
) -> tuple[Vehicle, ...]:
    """``count`` vehicles with unique valid VINs, delivered 2 weeks to 5 years before ``start``.

    Each vehicle's usage profile is drawn by share. The delivery date is uniform over the age
    window; the model year is the delivery year, or the next one for half the vehicles delivered
    from July on (when the next model year goes on sale); the model is drawn by weight among
    those offered in that model year that the profile allows.
    """
    dealer_pool = dealer_ids(dealers)
    names = sorted(mix.shares)
    shares = np.array([mix.shares[n] for n in names])
    taken: set[str] = set()
    vehicles = []
    for _ in range(count):
        profile_name = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        profile = mix.profiles[profile_name]
        delivered, model_year, spec = _pick_model(rng, catalog, start, profile, mix.model_weights)
        sigma = profile.vehicle_sigma
        mu = math.log(profile.mean_daily_km) - sigma**2 / 2
        mean_daily_km = float(np.clip(rng.lognormal(mu, sigma), 1.0, profile.max_day_km))
        age_days = (start - delivered).days
        history = float(rng.lognormal(-(HISTORY_SIGMA**2) / 2, HISTORY_SIGMA))
        delivery_km = float(rng.uniform(*DELIVERY_KM))
        odometer_km = delivery_km + age_days * mean_daily_km * history
        wmi = spec.wmis[int(rng.integers(0, len(spec.wmis)))]
        vin = make_unique_vin(rng, wmi, model_year, taken)
        taken.add(vin)
        vehicles.append(
            Vehicle(
                vin=vin,
                spec=spec,
                profile=profile_name,
                model_year=model_year,
                delivery_date=delivered,
                dealer_id=dealer_pool[int(rng.integers(0, len(dealer_pool)))],
                delivery_odometer_m=round(delivery_km * 1000),
                odometer_start_m=round(odometer_km * 1000),
                engine_hours_start_h=_engine_hours(rng, spec, odometer_km),
                mean_daily_km=round(mean_daily_km, 3),
                weak_battery=bool(rng.random() < catalog.weak_battery_share),
            )
        )
    return tuple(vehicles)


def _pick_model(
    rng: np.random.Generator,
    catalog: Catalog,
    start: date,
    profile: Profile,
    weights_by_name: Mapping[str, float],
) -> tuple[date, int, ModelSpec]:
    first = start - timedelta(days=MAX_AGE_DAYS)
    span_days = MAX_AGE_DAYS - MIN_AGE_DAYS
    for _ in range(MAX_DRAWS):
        delivered = first + timedelta(days=int(rng.integers(0, span_days + 1)))
        next_year = delivered.month >= NEXT_MODEL_YEAR_MONTH and rng.random() < 0.5
        model_year = delivered.year + int(next_year)
        offered = [
            m
            for m in catalog.models
            if m.offered_in(model_year) and profile.allows(m) and weights_by_name[m.name] > 0
        ]
        if offered:
            weights = np.array([weights_by_name[m.name] for m in offered])
            spec = offered[int(rng.choice(len(offered), p=weights / weights.sum()))]
            return delivered, model_year, spec
    raise ConfigError(f"no catalog model fits the profile in the model years sold before {start}")


def _engine_hours(rng: np.random.Generator, spec: ModelSpec, odometer_km: float) -> float:
    speed_kmh = float(rng.uniform(*LIFETIME_SPEED_KMH))
    if spec.powertrain == "ev":
        return 0.0
    share = HYBRID_ENGINE_SHARE if spec.powertrain == "hybrid" else 1.0
    return round(odometer_km / speed_kmh * share, 2)
