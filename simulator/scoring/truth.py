"""What the scorer needs of a truth file: each vehicle's facts at ``now`` and its hidden future.

Only the header, ``vehicle``, ``trajectory``, ``vehicle_now``, ``future`` and ``future_event``
lines are read
(docs/simulator.md, "Truth file"); a truth file without a horizon can still be read, but has
nothing to score dates against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from kernel.errors import ConfigError
from simulator.truth.read import damaged_line


@dataclass(slots=True)
class VehicleTruth:
    vin: str
    facts: dict[str, Any] = field(default_factory=dict)
    """The ``vehicle`` line."""
    now: dict[str, Any] = field(default_factory=dict)
    """The ``vehicle_now`` line."""
    trajectory: dict[str, Any] | None = None
    """The ``trajectory`` line: the true odometer at the end of each day of the period."""
    future: dict[str, Any] | None = None
    services: list[dict[str, Any]] = field(default_factory=list)
    """The ``future_event`` services, in time order."""
    last_service_where: str | None = None
    """Where the last service up to ``now`` was (``dealer``, ``independent``), None if none."""
    last_service_ms: int = -1

    @property
    def financed(self) -> bool:
        finance = self.facts.get("finance") or {}
        return str(finance.get("kind", "cash")) != "cash"

    @property
    def dealer_knows_last_service(self) -> bool:
        """The dealer saw the last service, or there was none since delivery."""
        return self.last_service_where in (None, "dealer")

    def next_service(self) -> dict[str, Any] | None:
        return self.services[0] if self.services else None


@dataclass(frozen=True, slots=True)
class ScoringTruth:
    now: datetime
    horizon_days: int
    currency: str
    currency_per_usd: float
    vehicles: dict[str, VehicleTruth]

    @property
    def today(self) -> date:
        return self.now.date()


def read_scoring_truth(path: Path) -> ScoringTruth:
    """Read the lines the scorer uses; :class:`ConfigError` (one line) if the file is not one."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read truth file {path}: {exc.strerror or exc}") from None
    header: dict[str, Any] | None = None
    now_ms = 2**62  # the header comes first; until it is read, nothing is after `now`
    vehicles: dict[str, VehicleTruth] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ConfigError(f"truth file {path}: line {number} is not JSON") from None
        try:
            kind = doc.get("type") if isinstance(doc, dict) else None
            if kind == "header":
                header = doc
                now_ms = int(datetime.fromisoformat(doc["now"]).timestamp() * 1000)
            elif kind == "event" and doc.get("event") == "service":
                truth = vehicles.setdefault(doc["vin"], VehicleTruth(doc["vin"]))
                if int(doc["ts_ms"]) > truth.last_service_ms and int(doc["ts_ms"]) <= now_ms:
                    truth.last_service_ms = int(doc["ts_ms"])
                    truth.last_service_where = str(doc.get("where"))
            elif kind in ("vehicle", "trajectory", "vehicle_now", "future", "future_event"):
                truth = vehicles.setdefault(doc["vin"], VehicleTruth(doc["vin"]))
                if kind == "vehicle":
                    truth.facts = doc
                elif kind == "trajectory":
                    truth.trajectory = doc
                elif kind == "vehicle_now":
                    truth.now = doc
                elif kind == "future":
                    truth.future = doc
                elif doc.get("event") == "service":
                    truth.services.append(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise damaged_line(path, number, doc, exc) from None
    if header is None or header.get("format") != "journeygate-simulator-truth":
        raise ConfigError(f"{path} is not a journeygate simulator truth file (no header line)")
    if int(header.get("version", 0)) < 5:
        raise ConfigError(
            f"truth file {path} is version {header.get('version')}: need 5 or later"
            " (its vehicles' departure hours)"
        )
    for truth in vehicles.values():
        truth.services.sort(key=lambda e: int(e["ts_ms"]))
    return ScoringTruth(
        now=datetime.fromisoformat(header["now"]),
        horizon_days=int(header.get("horizon_days") or 0),
        currency=str(header.get("currency") or "USD"),
        currency_per_usd=float(header.get("currency_per_usd") or 1.0),
        vehicles=vehicles,
    )
