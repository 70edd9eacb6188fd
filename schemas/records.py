"""Typed records that cross process boundaries. Field names match the Avro schemas.

:class:`Sample` is written out for static typing; its fields, types and order are those declared
in :data:`schemas.sample.SAMPLE`, which the unit tests check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Sample:
    """One timestamped reading, in internal units (see docs/payload.md for the VSS mapping)."""

    sample_idx: int
    event_ts: datetime
    odometer_m: int | None = None
    speed_kmh: float | None = None
    fuel_level_pct: float | None = None
    soc_pct: float | None = None
    battery_12v_v: float | None = None
    engine_hours_h: float | None = None
    oil_life_remaining_s: int | None = None
    dtcs: tuple[str, ...] | None = None
    latitude_deg: float | None = None
    longitude_deg: float | None = None


@dataclass(frozen=True, slots=True)
class TelemetryFrame:
    """One validated device message: the unit that flows on ``telemetry.frames``."""

    vin: str
    boot_id: str
    seq: int
    ingest_ts: datetime
    bridge_id: str
    samples: tuple[Sample, ...] = field(default_factory=tuple)

    @property
    def frame_id(self) -> str:
        return frame_id(self.vin, self.boot_id, self.seq)


# A sample's idempotency key: (vin, boot_id, seq, sample_idx).
SampleKey = tuple[str, str, int, int]


def frame_id(vin: str, boot_id: str, seq: int) -> str:
    """The deterministic id of a device message; repeats of a message share it."""
    return f"{vin}:{boot_id}:{seq}"
