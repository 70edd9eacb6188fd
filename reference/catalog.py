"""Reference data for the simulator, loaded from ``simulator/data/models.toml``.

The file names its sources beside each figure; this module only checks and types it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import ConfigError

DEFAULT_PATH = Path(__file__).with_name("data") / "models.toml"
POWERTRAINS = ("ice", "hybrid", "ev")
BODIES = ("sedan", "hatchback", "suv", "pickup", "van")
KM_PER_MILE = 1.609344


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One vehicle model a simulated fleet may contain."""

    brand: str
    model: str
    powertrain: str
    body: str
    wmis: tuple[str, ...]
    year_from: int
    year_to: int | None
    weight: float
    msrp_usd: float
    dtc_factor: float = 1.0
    fuel_l_per_100km: float = 0.0
    tank_l: float = 0.0
    energy_kwh_per_100km: float = 0.0
    battery_kwh: float = 0.0

    @property
    def name(self) -> str:
        """``Brand Model``, the key scenarios use."""
        return f"{self.brand} {self.model}"

    def offered_in(self, model_year: int) -> bool:
        return self.year_from <= model_year and (self.year_to is None or model_year <= self.year_to)


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """A diagnostic trouble code a vehicle may raise, how often, and what repairing it costs."""

    code: str
    applies_to: tuple[str, ...]
    per_1000km: float
    intermittent_share: float
    repair: str
    repair_usd: float


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """Scheduled service: due at a distance or a number of months, whichever comes first."""

    interval_km: float
    interval_months: int
    price_usd: float


@dataclass(frozen=True, slots=True)
class Coverage:
    """One warranty coverage: ``years`` or ``limit_km``, whichever comes first."""

    years: int
    limit_km: float


@dataclass(frozen=True, slots=True)
class WarrantySpec:
    basic: Coverage
    powertrain: Coverage
    traction_battery: Coverage


@dataclass(frozen=True, slots=True)
class Catalog:
    models: tuple[ModelSpec, ...]
    codes: tuple[CodeSpec, ...]
    self_clear_days: tuple[int, int]
    weak_battery_share: float
    service: dict[str, ServiceSpec]
    independent_price_factor: float
    warranty: dict[str, WarrantySpec]

    def warranty_for(self, brand: str) -> WarrantySpec:
        return self.warranty.get(brand, self.warranty["default"])

    def model_named(self, name: str) -> ModelSpec | None:
        return next((m for m in self.models if m.name == name), None)


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
    diagnostics = data["diagnostics"]
    codes = tuple(_code(c) for c in diagnostics["codes"])
    lo, hi = (int(d) for d in diagnostics["self_clear_days"])
    if not codes or not 1 <= lo <= hi:
        raise ValueError("diagnostics: need codes and 1 <= self_clear_days[0] <= [1]")
    service = data["service"]
    schedules = {p: _service(service[p]) for p in POWERTRAINS}
    warranty = {brand: _warranty(terms) for brand, terms in data["warranty"].items()}
    if "default" not in warranty:
        raise ValueError("warranty: no default terms")
    return Catalog(
        models=models,
        codes=codes,
        self_clear_days=(lo, hi),
        weak_battery_share=_probability(data["vehicle"]["weak_battery_share"]),
        service=schedules,
        independent_price_factor=float(service["independent_price_factor"]),
        warranty=warranty,
    )


def _model(m: dict[str, Any]) -> ModelSpec:
    spec = ModelSpec(
        brand=str(m["brand"]),
        model=str(m["model"]),
        powertrain=str(m["powertrain"]),
        body=str(m["body"]),
        wmis=tuple(str(w) for w in m["wmi"]),
        year_from=int(m["year_from"]),
        year_to=int(m["year_to"]) if "year_to" in m else None,
        weight=float(m["weight"]),
        msrp_usd=float(m["msrp_usd"]),
        dtc_factor=float(m.get("dtc_factor", 1.0)),
        fuel_l_per_100km=float(m.get("fuel_l_per_100km", 0.0)),
        tank_l=float(m.get("tank_l", 0.0)),
        energy_kwh_per_100km=float(m.get("energy_kwh_per_100km", 0.0)),
        battery_kwh=float(m.get("battery_kwh", 0.0)),
    )
    name = spec.name
    if spec.powertrain not in POWERTRAINS or spec.body not in BODIES:
        raise ValueError(f"{name}: powertrain must be one of {POWERTRAINS}, body of {BODIES}")
    if not spec.wmis or any(len(w) != 3 for w in spec.wmis) or spec.weight <= 0:
        raise ValueError(f"{name}: needs 3-character WMIs and a positive weight")
    if spec.msrp_usd <= 0 or spec.dtc_factor < 0:
        raise ValueError(f"{name}: needs a positive msrp_usd and dtc_factor >= 0")
    if spec.powertrain == "ev" and (spec.battery_kwh <= 0 or spec.energy_kwh_per_100km <= 0):
        raise ValueError(f"{name}: an ev needs battery_kwh and energy_kwh_per_100km")
    if spec.powertrain != "ev" and (spec.tank_l <= 0 or spec.fuel_l_per_100km <= 0):
        raise ValueError(f"{name}: needs tank_l and fuel_l_per_100km")
    return spec


def _code(c: dict[str, Any]) -> CodeSpec:
    spec = CodeSpec(
        code=str(c["code"]),
        applies_to=tuple(str(p) for p in c["applies_to"]),
        per_1000km=float(c["per_1000km"]),
        intermittent_share=_probability(c["intermittent_share"]),
        repair=str(c["repair"]),
        repair_usd=float(c["repair_usd"]),
    )
    if not set(spec.applies_to) <= set(POWERTRAINS) or spec.per_1000km < 0:
        raise ValueError(f"code {spec.code}: applies_to must name powertrains, rate >= 0")
    return spec


def _service(s: dict[str, Any]) -> ServiceSpec:
    spec = ServiceSpec(float(s["interval_km"]), int(s["interval_months"]), float(s["price_usd"]))
    if spec.interval_km <= 0 or spec.interval_months <= 0 or spec.price_usd < 0:
        raise ValueError("service: intervals must be positive")
    return spec


def _warranty(terms: dict[str, Any]) -> WarrantySpec:
    def coverage(name: str) -> Coverage:
        years, miles = terms[name]
        return Coverage(int(years), float(miles) * KM_PER_MILE)

    return WarrantySpec(coverage("basic"), coverage("powertrain"), coverage("traction_battery"))


def _probability(value: Any) -> float:
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} outside [0, 1]")
    return p
