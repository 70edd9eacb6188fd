"""The benchmark's fleet and messages: valid VINs, payload v1 JSON, and the same data as
``telemetry.raw`` headers, Avro frames and store rows. Pure and cheap enough for a million
vehicles.

Message ``n`` of a run comes from vehicle ``n % size`` with ``seq = n // size``: vehicles report
in turn, each with consecutive sequence numbers, as a fleet reporting on a fixed period does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from kernel import headers as h
from schemas.records import Sample, TelemetryFrame

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_LETTERS = dict(
    zip("ABCDEFGHJKLMNPRSTUVWXYZ", (*range(1, 9), *range(1, 6), 7, 9, *range(2, 10)), strict=True)
)
_VALUES = {**{str(d): d for d in range(10)}, **_LETTERS}
VIN_HEAD = "WJGBNCH0"  # WMI (European, so ISO 3779 applies) + a fixed descriptor section
YEAR_CODE = "R"  # model year 2024
PLANTS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
SERIALS = 1_000_000
_HEAD_SUM = sum(_VALUES[c] * w for c, w in zip(VIN_HEAD, VIN_WEIGHTS[:8], strict=True))
_YEAR_SUM = _VALUES[YEAR_CODE] * VIN_WEIGHTS[9]


def fleet_vin(index: int) -> str:
    """The VIN of vehicle ``index``: valid (check digit included), distinct per index."""
    plant_no, serial = divmod(index, SERIALS)
    plant = PLANTS[plant_no]
    digits = f"{serial:06d}"
    total = _HEAD_SUM + _YEAR_SUM + _VALUES[plant] * VIN_WEIGHTS[10]
    for d, w in zip(digits, VIN_WEIGHTS[11:], strict=True):
        total += (ord(d) - 48) * w
    check = total % 11
    return f"{VIN_HEAD}{'X' if check == 10 else check}{YEAR_CODE}{plant}{digits}"


@dataclass(frozen=True, slots=True)
class Fleet:
    """``size`` vehicles; ``tag`` makes the boot ids (so every key) differ between runs."""

    size: int
    tag: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.size <= SERIALS * len(PLANTS):
            raise ValueError(f"fleet size must be 1..{SERIALS * len(PLANTS)}")

    def vin(self, index: int) -> str:
        return fleet_vin(index)

    def boot_id(self, index: int) -> str:
        return f"{(self.tag * 0x9E3779B97F4A7C15 + index) & 0xFFFF_FFFF_FFFF_FFFF:016x}"

    def vehicle_of(self, n: int) -> tuple[int, int]:
        """Message ``n``'s vehicle index and sequence number."""
        seq, index = divmod(n, self.size)
        return index, seq


@dataclass(frozen=True, slots=True)
class Reading:
    """The signal values of one sample, derived from the vehicle and sequence number."""

    odometer_m: int
    speed_kmh: float
    fuel_level_pct: float
    battery_12v_v: float
    engine_hours_h: float
    oil_life_remaining_s: int
    latitude_deg: float
    longitude_deg: float


def reading(index: int, seq: int) -> Reading:
    step = (index * 7919 + seq * 104_729) % 10_000
    return Reading(
        odometer_m=1_000_000 + index % 50_000 * 20 + seq * 1_500,
        speed_kmh=round(step / 100, 1),
        fuel_level_pct=round(100 - step / 125, 1),
        battery_12v_v=round(12 + step / 5000, 2),
        engine_hours_h=round(500 + seq * 0.25 + index % 1000, 2),
        oil_life_remaining_s=2_000_000 - step * 100,
        latitude_deg=round(48 + step / 10_000, 5),
        longitude_deg=round(11 + step / 9_000, 5),
    )


def payload(
    vin: str, boot_id: str, seq: int, ts_ms: int, values: Reading, dtcs: tuple[str, ...] = ()
) -> bytes:
    """One message of payload v1 with a single sample: 15 fields (``dtcs``: the active codes)."""
    return orjson.dumps(
        {
            "v": 1,
            "vin": vin,
            "boot_id": boot_id,
            "seq": seq,
            "sample": {
                "ts_ms": ts_ms,
                "Vehicle.TraveledDistance": values.odometer_m,
                "Vehicle.Speed": values.speed_kmh,
                "Vehicle.Powertrain.FuelSystem.RelativeLevel": values.fuel_level_pct,
                "Vehicle.LowVoltageBattery.CurrentVoltage": values.battery_12v_v,
                "Vehicle.Powertrain.CombustionEngine.EngineHours": values.engine_hours_h,
                "Vehicle.Powertrain.CombustionEngine.EngineOil.LifeRemaining": (
                    values.oil_life_remaining_s
                ),
                "Vehicle.Diagnostics.DTCList": list(dtcs),
                "Vehicle.CurrentLocation.Latitude": values.latitude_deg,
                "Vehicle.CurrentLocation.Longitude": values.longitude_deg,
            },
        }
    )


def message(fleet: Fleet, n: int, ts_ms: int, dtcs: tuple[str, ...] = ()) -> tuple[str, bytes]:
    """Message ``n`` of a run: the VIN it comes from and its payload."""
    index, seq = fleet.vehicle_of(n)
    vin = fleet.vin(index)
    return vin, payload(vin, fleet.boot_id(index), seq, ts_ms, reading(index, seq), dtcs)


def raw_headers(topic: str, ingest_ts_ms: int, bridge_id: str) -> list[tuple[str, bytes]]:
    """The headers the bridge puts on a ``telemetry.raw`` record."""
    return [
        (h.HEADER_MQTT_TOPIC, topic.encode()),
        (h.HEADER_INGEST_TS_MS, str(ingest_ts_ms).encode()),
        (h.HEADER_BRIDGE_ID, bridge_id.encode()),
    ]


def frame(
    fleet: Fleet, n: int, ts_ms: int, ingest_ts_ms: int, bridge_id: str, samples: int = 1
) -> TelemetryFrame:
    """Message ``n`` as the normalizer turns it into a frame; with ``samples`` > 1, a
    store-and-forward burst of that many samples, one second apart, the last at ``ts_ms``."""
    index, seq = fleet.vehicle_of(n)
    v = reading(index, seq)
    return TelemetryFrame(
        vin=fleet.vin(index),
        boot_id=fleet.boot_id(index),
        seq=seq,
        ingest_ts=EPOCH + timedelta(milliseconds=ingest_ts_ms),
        bridge_id=bridge_id,
        samples=tuple(
            Sample(
                sample_idx=i,
                event_ts=EPOCH + timedelta(milliseconds=ts_ms - (samples - 1 - i) * 1000),
                odometer_m=v.odometer_m,
                speed_kmh=v.speed_kmh,
                fuel_level_pct=v.fuel_level_pct,
                battery_12v_v=v.battery_12v_v,
                engine_hours_h=v.engine_hours_h,
                oil_life_remaining_s=v.oil_life_remaining_s,
                dtcs=(),
                latitude_deg=v.latitude_deg,
                longitude_deg=v.longitude_deg,
            )
            for i in range(samples)
        ),
    )
