"""The reference-data catalog: one typed, validated view of ``reference/data/*.toml``.

The simulated world is built from it and the signals processors predict from it:

- ``models.toml``: vehicle models, how often the simulated world raises each code, scheduled
  service (intervals and price range), warranty terms;
- ``codes.toml``: diagnostic trouble codes with description, repair, cost range, severity,
  paying coverage and the powertrains that raise them (one place for a code's cost);
- ``wear.toml``: wear items with their life and price;
- ``depreciation.toml``: value curves by body and powertrain (see :mod:`reference.depreciation`);
- ``markets.toml``: each market's currency and price level.

Every file is versioned and names its sources beside each figure; prices are in US dollars
(``currency = "USD"``) and :meth:`Catalog.market` converts them. A bad file stops the load with
one :class:`~kernel.errors.ConfigError` line naming the file, the entry and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from kernel.errors import ConfigError
from reference.codes import SEVERITIES, FaultCode, parse_codes
from reference.depreciation import Depreciation, parse_depreciation
from reference.fields import ReferenceDataError, Table
from reference.markets import Market, parse_markets
from reference.models import (
    CodeSpec,
    Coverage,
    ModelSpec,
    ServiceSpec,
    WarrantySpec,
    parse_models,
)
from reference.money import Money, PriceRange
from reference.terms import BODIES, COVERAGES, FILE_CURRENCY, KM_PER_MILE, POWERTRAINS
from reference.wear import WearItem, parse_wear

__all__ = [
    "BODIES",
    "COVERAGES",
    "DATA_DIR",
    "DEFAULT_PATH",
    "KM_PER_MILE",
    "POWERTRAINS",
    "SEVERITIES",
    "Catalog",
    "CodeSpec",
    "Coverage",
    "Depreciation",
    "FaultCode",
    "Market",
    "ModelSpec",
    "Money",
    "PriceRange",
    "ServiceSpec",
    "WarrantySpec",
    "WearItem",
    "data_files",
    "default_catalog",
    "load_catalog",
]

DATA_DIR = Path(__file__).with_name("data")
DEFAULT_PATH = DATA_DIR / "models.toml"
_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything in ``reference/data``; money in ``currency`` (US dollars)."""

    models: tuple[ModelSpec, ...]
    codes: tuple[CodeSpec, ...]
    self_clear_days: tuple[int, int]
    weak_battery_share: float
    service: Mapping[str, ServiceSpec]
    independent_price_factor: float
    warranty: Mapping[str, WarrantySpec]
    fault_codes: Mapping[str, FaultCode]
    wear: tuple[WearItem, ...]
    depreciation: Depreciation
    markets: Mapping[str, Market]
    currency: str = FILE_CURRENCY
    _by_name: Mapping[str, ModelSpec] = field(init=False, repr=False, compare=False)
    _wear_by_powertrain: dict[str, tuple[WearItem, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # the first model of a name wins, as a scan of ``models`` would find it
        by_name: dict[str, ModelSpec] = {}
        for m in self.models:
            by_name.setdefault(m.name, m)
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        object.__setattr__(self, "_wear_by_powertrain", {})

    def warranty_for(self, brand: str) -> WarrantySpec:
        return self.warranty.get(brand, self.warranty["default"])

    def model_named(self, name: str) -> ModelSpec | None:
        return self._by_name.get(name)

    def fault(self, code: str) -> FaultCode | None:
        """The catalogued code, or ``None`` for a code we do not price."""
        return self.fault_codes.get(code)

    def wear_for(self, powertrain: str) -> tuple[WearItem, ...]:
        found = self._wear_by_powertrain.get(powertrain)
        if found is None:
            found = tuple(w for w in self.wear if w.applies_to(powertrain))
            self._wear_by_powertrain[powertrain] = found
        return found

    def market(self, code: str) -> Market:
        """A market by ISO 3166 code (``US``, ``GB``, ``DE``...); ``KeyError`` if unknown."""
        try:
            return self.markets[code]
        except KeyError:
            known = ", ".join(self.markets)
            raise KeyError(f"unknown market {code!r} (known: {known})") from None


def data_files(directory: Path) -> dict[str, Path]:
    """The five files of a catalog in ``directory``, as keywords for :func:`load_catalog`."""
    names = ("models", "codes", "wear", "depreciation", "markets")
    return {name: directory / f"{name}.toml" for name in names}


def load_catalog(
    models: Path = DEFAULT_PATH,
    *,
    codes: Path = DATA_DIR / "codes.toml",
    wear: Path = DATA_DIR / "wear.toml",
    depreciation: Path = DATA_DIR / "depreciation.toml",
    markets: Path = DATA_DIR / "markets.toml",
) -> Catalog:
    """Read and check every file; :class:`ConfigError` names the file, entry and field."""
    faults = _load(codes, parse_codes)
    shown_codes = _shown(codes)
    sim = _load(models, lambda top: parse_models(top, faults, shown_codes))
    return Catalog(
        models=sim.models,
        codes=sim.codes,
        self_clear_days=sim.self_clear_days,
        weak_battery_share=sim.weak_battery_share,
        service=sim.service,
        independent_price_factor=sim.independent_price_factor,
        warranty=sim.warranty,
        fault_codes=MappingProxyType(faults),
        wear=_load(wear, parse_wear),
        depreciation=_load(depreciation, parse_depreciation),
        markets=MappingProxyType(_load(markets, parse_markets)),
    )


@cache
def default_catalog() -> Catalog:
    """The shipped catalog, read once per process."""
    return load_catalog()


def _load(path: Path, parse: Callable[[Table], T]) -> T:
    shown = _shown(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read reference data {shown}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_one_line(f"invalid reference data {shown}: {exc}")) from None
    try:
        return parse(Table(data))
    except ReferenceDataError as exc:
        raise ConfigError(_one_line(f"invalid reference data {shown}: {exc}")) from None


def _shown(path: Path) -> str:
    """``reference/data/codes.toml`` for the shipped files, the path as given otherwise."""
    try:
        return path.resolve().relative_to(_ROOT).as_posix()
    except ValueError:
        return str(path)


def _one_line(message: str) -> str:
    return " ".join(message.split())
