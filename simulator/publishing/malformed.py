"""Malformed messages of every kind and variant (pure), each with its expected rejection.

See :mod:`simulator.scenario.kinds` for the kinds and where the pipeline must reject them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from simulator.scenario.kinds import (
    BAD_DTCS,
    FAULTS,
    FUTURE_AHEAD_MS,
    OVERSIZE_EXCESS_BYTES,
    TS_BEFORE_2000_MS,
    VARIANTS,
    Malformed,
)
from simulator.world.fleet import Vehicle
from simulator.world.messages import SIGNAL_BATTERY_12V, SIGNAL_DTCS, SIGNAL_SPEED, payload_json
from simulator.world.vin import make_unique_vin

_NON_FINITE_MARKER = "__non_finite__"


def malformed_messages(
    rng: np.random.Generator,
    fleet: tuple[Vehicle, ...],
    kinds: list[str] | tuple[str, ...],
    start_ms: int,
    now_ms: int,
    max_payload_bytes: int,
) -> list[Malformed]:
    """One malformed message per entry of ``kinds``, at random times and vehicles."""
    taken = {v.vin for v in fleet}
    out = []
    for n, kind in enumerate(kinds):
        if kind not in FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}")
        variants = VARIANTS[kind]
        variant = variants[int(rng.integers(0, len(variants)))]
        vehicle = fleet[int(rng.integers(0, len(fleet)))]
        publish_ms = int(rng.integers(start_ms, now_ms + 1))
        ts_ms = publish_ms - int(rng.integers(0, 3_000))
        topic_vin = payload_vin = vehicle.vin
        sample: dict[str, Any] = {
            "ts_ms": ts_ms,
            SIGNAL_SPEED: round(float(rng.uniform(0.0, 120.0)), 1),
            SIGNAL_BATTERY_12V: round(float(rng.uniform(12.3, 14.4)), 2),
        }
        body = payload_json(payload_vin, f"bad-{n}", 0, [sample])
        if kind == "non_finite_number":
            sample[SIGNAL_SPEED] = _NON_FINITE_MARKER
        elif kind == "schema":
            _schema(variant, body, sample)
        elif kind == "out_of_range":
            _out_of_range(variant, sample)
            ts_ms = sample["ts_ms"]
        elif kind == "bad_dtc":
            sample[SIGNAL_DTCS] = [BAD_DTCS[int(rng.integers(0, len(BAD_DTCS)))]]
        elif kind == "future_timestamp":
            sample["ts_ms"] = ts_ms = now_ms + int(rng.integers(*FUTURE_AHEAD_MS))
        elif kind == "vin_mismatch":
            payload_vin = body["vin"] = _other_vin(rng, fleet, vehicle)
        elif kind == "unknown_vin":
            topic_vin = payload_vin = body["vin"] = make_unique_vin(
                rng, vehicle.vin[:3], vehicle.model_year, taken
            )
            taken.add(topic_vin)
        elif kind == "bad_vin":
            topic_vin = payload_vin = body["vin"] = _bad_vin(variant, vehicle.vin)
        payload = _corrupt(rng, kind, variant, orjson.dumps(body), max_payload_bytes)
        out.append(
            Malformed(kind, variant, topic_vin, payload_vin, f"bad-{n}", ts_ms, publish_ms, payload)
        )
    return out


def _schema(variant: str, body: dict[str, Any], sample: dict[str, Any]) -> None:
    if variant == "speed_string":
        sample[SIGNAL_SPEED] = str(sample[SIGNAL_SPEED])
    elif variant == "seq_string":
        body["seq"] = str(body["seq"])
    elif variant == "unknown_signal":
        sample["Vehicle.Body.Color"] = "red"
    else:
        del sample["ts_ms"]


def _out_of_range(variant: str, sample: dict[str, Any]) -> None:
    if variant == "speed_900":
        sample[SIGNAL_SPEED] = 900.0
    elif variant == "battery_40v":
        sample[SIGNAL_BATTERY_12V] = 40.0
    else:
        sample["ts_ms"] = TS_BEFORE_2000_MS


def _bad_vin(variant: str, vin: str) -> str:
    if variant == "16_characters":
        return vin[:16]
    if variant == "letter_o":
        return vin[:4] + "O" + vin[5:]
    return vin.lower()


def _other_vin(rng: np.random.Generator, fleet: tuple[Vehicle, ...], vehicle: Vehicle) -> str:
    others = [v.vin for v in fleet if v.vin != vehicle.vin]
    if not others:
        raise ValueError("vin_mismatch needs a fleet of at least two vehicles")
    return others[int(rng.integers(0, len(others)))]


def _corrupt(
    rng: np.random.Generator, kind: str, variant: str, body: bytes, max_payload_bytes: int
) -> bytes:
    if kind == "invalid_json":
        if variant == "not_an_object":
            return b"[" + body + b"]"
        if variant == "not_utf8":
            return body.replace(b'"v":1', b'"v":1,"\xff":1', 1).replace(b"\\xff", b"\xff")
        return body[: int(rng.integers(1, len(body) - 1))]
    if kind == "non_finite_number":
        return body.replace(orjson.dumps(_NON_FINITE_MARKER), variant.encode())
    if kind == "oversize":
        return body + b" " * (max_payload_bytes + OVERSIZE_EXCESS_BYTES - len(body))
    return body
