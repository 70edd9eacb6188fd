"""Hypothesis strategies and builders of device payloads and raw records for normalizer tests.

Ranges are written here from the documented contract (docs/payload.md), independently of the
code under test, so a drift between the two shows up as a failing test.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from processors.normalize.validate import RawRecord

TS_MIN_MS = 946_684_800_000
INGEST_TS_MS = 1_750_000_000_000
TOLERANCE_MS = 300_000
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
BOOT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"

# VSS path -> (internal field, "integer" | "number", min, max)
NUMERIC: dict[str, tuple[str, str, float, float]] = {
    "Vehicle.TraveledDistance": ("odometer_m", "integer", 0, 4_294_967_295),
    "Vehicle.Speed": ("speed_kmh", "number", 0, 400),
    "Vehicle.Powertrain.FuelSystem.RelativeLevel": ("fuel_level_pct", "number", 0, 100),
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": ("soc_pct", "number", 0, 100),
    "Vehicle.LowVoltageBattery.CurrentVoltage": ("battery_12v_v", "number", 0, 32),
    "Vehicle.Powertrain.CombustionEngine.EngineHours": ("engine_hours_h", "number", 0, 1_000_000),
    "Vehicle.Powertrain.CombustionEngine.EngineOil.LifeRemaining": (
        "oil_life_remaining_s",
        "integer",
        -2_147_483_648,
        2_147_483_647,
    ),
    "Vehicle.CurrentLocation.Latitude": ("latitude_deg", "number", -90, 90),
    "Vehicle.CurrentLocation.Longitude": ("longitude_deg", "number", -180, 180),
}
DTC_PATH = "Vehicle.Diagnostics.DTCList"

_TRANSLIT = {
    c: v
    for v, cs in enumerate(("", "AJ", "BKS", "CLT", "DMU", "ENV", "FW", "GPX", "HY", "RZ"), start=0)
    for c in cs
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def iso3779_check_digit(vin: str) -> str:
    """The check digit (position 9) a VIN should carry, per ISO 3779 / 49 CFR 565."""
    total = sum(
        (int(c) if c.isdigit() else _TRANSLIT[c]) * w for c, w in zip(vin, _WEIGHTS, strict=True)
    )
    rest = total % 11
    return "X" if rest == 10 else str(rest)


def with_check_digit(vin: str) -> str:
    """``vin`` with its check digit corrected."""
    return vin[:8] + iso3779_check_digit(vin) + vin[9:]


def with_wrong_check_digit(vin: str) -> str:
    """``vin`` with a check digit that is certainly wrong."""
    right = iso3779_check_digit(vin)
    return vin[:8] + ("0" if right != "0" else "1") + vin[9:]


@st.composite
def vins(draw: st.DrawFn) -> str:
    """Well-formed VINs that pass every VIN rule (correct check digit)."""
    raw = draw(st.text(VIN_CHARS, min_size=17, max_size=17))
    return with_check_digit(raw)


def number_in(lo: float, hi: float, kind: str) -> st.SearchStrategy[Any]:
    if kind == "integer":
        return st.integers(int(lo), int(hi))
    return st.one_of(
        st.integers(int(lo), int(hi)),
        st.floats(lo, hi, allow_nan=False, allow_infinity=False),
        st.sampled_from([lo, hi, float(lo), float(hi)]),
    )


dtc_codes = st.from_regex(r"\A[PCBU][0-3][0-9A-F]{3}\Z")


@st.composite
def samples(draw: st.DrawFn, max_ts_ms: int = INGEST_TS_MS + TOLERANCE_MS) -> dict[str, Any]:
    """A valid sample: ts_ms plus any subset of signals, each within its range."""
    sample: dict[str, Any] = {"ts_ms": draw(st.integers(TS_MIN_MS, max_ts_ms))}
    for path in draw(st.lists(st.sampled_from(sorted(NUMERIC)), unique=True)):
        _field, kind, lo, hi = NUMERIC[path]
        sample[path] = draw(number_in(lo, hi, kind))
    if draw(st.booleans()):
        sample[DTC_PATH] = draw(st.lists(dtc_codes, max_size=64))
    return sample


@st.composite
def payloads(draw: st.DrawFn, max_samples: int = 5) -> dict[str, Any]:
    """A valid payload v1 with one sample or a batch."""
    body: dict[str, Any] = {
        "v": 1,
        "vin": draw(vins()),
        "boot_id": draw(st.text(BOOT_CHARS, min_size=1, max_size=64)),
        "seq": draw(st.integers(0, 2**53 - 1)),
    }
    if draw(st.booleans()):
        body["sample"] = draw(samples())
    else:
        body["samples"] = draw(st.lists(samples(), min_size=1, max_size=max_samples))
    return body


def headers(
    ingest_ts_ms: int = INGEST_TS_MS, bridge_id: str = "bridge-a"
) -> tuple[tuple[str, bytes], ...]:
    return (
        ("mqtt_topic", b"vehicles/X/telemetry"),
        ("ingest_ts_ms", str(ingest_ts_ms).encode()),
        ("bridge_id", bridge_id.encode()),
    )


def record(
    payload: Any,
    *,
    key: str | None = None,
    value: bytes | None = None,
    hdrs: tuple[tuple[str, bytes], ...] | None = None,
    offset: int = 0,
    partition: int = 0,
) -> RawRecord:
    """A raw record as the bridge writes it; the key defaults to the payload's VIN."""
    if key is None and isinstance(payload, dict) and isinstance(payload.get("vin"), str):
        key = payload["vin"]
    return RawRecord(
        topic="telemetry.raw",
        partition=partition,
        offset=offset,
        key=key.encode() if key is not None else b"X",
        value=value if value is not None else json.dumps(payload).encode(),
        headers=headers() if hdrs is None else hdrs,
    )


def simple_payload(
    vin: str,
    *,
    seq: int = 1,
    boot_id: str = "boot-1",
    ts_ms: int = INGEST_TS_MS,
    signals: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A one-sample payload with the given signals (VSS paths as keys)."""
    sample = {"ts_ms": ts_ms, **(signals or {})}
    return {"v": 1, "vin": vin, "boot_id": boot_id, "seq": seq, "sample": sample}
