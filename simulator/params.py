"""Parameters of a simulation run, checked when built (bad values raise :class:`ConfigError`).

:class:`GenerationParams` decides *what* is sent (pure, reproducible from the seed and ``now``);
:class:`SimulationParams` adds *how* it is sent (pace, connections, truth file).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from journeygate.errors import ConfigError
from simulator.faults import FAULT_KINDS

DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What to generate. Rates are per valid message: ``duplicate_rate`` is the probability that
    a valid message is published twice; ``malformed_rate`` x valid messages is the expected
    number of malformed ones."""

    vehicles: int = 300
    days: int = 28
    seed: int = 42
    duplicate_rate: float = 0.01
    malformed_rate: float = 0.005
    batch_probability: float = 0.2
    dealers: int = 20
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    malformed_kinds: tuple[str, ...] = FAULT_KINDS

    def __post_init__(self) -> None:
        _check(self.vehicles >= 1, "vehicles must be at least 1")
        _check(1 <= self.days <= 3660, "days must be between 1 and 3660")
        _check(self.seed >= 0, "seed must be >= 0")
        for name in ("duplicate_rate", "malformed_rate", "batch_probability"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, f"{name.replace('_', '-')} must be between 0 and 1")
        _check(1 <= self.dealers <= 999, "dealers must be between 1 and 999")
        _check(self.max_payload_bytes >= 64, "max payload bytes must be at least 64")
        unknown = set(self.malformed_kinds) - set(FAULT_KINDS)
        _check(not unknown, f"unknown malformed kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        _check(
            self.malformed_rate == 0 or bool(self.malformed_kinds),
            "malformed-rate > 0 needs at least one malformed kind",
        )
        _check(
            self.malformed_rate == 0 or bool(self.usable_malformed_kinds),
            "the vin_mismatch fault needs at least 2 vehicles",
        )

    @property
    def usable_malformed_kinds(self) -> tuple[str, ...]:
        """The malformed kinds this fleet can produce (vin_mismatch needs two vehicles)."""
        if self.vehicles >= 2:
            return self.malformed_kinds
        return tuple(k for k in self.malformed_kinds if k != "vin_mismatch")


@dataclass(frozen=True, slots=True)
class SimulationParams:
    """A whole run: what to generate (the fields of :class:`GenerationParams`) plus how to
    publish it.

    ``now`` ends the simulated period (default: the wall clock at start). ``speedup`` maps
    simulated time to wall time (3600: one simulated hour per second; 0: as fast as possible).
    ``rate_per_s`` caps publishes per second (0: no cap). ``max_inflight`` bounds unacknowledged
    QoS 1 publishes across all ``connections``.
    """

    vehicles: int = 300
    days: int = 28
    seed: int = 42
    duplicate_rate: float = 0.01
    malformed_rate: float = 0.005
    malformed_kinds: tuple[str, ...] = FAULT_KINDS
    batch_probability: float = 0.2
    dealers: int = 20
    now: datetime | None = None
    speedup: float = 0.0
    rate_per_s: float = 0.0
    connections: int = 2
    max_inflight: int = 1000
    truth_path: Path | None = None
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 60.0
    drain_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        self.generation()
        _check(self.now is None or self.now.utcoffset() is not None, "now must be timezone-aware")
        _check(self.speedup >= 0, "speedup must be >= 0")
        _check(self.rate_per_s >= 0, "rate must be >= 0")
        _check(1 <= self.connections <= 64, "connections must be between 1 and 64")
        _check(1 <= self.max_inflight <= 65_000, "max in-flight must be between 1 and 65000")
        for name in ("connect_timeout_s", "ack_timeout_s", "drain_timeout_s"):
            _check(getattr(self, name) > 0, f"{name} must be > 0")

    def generation(self, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> GenerationParams:
        """The generation part; oversize faults exceed ``max_payload_bytes``."""
        return GenerationParams(
            vehicles=self.vehicles,
            days=self.days,
            seed=self.seed,
            duplicate_rate=self.duplicate_rate,
            malformed_rate=self.malformed_rate,
            batch_probability=self.batch_probability,
            dealers=self.dealers,
            max_payload_bytes=max_payload_bytes,
            malformed_kinds=self.malformed_kinds,
        )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
