"""Reference data for the simulator, loaded from ``simulator/data/models.toml``.

The file names its sources beside each figure; this module only checks and types it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeygate.errors import ConfigError

DEFAULT_PATH = Path(__file__).with_name("data") / "models.toml"
POWERTRAINS = ("ice", "hybrid", "ev")
KM_PER_MILE = 1.609344


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One vehicle model a simulated fleet may contain."""

    brand: str
    model: str
    powertrain: str
    wmis: tuple[str, ...]
    year_from: int
    year_to: int | None
    weight: float
    fuel_l_per_100km: float = 0.0
    tank_l: float = 0.0
    energy_kwh_per_100km: float = 0.0
    battery_kwh: float = 0.0

    def offered_in(self, model_year: int) -> bool:
        return self.year_from <= model_year and (self.year_to is None or model_year <= self.year_to)


@dataclass(frozen=True, slots=True)
class UsageFacts:
    """How much and how often vehicles are driven."""

    mean_daily_km: float
    vehicle_sigma: float
    day_sigma: float
    weekday_factor: float
    weekend_factor: float
    zero_day_probability_weekday: float
    zero_day_probability_weekend: float
    extra_trips_mean: float
    max_trips: int
    max_day_km: float


@dataclass(frozen=True, slots=True)
class FaultFacts:
    """Diagnostic codes, device reboots and weak batteries."""

    engine_codes: tuple[str, ...]
    chassis_codes: tuple[str, ...]
    dtc_daily_probability: float
    dtc_min_days: int
    dtc_max_days: int
    reboot_daily_probability: float
    weak_battery_share: float


@dataclass(frozen=True, slots=True)
class Catalog:
    models: tuple[ModelSpec, ...]
    usage: UsageFacts
    faults: FaultFacts


def load_catalog(path: Path = DEFAULT_PATH) -> Catalog:
    """Read and check a catalog file; :class:`ConfigError` names the first problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read simulator catalog {path}: {exc}") from None
    try:
        return parse_catalog(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid simulator catalog {path}: {exc!r}") from None


def parse_catalog(data: dict[str, Any]) -> Catalog:
    """Build a :class:`Catalog` from parsed TOML; raises KeyError/TypeError/ValueError."""
    models = tuple(_model(m) for m in data["models"])
    if not models:
        raise ValueError("no models")
    u = data["usage"]
    usage = UsageFacts(
        mean_daily_km=float(u["annual_distance_mi"]) * KM_PER_MILE / 365.25,
        vehicle_sigma=float(u["vehicle_sigma"]),
        day_sigma=float(u["day_sigma"]),
        weekday_factor=float(u["weekday_factor"]),
        weekend_factor=float(u["weekend_factor"]),
        zero_day_probability_weekday=_probability(u["zero_day_probability_weekday"]),
        zero_day_probability_weekend=_probability(u["zero_day_probability_weekend"]),
        extra_trips_mean=float(u["extra_trips_mean"]),
        max_trips=int(u["max_trips"]),
        max_day_km=float(u["max_day_km"]),
    )
    f = data["faults"]
    faults = FaultFacts(
        engine_codes=tuple(str(c) for c in f["engine_codes"]),
        chassis_codes=tuple(str(c) for c in f["chassis_codes"]),
        dtc_daily_probability=_probability(f["dtc_daily_probability"]),
        dtc_min_days=int(f["dtc_min_days"]),
        dtc_max_days=int(f["dtc_max_days"]),
        reboot_daily_probability=_probability(f["reboot_daily_probability"]),
        weak_battery_share=_probability(f["weak_battery_share"]),
    )
    if not faults.chassis_codes or faults.dtc_min_days > faults.dtc_max_days:
        raise ValueError("faults: need chassis_codes and dtc_min_days <= dtc_max_days")
    return Catalog(models=models, usage=usage, faults=faults)


def _model(m: dict[str, Any]) -> ModelSpec:
    spec = ModelSpec(
        brand=str(m["brand"]),
        model=str(m["model"]),
        powertrain=str(m["powertrain"]),
        wmis=tuple(str(w) for w in m["wmi"]),
        year_from=int(m["year_from"]),
        year_to=int(m["year_to"]) if "year_to" in m else None,
        weight=float(m["weight"]),
        fuel_l_per_100km=float(m.get("fuel_l_per_100km", 0.0)),
        tank_l=float(m.get("tank_l", 0.0)),
        energy_kwh_per_100km=float(m.get("energy_kwh_per_100km", 0.0)),
        battery_kwh=float(m.get("battery_kwh", 0.0)),
    )
    name = f"{spec.brand} {spec.model}"
    if spec.powertrain not in POWERTRAINS:
        raise ValueError(f"{name}: powertrain must be one of {POWERTRAINS}")
    if not spec.wmis or any(len(w) != 3 for w in spec.wmis) or spec.weight <= 0:
        raise ValueError(f"{name}: needs 3-character WMIs and a positive weight")
    if spec.powertrain == "ev" and (spec.battery_kwh <= 0 or spec.energy_kwh_per_100km <= 0):
        raise ValueError(f"{name}: an ev needs battery_kwh and energy_kwh_per_100km")
    if spec.powertrain != "ev" and (spec.tank_l <= 0 or spec.fuel_l_per_100km <= 0):
        raise ValueError(f"{name}: needs tank_l and fuel_l_per_100km")
    return spec


def _probability(value: Any) -> float:
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} outside [0, 1]")
    return p
