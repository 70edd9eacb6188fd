"""A vehicle's valid device messages (payload v1) from its day plan, and their JSON encoding.

Each trip yields three samples (departure, midway, arrival). They are sent either one per message
as they happen, or, after a dead zone, as one batched message shortly after arrival. A parked
report is sent once a day. Each message carries the current ``boot_id`` and a ``seq`` that starts
at 0 on every boot and grows by one per message, in publish order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from simulator.catalog import FaultFacts
from simulator.fleet import Vehicle
from simulator.state import (
    VehicleState,
    battery_v,
    drive,
    energy_use_pct,
    initial_state,
    overnight,
    refill_if_needed,
    update_dtcs,
)
from simulator.usage import HOUR_MS, Day, Trip

PAYLOAD_VERSION = 1
# Delay between a reading and its publication: live link, or store-and-forward after a dead zone.
LIVE_LATENCY_MS = (200, 3_000)
BATCH_DELAY_MS = (30_000, 600_000)
MAX_PUBLISH_DELAY_MS = BATCH_DELAY_MS[1] + 1_000
DEPARTURE_SPEED_KMH = (0.0, 15.0)
MIDWAY_SPEED_FACTOR = (0.8, 1.5)
MAX_SPEED_KMH = 175.0

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
class DeviceMessage:
    vin: str
    boot_id: str
    seq: int
    publish_ms: int
    samples: tuple[SimSample, ...]


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


def vehicle_messages(
    rng: np.random.Generator,
    vehicle: Vehicle,
    days: list[Day],
    faults: FaultFacts,
    batch_probability: float,
) -> list[DeviceMessage]:
    """Every valid message ``vehicle`` sends over ``days``, in publish (and seq) order."""
    state = initial_state(rng, vehicle)
    boot_id = new_boot_id(rng)
    out: list[DeviceMessage] = []
    seq = 0
    last_publish = 0

    def emit(samples: tuple[SimSample, ...], proposed_ms: int) -> None:
        nonlocal seq, last_publish
        last_publish = max(proposed_ms, last_publish + 1)
        out.append(DeviceMessage(vehicle.vin, boot_id, seq, last_publish, samples))
        seq += 1

    for day in days:
        update_dtcs(rng, faults, vehicle.spec, state, day.day.toordinal())
        if rng.random() < faults.reboot_daily_probability:
            boot_id, seq = new_boot_id(rng), 0
        overnight(rng, vehicle.spec, state)
        if day.heartbeat_ms is not None:
            parked = _sample(rng, vehicle, state, day.heartbeat_ms, 0.0, driving=False)
            emit((parked,), day.heartbeat_ms + _latency(rng))
        for trip in day.trips:
            samples = _trip_samples(rng, vehicle, state, trip)
            if rng.random() < batch_probability:
                emit(samples, trip.end_ms + int(rng.integers(*BATCH_DELAY_MS)))
            else:
                for s in samples:
                    emit((s,), s.ts_ms + _latency(rng))
    return out


def _latency(rng: np.random.Generator) -> int:
    return int(rng.integers(*LIVE_LATENCY_MS))


def _trip_samples(
    rng: np.random.Generator, vehicle: Vehicle, state: VehicleState, trip: Trip
) -> tuple[SimSample, SimSample, SimSample]:
    spec = vehicle.spec
    use_pct = energy_use_pct(rng, spec, trip.distance_m / 1000.0)
    refill_if_needed(rng, spec, state, use_pct)
    departure = _sample(
        rng, vehicle, state, trip.start_ms, float(rng.uniform(*DEPARTURE_SPEED_KMH)), driving=True
    )
    half_m = trip.distance_m // 2
    hours = (trip.end_ms - trip.start_ms) / HOUR_MS
    drive(state, spec, half_m, hours / 2, use_pct / 2)
    cruise = trip.mean_speed_kmh * float(rng.uniform(*MIDWAY_SPEED_FACTOR))
    midway = _sample(
        rng,
        vehicle,
        state,
        (trip.start_ms + trip.end_ms) // 2,
        min(cruise, MAX_SPEED_KMH),
        driving=True,
    )
    drive(state, spec, trip.distance_m - half_m, hours / 2, use_pct / 2)
    arrival = _sample(rng, vehicle, state, trip.end_ms, 0.0, driving=True)
    return departure, midway, arrival


def _sample(
    rng: np.random.Generator,
    vehicle: Vehicle,
    state: VehicleState,
    ts_ms: int,
    speed_kmh: float,
    *,
    driving: bool,
) -> SimSample:
    ev = vehicle.powertrain == "ev"
    energy = round(state.energy_pct, 1)
    return SimSample(
        ts_ms=ts_ms,
        odometer_m=state.odometer_m,
        speed_kmh=round(speed_kmh, 1),
        battery_12v_v=battery_v(rng, vehicle, driving),
        fuel_level_pct=None if ev else energy,
        soc_pct=energy if ev else None,
        engine_hours_h=None if ev else round(state.engine_hours_h, 2),
        dtcs=state.dtcs,
    )
