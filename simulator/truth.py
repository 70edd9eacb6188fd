"""The record of what a run sent: JSON lines, one header, one line per vehicle, one per publish,
one end line. The format is documented in docs/simulator.md.

Line rendering is pure (and, except for the end line, reproducible from the seed and ``now``);
:class:`TruthWriter` only appends rendered lines to a file.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from journeygate.errors import ConfigError
from simulator.faults import FAULTS
from simulator.fleet import Vehicle
from simulator.logic import Outgoing, Plan
from simulator.params import SimulationParams

TRUTH_FORMAT = "journeygate-simulator-truth"
TRUTH_VERSION = 1


def _line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\n"


def header_line(plan: Plan, params: SimulationParams, mqtt_topic_root: str) -> bytes:
    generation = asdict(plan.params)
    generation["malformed_kinds"] = list(plan.params.malformed_kinds)
    return _line(
        {
            "type": "header",
            "format": TRUTH_FORMAT,
            "version": TRUTH_VERSION,
            "seed": plan.params.seed,
            "now": plan.now.isoformat(),
            "start": plan.start.isoformat(),
            "mqtt_topic_root": mqtt_topic_root,
            "generation": generation,
            "publish": {
                "speedup": params.speedup,
                "rate_per_s": params.rate_per_s,
                "connections": params.connections,
                "max_inflight": params.max_inflight,
            },
            "vehicles": len(plan.fleet),
            "planned_messages": len(plan.messages),
        }
    )


def vehicle_line(v: Vehicle) -> bytes:
    return _line(
        {
            "type": "vehicle",
            "vin": v.vin,
            "brand": v.brand,
            "model": v.model,
            "model_year": v.model_year,
            "powertrain": v.powertrain,
            "delivery_date": v.delivery_date.isoformat(),
            "dealer_id": v.dealer_id,
            "odometer_start_m": v.odometer_start_m,
            "engine_hours_start_h": v.engine_hours_start_h,
            "mean_daily_km": v.mean_daily_km,
            "weak_battery": v.weak_battery,
        }
    )


def message_line(n: int, m: Outgoing) -> bytes:
    """Line ``n`` of the publish list (``n`` is the position in the plan)."""
    out: dict[str, Any] = {
        "type": "message",
        "n": n,
        "due_ms": m.publish_ms,
        "topic_vin": m.topic_vin,
        "kind": m.kind,
        "vin": m.vin,
        "boot_id": m.boot_id,
        "seq": m.seq,
        "samples": m.sample_count,
        "first_ts_ms": m.first_ts_ms,
        "last_ts_ms": m.last_ts_ms,
        "bytes": len(m.payload),
        "sha256": hashlib.sha256(m.payload).hexdigest(),
    }
    if m.odometer_m is not None:
        out["odometer_m"] = m.odometer_m
    if m.duplicate_of is not None:
        out["duplicate_of"] = m.duplicate_of
    if m.fault is not None:
        expect = FAULTS[m.fault]
        out.update(fault=m.fault, expect_stage=expect.stage, expect_reason=expect.reason)
    return _line(out)


def end_line(
    *, published: int, acknowledged: int, planned: int, interrupted: bool, elapsed_s: float
) -> bytes:
    return _line(
        {
            "type": "end",
            "published": published,
            "acknowledged": acknowledged,
            "planned": planned,
            "interrupted": interrupted,
            "elapsed_s": round(elapsed_s, 3),
        }
    )


class TruthWriter:
    """Appends truth lines to ``path`` (nothing when ``path`` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def __enter__(self) -> TruthWriter:
        if self.path is not None:
            try:
                self._file = self.path.open("wb")
            except OSError as exc:
                raise ConfigError(f"cannot write truth file {self.path}: {exc.strerror}") from None
        return self

    def write(self, line: bytes) -> None:
        if self._file is not None:
            self._file.write(line)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
