"""``models.toml``: vehicle models, code rates of the simulated world, service and warranty.

The codes' meaning and cost are in ``codes.toml`` (:mod:`reference.codes`); a rate here links to
its :class:`~reference.codes.FaultCode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from reference.codes import FaultCode
from reference.fields import Table, check_version
from reference.money import PriceRange, read_currency, read_range
from reference.terms import BODIES, KM_PER_MILE, POWERTRAINS

VERSION = 3


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
    """How often the simulated world raises a catalogued code (its cost is in ``fault``)."""

    fault: FaultCode
    per_1000km: float
    intermittent_share: float

    @property
    def code(self) -> str:
        return self.fault.code


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """Scheduled service: due at a distance or a number of months, whichever comes first."""

    interval_km: float
    interval_months: int
    price: PriceRange


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

    def coverage(self, name: str) -> Coverage | None:
        """The coverage a code or wear item names (``none``: nothing pays)."""
        return {
            "basic": self.basic,
            "powertrain": self.powertrain,
            "traction_battery": self.traction_battery,
        }.get(name)


@dataclass(frozen=True, slots=True)
class ModelsFile:
    models: tuple[ModelSpec, ...]
    codes: tuple[CodeSpec, ...]
    self_clear_days: tuple[int, int]
    weak_battery_share: float
    service: Mapping[str, ServiceSpec]
    independent_price_factor: float
    warranty: Mapping[str, WarrantySpec]


def parse_models(top: Table, faults: Mapping[str, FaultCode], codes_file: str) -> ModelsFile:
    """``models.toml``; diagnostics codes must be in ``faults`` (read from ``codes_file``)."""
    check_version(top, VERSION)
    read_currency(top)
    vehicle = top.table("vehicle")
    weak = vehicle.number("weak_battery_share", minimum=0, maximum=1)
    vehicle.close()
    diagnostics = top.table("diagnostics")
    codes = tuple(_rate(t, faults, codes_file) for t in diagnostics.tables("codes", "code"))
    clear = _self_clear_days(diagnostics)
    diagnostics.close()
    service = top.table("service")
    factor = service.number("independent_price_factor", positive=True)
    schedules = {p: _service(service.table(p)) for p in POWERTRAINS}
    service.close()
    terms = top.table("warranty")
    warranty = {brand: _warranty(terms.table(brand)) for brand in terms.names()}
    if "default" not in warranty:
        terms.fail("default", "missing (terms for brands not listed)")
    models = tuple(_model(t) for t in top.tables("models", "brand", "model"))
    top.close()
    return ModelsFile(
        models=models,
        codes=codes,
        self_clear_days=clear,
        weak_battery_share=weak,
        service=MappingProxyType(schedules),
        independent_price_factor=factor,
        warranty=MappingProxyType(warranty),
    )


def _model(t: Table) -> ModelSpec:
    powertrain = t.text("powertrain", choices=POWERTRAINS)
    ev = powertrain == "ev"
    wmis = t.texts("wmi")
    if any(len(w) != 3 for w in wmis):
        t.fail("wmi", f"each WMI has 3 characters, got {list(wmis)!r}")
    spec = ModelSpec(
        brand=t.text("brand"),
        model=t.text("model"),
        powertrain=powertrain,
        body=t.text("body", choices=BODIES),
        wmis=wmis,
        year_from=t.integer("year_from", minimum=1980),
        year_to=t.optional_integer("year_to", minimum=1980),
        weight=t.number("weight", positive=True),
        msrp_usd=t.number("msrp_usd", positive=True),
        dtc_factor=t.number("dtc_factor", minimum=0, default=1.0),
        fuel_l_per_100km=0.0 if ev else t.number("fuel_l_per_100km", positive=True),
        tank_l=0.0 if ev else t.number("tank_l", positive=True),
        energy_kwh_per_100km=t.number("energy_kwh_per_100km", positive=True) if ev else 0.0,
        battery_kwh=t.number("battery_kwh", positive=True) if ev else 0.0,
    )
    if spec.year_to is not None and spec.year_to < spec.year_from:
        t.fail("year_to", f"must be >= year_from ({spec.year_from})")
    t.close()
    return spec


def _rate(t: Table, faults: Mapping[str, FaultCode], codes_file: str) -> CodeSpec:
    code = t.text("code")
    if code not in faults:
        t.fail("code", f"not in {codes_file}")
    spec = CodeSpec(
        fault=faults[code],
        per_1000km=t.number("per_1000km", minimum=0),
        intermittent_share=t.number("intermittent_share", minimum=0, maximum=1),
    )
    t.close()
    return spec


def _self_clear_days(t: Table) -> tuple[int, int]:
    days = t.raw("self_clear_days")
    if (
        not isinstance(days, list)
        or len(days) != 2
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in days)
        or not 1 <= days[0] <= days[1]
    ):
        t.fail("self_clear_days", f"must be [lo, hi] with 1 <= lo <= hi, got {days!r}")
    return days[0], days[1]


def _service(t: Table) -> ServiceSpec:
    spec = ServiceSpec(
        interval_km=t.number("interval_km", positive=True),
        interval_months=t.integer("interval_months", minimum=1),
        price=read_range(t, "price"),
    )
    t.close()
    return spec


def _warranty(t: Table) -> WarrantySpec:
    def coverage(name: str) -> Coverage:
        value = t.raw(name)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            t.fail(name, f"must be [years, miles] with positive integers, got {value!r}")
        return Coverage(value[0], value[1] * KM_PER_MILE)

    spec = WarrantySpec(coverage("basic"), coverage("powertrain"), coverage("traction_battery"))
    t.close()
    return spec
