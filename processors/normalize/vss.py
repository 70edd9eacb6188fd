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

from journeygate.errors import DataError
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


@dataclass(frozen=True, slots=True)
class ParsedSample:
    """A sample whose shape is valid. ``problem`` is its first out-of-range or bad DTC value."""

    ts_ms: int
    fields: dict[str, Any]
    problem: DataError | None


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
    fields: dict[str, Any] = {}
    for key, value in obj.items():
        if key == TS_MS_KEY:
            continue
        signal = BY_PATH.get(key)
        if signal is None:
            raise DataError(Reason.SCHEMA, f"{where} has unknown key {key[:80]!r}")
        converted, issue = _convert(signal, value, f"{where}.{key}")
        fields[signal.field] = converted
        if problem is None:
            problem = issue
    return ParsedSample(ts_ms=int(ts), fields=fields, problem=problem)


def _convert(signal: Signal, value: object, where: str) -> tuple[Any, DataError | None]:
    if signal.kind is Kind.DTC_LIST:
        return _convert_dtcs(signal, value, where)
    if signal.kind is Kind.INTEGER:
        if not is_integer(value):
            raise DataError(Reason.SCHEMA, f"{where} is not an integer")
        converted: float = int(value)
    else:
        if not is_number(value):
            raise DataError(Reason.SCHEMA, f"{where} is not a number")
        converted = float(value)
    if not signal.min_value <= converted <= signal.max_value:
        return converted, DataError(
            Reason.OUT_OF_RANGE,
            f"{where}={value} outside [{signal.min_value:g}, {signal.max_value:g}] {signal.unit}",
        )
    return converted, None


def _convert_dtcs(signal: Signal, value: object, where: str) -> tuple[Any, DataError | None]:
    if not isinstance(value, list):
        raise DataError(Reason.SCHEMA, f"{where} is not an array")
    if len(value) > signal.max_value:
        raise DataError(Reason.SCHEMA, f"{where} has {len(value)} codes (max {signal.max_value:g})")
    issue: DataError | None = None
    for code in value:
        if not isinstance(code, str):
            raise DataError(Reason.SCHEMA, f"{where} holds a non-string")
        if issue is None and DTC_RE.fullmatch(code) is None:
            issue = DataError(Reason.BAD_DTC, f"{where} holds {code[:40]!r}")
    return tuple(value), issue
