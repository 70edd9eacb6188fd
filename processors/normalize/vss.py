"""The device signal table: COVESA VSS 6.0 paths and units to internal ``Sample`` fields.

:data:`SIGNALS` is the single place where a VSS key, its internal field, its JSON type, its
physical range and its unit are written down; parsing, the documentation and the tests all read
it. Ranges are inclusive and equal those of ``schemas/telemetry-v1.schema.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple, TypeGuard

from kernel.errors import DataError
from processors.normalize.reasons import Reason


class Kind(Enum):
    """JSON type of a signal. ``INTEGER`` also accepts integral floats such as ``7.0``."""

    INTEGER = "integer"
    NUMBER = "number"
    DTC_LIST = "dtc_list"


class Signal(NamedTuple):
    """One row of the signal table. For the DTC list the bounds count codes, not values."""

    vss_path: str
    field: str
    kind: Kind
    min_value: float
    max_value: float
    unit: str


SIGNALS: tuple[Signal, ...] = (
    Signal("Vehicle.TraveledDistance", "odometer_m", Kind.INTEGER, 0, 4_294_967_295, "m"),
    Signal("Vehicle.Speed", "speed_kmh", Kind.NUMBER, 0, 400, "km/h"),
    Signal(
        "Vehicle.Powertrain.FuelSystem.RelativeLevel",
        "fuel_level_pct",
        Kind.NUMBER,
        0,
        100,
        "%",
    ),
    Signal(
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
        "soc_pct",
        Kind.NUMBER,
        0,
        100,
        "%",
    ),
    Signal("Vehicle.LowVoltageBattery.CurrentVoltage", "battery_12v_v", Kind.NUMBER, 0, 32, "V"),
    Signal(
        "Vehicle.Powertrain.CombustionEngine.EngineHours",
        "engine_hours_h",
        Kind.NUMBER,
        0,
        1_000_000,
        "h",
    ),
    Signal(
        "Vehicle.Powertrain.CombustionEngine.EngineOil.LifeRemaining",
        "oil_life_remaining_s",
        Kind.INTEGER,
        -2_147_483_648,
        2_147_483_647,
        "s",
    ),
    Signal("Vehicle.Diagnostics.DTCList", "dtcs", Kind.DTC_LIST, 0, 64, "SAE J2012 code"),
    Signal("Vehicle.CurrentLocation.Latitude", "latitude_deg", Kind.NUMBER, -90, 90, "°"),
    Signal("Vehicle.CurrentLocation.Longitude", "longitude_deg", Kind.NUMBER, -180, 180, "°"),
)

BY_PATH: dict[str, Signal] = {s.vss_path: s for s in SIGNALS}
# The same table as plain tuples for the per-sample loop: (position, kind, min, max, signal).
_BY_PATH_FAST: dict[str, tuple[int, Kind, float, float, Signal]] = {
    s.vss_path: (i, s.kind, s.min_value, s.max_value, s) for i, s in enumerate(SIGNALS)
}
TS_MS_KEY = "ts_ms"
TS_MS_MIN = 946_684_800_000  # 2000-01-01T00:00:00Z: earlier device clocks are unset
DTC_RE = re.compile(r"[PCBU][0-3][0-9A-F]{3}")


def is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number (bool is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: object) -> TypeGuard[int | float]:
    """A JSON Schema integer: an int, or a float with no fractional part (``7.0``)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


# Not frozen: one is built per message, and a frozen dataclass's __init__ costs ~5x more.
@dataclass(slots=True)
class ParsedSample:
    """A sample whose shape is valid. ``values`` are its signals in :data:`SIGNALS` order (None
    when absent); ``problem`` is its first out-of-range or bad DTC value."""

    ts_ms: int
    values: tuple[Any, ...]
    problem: DataError | None

    @property
    def fields(self) -> dict[str, Any]:
        """The signals present, by internal field name."""
        return {s.field: v for s, v in zip(SIGNALS, self.values, strict=True) if v is not None}


def parse_sample(obj: object, where: str) -> ParsedSample:
    """Check a sample's shape (raising ``schema``) and convert its values to internal fields.

    Value problems (``out_of_range``, ``bad_dtc``) are returned, not raised, so that a shape
    error anywhere in the message takes precedence over a value error.
    """
    if not isinstance(obj, dict):
        raise DataError(Reason.SCHEMA, f"{where} is not an object")
    if TS_MS_KEY not in obj:
        raise DataError(Reason.SCHEMA, f"{where} has no ts_ms")
    ts = obj[TS_MS_KEY]
    if not is_integer(ts):
        raise DataError(Reason.SCHEMA, f"{where}.ts_ms is not an integer")
    problem: DataError | None = None
    if ts < TS_MS_MIN:
        problem = DataError(Reason.OUT_OF_RANGE, f"{where}.ts_ms={ts} is before 2000-01-01")
    values: list[Any] = [None] * len(SIGNALS)
    number, integer, dtc_list = Kind.NUMBER, Kind.INTEGER, Kind.DTC_LIST
    for key, value in obj.items():
        if key == TS_MS_KEY:
            continue
        spec = _BY_PATH_FAST.get(key)
        if spec is None:
            raise DataError(Reason.SCHEMA, f"{where} has unknown key {key[:80]!r}")
        position, kind, low, high, signal = spec
        # Fast paths for the JSON types orjson returns; anything else takes the checked path.
        if (kind is number and type(value) is float) or (kind is integer and type(value) is int):
            converted: Any = value
        else:
            converted = _convert(signal, value, where, key)
        values[position] = converted
        if problem is not None:
            continue
        if kind is dtc_list:
            problem = _dtc_problem(converted, where, key)
        elif not low <= converted <= high:
            problem = DataError(
                Reason.OUT_OF_RANGE,
                f"{where}.{key}={value} outside [{low:g}, {high:g}] {signal.unit}",
            )
    return ParsedSample(ts_ms=int(ts), values=tuple(values), problem=problem)


def _convert(signal: Signal, value: object, where: str, key: str) -> Any:
    """Convert a value of a signal's JSON type (raises ``schema`` for any other type)."""
    if signal.kind is Kind.DTC_LIST:
        return _convert_dtcs(signal, value, f"{where}.{key}")
    if signal.kind is Kind.INTEGER:
        if not is_integer(value):
            raise DataError(Reason.SCHEMA, f"{where}.{key} is not an integer")
        return int(value)
    if not is_number(value):
        raise DataError(Reason.SCHEMA, f"{where}.{key} is not a number")
    return float(value)


def _dtc_problem(codes: tuple[str, ...], where: str, key: str) -> DataError | None:
    for code in codes:
        if DTC_RE.fullmatch(code) is None:
            return DataError(Reason.BAD_DTC, f"{where}.{key} holds {code[:40]!r}")
    return None


def _convert_dtcs(signal: Signal, value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise DataError(Reason.SCHEMA, f"{where} is not an array")
    if len(value) > signal.max_value:
        raise DataError(Reason.SCHEMA, f"{where} has {len(value)} codes (max {signal.max_value:g})")
    for code in value:
        if not isinstance(code, str):
            raise DataError(Reason.SCHEMA, f"{where} holds a non-string")
    return tuple(value)
