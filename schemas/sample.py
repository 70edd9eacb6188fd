"""The telemetry sample's fields, declared once: name, VSS path, type, unit, nullability.

:data:`SAMPLE` lists the fields of a sample in their one order: the order of
:class:`schemas.records.Sample`, of the Avro ``Sample`` record in ``telemetry_frame.avsc``, of the
values the codec encodes, of :data:`processors.normalize.vss.SIGNALS` (after the two key
fields), and of the signal columns of a ``telemetry`` row. :data:`TELEMETRY_ROW` adds the frame's
columns to give a row of the ``telemetry`` table (``stored_at`` aside) in COPY order.

What is cheap to derive is derived from here at import time (the store's column names and COPY
types, the runs of doubles its binary COPY decoders step through). What is written out by hand
for speed or for static typing (the records, the Avro schema, the codec, the signal table, the
migration) is compared with this declaration by the unit tests, which name the part that
disagrees. Adding a signal: a :class:`Field` in :data:`SIGNAL_FIELDS`, and its column in a
migration; the tests then list what else must follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any


@dataclass(frozen=True, slots=True, eq=False)
class ValueType:
    """How one kind of value is written in each place it goes (compared by identity)."""

    name: str
    avro: Any
    """The Avro type, as in a ``.avsc`` file (without the ``null`` branch of a nullable field)."""
    python: Any
    """The type in :class:`schemas.records.Sample` (without ``| None``)."""
    pg_column: str
    """The column type in the migrations' ``CREATE TABLE``."""
    pg_copy: str
    """The type name for a binary COPY (psycopg's ``set_types``)."""


INT = ValueType("int", "int", int, "integer", "int4")
LONG = ValueType("long", "long", int, "bigint", "int8")
DOUBLE = ValueType("double", "double", float, "double precision", "float8")
TIMESTAMP = ValueType(
    "timestamp",
    {"type": "long", "logicalType": "timestamp-millis"},
    datetime,
    "timestamptz",
    "timestamptz",
)
TEXT = ValueType("text", "string", str, "text", "text")
TEXT_LIST = ValueType(
    "text_list", {"type": "array", "items": "string"}, tuple[str, ...], "text[]", "text[]"
)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a sample (or a frame column of a ``telemetry`` row)."""

    name: str
    vss_path: str | None
    """The COVESA VSS path of a signal; None for the key fields and frame columns."""
    type: ValueType
    unit: str | None
    """The signal's unit (also in the name's suffix); None where there is none."""
    nullable: bool

    def avro_type(self) -> Any:
        """The Avro type of the field: ``["null", T]`` when it is nullable."""
        return ["null", self.type.avro] if self.nullable else self.type.avro


def _signal(name: str, vss_path: str, kind: ValueType, unit: str) -> Field:
    return Field(name, vss_path, kind, unit, nullable=True)


SAMPLE_KEY: tuple[Field, ...] = (
    Field("sample_idx", None, INT, None, nullable=False),
    Field("event_ts", None, TIMESTAMP, None, nullable=False),
)
"""The fields every sample has: its position in the message and its device event time."""

SIGNAL_FIELDS: tuple[Field, ...] = (
    _signal("odometer_m", "Vehicle.TraveledDistance", LONG, "m"),
    _signal("speed_kmh", "Vehicle.Speed", DOUBLE, "km/h"),
    _signal("fuel_level_pct", "Vehicle.Powertrain.FuelSystem.RelativeLevel", DOUBLE, "%"),
    _signal("soc_pct", "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current", DOUBLE, "%"),
    _signal("battery_12v_v", "Vehicle.LowVoltageBattery.CurrentVoltage", DOUBLE, "V"),
    _signal("engine_hours_h", "Vehicle.Powertrain.CombustionEngine.EngineHours", DOUBLE, "h"),
    _signal(
        "oil_life_remaining_s",
        "Vehicle.Powertrain.CombustionEngine.EngineOil.LifeRemaining",
        LONG,
        "s",
    ),
    _signal("dtcs", "Vehicle.Diagnostics.DTCList", TEXT_LIST, "SAE J2012 code"),
    _signal("latitude_deg", "Vehicle.CurrentLocation.Latitude", DOUBLE, "°"),
    _signal("longitude_deg", "Vehicle.CurrentLocation.Longitude", DOUBLE, "°"),
)
"""The signals a sample may carry (each optional), in order."""

SAMPLE: tuple[Field, ...] = SAMPLE_KEY + SIGNAL_FIELDS
"""Every field of a sample, in order."""

VIN = Field("vin", None, TEXT, None, nullable=False)
BOOT_ID = Field("boot_id", None, TEXT, None, nullable=False)
SEQ = Field("seq", None, LONG, None, nullable=False)
INGEST_TS = Field("ingest_ts", None, TIMESTAMP, None, nullable=False)
FRAME_COLUMNS: tuple[Field, ...] = (VIN, BOOT_ID, SEQ, INGEST_TS)
"""The fields of a frame that every row of its samples repeats (not ``frame_id``, ``bridge_id``)."""

TELEMETRY_ROW: tuple[Field, ...] = (VIN, BOOT_ID, SEQ, *SAMPLE_KEY, INGEST_TS, *SIGNAL_FIELDS)
"""The columns of a ``telemetry`` row (every one but ``stored_at``), in COPY order."""


def double_runs(fields: Sequence[Field]) -> tuple[tuple[int, int], ...]:
    """Each run of consecutive :data:`DOUBLE` fields as (position of its first, length)."""
    runs: list[tuple[int, int]] = []
    position = 0
    for is_double, group in groupby(fields, key=lambda f: f.type is DOUBLE):
        length = len(list(group))
        if is_double:
            runs.append((position, length))
        position += length
    return tuple(runs)
