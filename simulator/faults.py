"""Injected faults: repeated publishes and malformed messages of known kinds.

Every malformed message records where the pipeline must reject it (``stage``) and with which
reason code. Malformed messages never touch a vehicle's valid stream: each uses its own
``boot_id`` ``bad-<n>`` with ``seq`` 0, so rejecting it leaves no gap in any ``(vin, boot_id)``
sequence, and accepting it by mistake could not collide with a valid message's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from simulator.fleet import Vehicle
from simulator.messages import (
    SIGNAL_BATTERY_12V,
    SIGNAL_DTCS,
    SIGNAL_SPEED,
    payload_json,
)
from simulator.usage import DAY_MS
from simulator.vin import make_unique_vin

STAGE_BRIDGE = "bridge"
STAGE_NORMALIZE = "normalize"
# Repeats of a message are published this long after the original (simulated ms).
DUPLICATE_DELAY_MS = (500, 5_000)
OVERSIZE_EXCESS_BYTES = 1024
BAD_DTCS = ("P04X0", "X0420", "P7420", "P042")
_NON_FINITE_MARKER = "__non_finite__"


@dataclass(frozen=True, slots=True)
class Expectation:
    """Where and why the pipeline must dead-letter a message."""

    stage: str
    reason: str


FAULTS: dict[str, Expectation] = {
    "invalid_json": Expectation(STAGE_NORMALIZE, "invalid_json"),
    "non_finite_number": Expectation(STAGE_NORMALIZE, "non_finite_number"),
    "schema": Expectation(STAGE_NORMALIZE, "schema"),
    "out_of_range": Expectation(STAGE_NORMALIZE, "out_of_range"),
    "bad_dtc": Expectation(STAGE_NORMALIZE, "bad_dtc"),
    "vin_mismatch": Expectation(STAGE_NORMALIZE, "vin_mismatch"),
    "unknown_vin": Expectation(STAGE_NORMALIZE, "unknown_vin"),
    "future_timestamp": Expectation(STAGE_NORMALIZE, "future_timestamp"),
    "bad_vin": Expectation(STAGE_BRIDGE, "bad_topic"),
    "oversize": Expectation(STAGE_BRIDGE, "oversize"),
}
FAULT_KINDS = tuple(FAULTS)


@dataclass(frozen=True, slots=True)
class Malformed:
    kind: str
    topic_vin: str
    payload_vin: str
    boot_id: str
    ts_ms: int
    publish_ms: int
    payload: bytes

    @property
    def expect(self) -> Expectation:
        return FAULTS[self.kind]


def pick_duplicates(
    rng: np.random.Generator, publish_ms: list[int], rate: float, now_ms: int
) -> list[tuple[int, int]]:
    """(index of the original, publish time of its repeat) for about ``rate`` of the messages."""
    chosen = np.flatnonzero(rng.random(len(publish_ms)) < rate)
    delays = rng.integers(*DUPLICATE_DELAY_MS, size=len(chosen))
    return [
        (int(i), max(publish_ms[i], min(publish_ms[i] + int(d), now_ms)))
        for i, d in zip(chosen, delays, strict=True)
    ]


def malformed_messages(
    rng: np.random.Generator,
    fleet: tuple[Vehicle, ...],
    count: int,
    kinds: tuple[str, ...],
    start_ms: int,
    now_ms: int,
    max_payload_bytes: int,
) -> list[Malformed]:
    """``count`` malformed messages cycling through ``kinds``, at random times and vehicles."""
    if count and not kinds:
        raise ValueError("malformed messages requested but no kinds enabled")
    taken = {v.vin for v in fleet}
    out = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        vehicle = fleet[int(rng.integers(0, len(fleet)))]
        publish_ms = int(rng.integers(start_ms, now_ms + 1))
        ts_ms = publish_ms - int(rng.integers(0, 3_000))
        topic_vin = payload_vin = vehicle.vin
        sample: dict[str, Any] = {
            "ts_ms": ts_ms,
            SIGNAL_SPEED: round(float(rng.uniform(0.0, 120.0)), 1),
            SIGNAL_BATTERY_12V: round(float(rng.uniform(12.3, 14.4)), 2),
        }
        if kind == "non_finite_number":
            sample[SIGNAL_SPEED] = _NON_FINITE_MARKER
        elif kind == "schema":
            sample[SIGNAL_SPEED] = str(sample[SIGNAL_SPEED])
        elif kind == "out_of_range":
            sample[SIGNAL_SPEED] = 900.0
        elif kind == "bad_dtc":
            sample[SIGNAL_DTCS] = [BAD_DTCS[int(rng.integers(0, len(BAD_DTCS)))]]
        elif kind == "future_timestamp":
            sample["ts_ms"] = now_ms + DAY_MS
        elif kind == "vin_mismatch":
            payload_vin = _other_vin(rng, fleet, vehicle)
        elif kind == "unknown_vin":
            topic_vin = payload_vin = make_unique_vin(
                rng, vehicle.vin[:3], vehicle.model_year, taken
            )
            taken.add(topic_vin)
        elif kind == "bad_vin":
            topic_vin = payload_vin = vehicle.vin[:16]
        elif kind not in ("invalid_json", "oversize"):
            raise ValueError(f"unknown fault kind {kind!r}")
        boot_id = f"bad-{n}"
        body = orjson.dumps(payload_json(payload_vin, boot_id, 0, [sample]))
        payload = _corrupt(rng, kind, body, max_payload_bytes)
        out.append(
            Malformed(kind, topic_vin, payload_vin, boot_id, sample["ts_ms"], publish_ms, payload)
        )
    return out


def _other_vin(rng: np.random.Generator, fleet: tuple[Vehicle, ...], vehicle: Vehicle) -> str:
    others = [v.vin for v in fleet if v.vin != vehicle.vin]
    if not others:
        raise ValueError("vin_mismatch needs a fleet of at least two vehicles")
    return others[int(rng.integers(0, len(others)))]


def _corrupt(rng: np.random.Generator, kind: str, body: bytes, max_payload_bytes: int) -> bytes:
    if kind == "invalid_json":
        return body[: int(rng.integers(1, len(body) - 1))]
    if kind == "non_finite_number":
        return body.replace(orjson.dumps(_NON_FINITE_MARKER), b"NaN")
    if kind == "oversize":
        return body + b" " * (max_payload_bytes + OVERSIZE_EXCESS_BYTES - len(body))
    return body
