"""Device messages (payload v1): samples, the readings behind them, and their JSON encoding.

A :class:`Reading` is a sample as the device reports it together with the truth behind it (the
true event time and odometer, and which fault, if any, changed them). A :class:`DeviceMessage`
is one publish of a vehicle's valid stream: its ``boot_id``, ``seq``, publish time and readings,
plus notes on what happened to it on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

PAYLOAD_VERSION = 1
# Delay between a reading and its publication: live link, or store-and-forward after a trip.
LIVE_LATENCY_MS = (200, 3_000)
BATCH_DELAY_MS = (30_000, 600_000)
MAX_PUBLISH_DELAY_MS = BATCH_DELAY_MS[1] + 1_000
# Largest JSON size of one sample (every signal, long DTC list): bounds samples per message.
SAMPLE_BYTES_MAX = 420
ENVELOPE_BYTES_MAX = 200
MAX_SAMPLES_PER_MESSAGE = 1000

TAG_DEAD_ZONE = "dead_zone"
TAG_OUT_OF_ORDER = "out_of_order"
TAG_CLOCK_SKEW = "clock_skew"
TAG_REBOOT = "reboot"
GLITCH_KINDS = ("rollback", "jump", "unit_error")

SIGNAL_ODOMETER = "Vehicle.TraveledDistance"
SIGNAL_SPEED = "Vehicle.Speed"
SIGNAL_FUEL = "Vehicle.Powertrain.FuelSystem.RelativeLevel"
SIGNAL_SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
SIGNAL_BATTERY_12V = "Vehicle.LowVoltageBattery.CurrentVoltage"
SIGNAL_ENGINE_HOURS = "Vehicle.Powertrain.CombustionEngine.EngineHours"
SIGNAL_DTCS = "Vehicle.Diagnostics.DTCList"


@dataclass(frozen=True, slots=True)
class SimSample:
    """One reading as the device reports it (odometer in metres, event time in epoch ms UTC)."""

    ts_ms: int
    odometer_m: int
    speed_kmh: float
    battery_12v_v: float
    fuel_level_pct: float | None = None
    soc_pct: float | None = None
    engine_hours_h: float | None = None
    dtcs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reading:
    """A sample as sent, and the truth behind it. ``skew_ms``: device clock minus true time;
    ``far_ahead``: the device clock was set far into the future (the message must be rejected);
    ``glitch``: the odometer kind of fault (one of :data:`GLITCH_KINDS`) if any."""

    sample: SimSample
    true_ts_ms: int
    true_odometer_m: int
    skew_ms: int = 0
    far_ahead: bool = False
    glitch: str | None = None

    @classmethod
    def true(cls, sample: SimSample) -> Reading:
        return cls(sample, sample.ts_ms, sample.odometer_m)


@dataclass(frozen=True, slots=True)
class Glitch:
    sample_idx: int
    kind: str
    reported_m: int
    true_m: int


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """One publish of a vehicle's valid stream. ``tags`` name the faults it went through;
    ``overtaken_by`` counts later messages of the vehicle published before it."""

    vin: str
    boot_id: str
    seq: int
    publish_ms: int
    readings: tuple[Reading, ...]
    tags: tuple[str, ...] = ()
    overtaken_by: int = 0

    @property
    def samples(self) -> tuple[SimSample, ...]:
        return tuple(r.sample for r in self.readings)

    @property
    def far_ahead(self) -> bool:
        return any(r.far_ahead for r in self.readings)

    @property
    def skew_ms(self) -> int:
        """The largest clock offset (by size) among the readings."""
        return max((r.skew_ms for r in self.readings), key=abs, default=0)

    @property
    def glitches(self) -> tuple[Glitch, ...]:
        return tuple(
            Glitch(i, r.glitch, r.sample.odometer_m, r.true_odometer_m)
            for i, r in enumerate(self.readings)
            if r.glitch is not None
        )

    @property
    def all_tags(self) -> tuple[str, ...]:
        """``tags`` plus the per-sample faults (clock skew, odometer glitches)."""
        extra = [TAG_CLOCK_SKEW] if any(r.skew_ms for r in self.readings) else []
        extra += sorted({f"odometer_{r.glitch}" for r in self.readings if r.glitch})
        return self.tags + tuple(extra)


def max_samples_per_message(max_payload_bytes: int) -> int:
    """How many samples a message may carry and stay within the payload limit."""
    room = (max_payload_bytes - ENVELOPE_BYTES_MAX) // SAMPLE_BYTES_MAX
    return int(min(MAX_SAMPLES_PER_MESSAGE, max(1, room)))


def chunks(readings: tuple[Reading, ...], size: int) -> list[tuple[Reading, ...]]:
    return [readings[i : i + size] for i in range(0, len(readings), size)]


def sample_json(s: SimSample) -> dict[str, Any]:
    """A sample as payload v1 JSON (VSS keys)."""
    out: dict[str, Any] = {
        "ts_ms": s.ts_ms,
        SIGNAL_ODOMETER: s.odometer_m,
        SIGNAL_SPEED: s.speed_kmh,
        SIGNAL_BATTERY_12V: s.battery_12v_v,
    }
    if s.fuel_level_pct is not None:
        out[SIGNAL_FUEL] = s.fuel_level_pct
    if s.soc_pct is not None:
        out[SIGNAL_SOC] = s.soc_pct
    if s.engine_hours_h is not None:
        out[SIGNAL_ENGINE_HOURS] = s.engine_hours_h
    out[SIGNAL_DTCS] = list(s.dtcs)
    return out


def payload_json(vin: str, boot_id: str, seq: int, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The payload envelope: ``sample`` for one reading, ``samples`` for a batch."""
    body: dict[str, Any] = {"v": PAYLOAD_VERSION, "vin": vin, "boot_id": boot_id, "seq": seq}
    if len(samples) == 1:
        body["sample"] = samples[0]
    else:
        body["samples"] = samples
    return body


def encode(msg: DeviceMessage) -> bytes:
    return orjson.dumps(
        payload_json(msg.vin, msg.boot_id, msg.seq, [sample_json(s) for s in msg.samples])
    )


def new_boot_id(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(0, 2**62)):016x}"
