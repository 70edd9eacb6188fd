"""Parameters of a simulation run, checked when built (bad values raise :class:`ConfigError`).

A run is a :class:`~simulator.scenario.files.Scenario` (a file, or the built-in defaults) plus
overrides from the command line or the caller (:class:`SimulationParams`). :class:`GenerationParams`
is what the pure generator needs: the scenario resolved against the reference data and the
pipeline settings that decide a message's fate (payload limit, future tolerance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kernel.errors import ConfigError
from reference.catalog import Catalog
from simulator.scenario.checks import key_path
from simulator.scenario.files import BUILT_IN, PublishSection, Scenario
from simulator.scenario.generation import (
    DEFAULT_FUTURE_TOLERANCE_MS,
    DEFAULT_MAX_PAYLOAD_BYTES,
    GenerationParams,
    generation_params,
)
from simulator.scenario.kinds import FAULT_KINDS
from simulator.scenario.profiles import Profile

__all__ = ["GenerationParams", "SimulationParams", "generation_params"]

# Override field -> (scenario key path, command-line flag).
OVERRIDES: dict[str, tuple[tuple[str, str], str]] = {
    "vehicles": (("fleet", "vehicles"), "--vehicles"),
    "dealers": (("fleet", "dealers"), "--dealers"),
    "days": (("scenario", "days"), "--days"),
    "horizon_days": (("scenario", "horizon_days"), "--horizon-days"),
    "seed": (("scenario", "seed"), "--seed"),
    "now": (("scenario", "end"), "--now"),
    "duplicate_rate": (("faults", "duplicate_rate"), "--duplicate-rate"),
    "speedup": (("publish", "speedup"), "--speedup"),
    "rate_per_s": (("publish", "rate"), "--rate"),
    "max_rate_per_s": (("publish", "max_rate"), "--max-rate"),
    "connections": (("publish", "connections"), "--connections"),
    "connection_per_vehicle": (("publish", "connection_per_vehicle"), "--connection-per-vehicle"),
    "max_inflight": (("publish", "max_inflight"), "--max-inflight"),
    "services": (("publish", "services"), "--services"),
    "acks": (("publish", "acks"), "--acks"),
    "resend_after_s": (("publish", "resend_after_s"), "--resend-after-s"),
    "device_buffer": (("publish", "device_buffer"), "--device-buffer"),
}


@dataclass(frozen=True, slots=True)
class SimulationParams:
    """A whole run: a scenario, overrides of some of its values (``None``: keep the scenario's),
    where to write the truth file, and publisher timeouts.

    ``malformed_rate`` spreads that many malformed messages per valid message evenly over
    ``malformed_kinds`` (default: every kind); other kinds get rate 0.
    """

    scenario: Scenario = field(default_factory=Scenario)
    scenario_source: str = BUILT_IN
    vehicles: int | None = None
    dealers: int | None = None
    days: int | None = None
    horizon_days: int | None = None
    seed: int | None = None
    now: datetime | None = None
    duplicate_rate: float | None = None
    malformed_rate: float | None = None
    malformed_kinds: tuple[str, ...] | None = None
    speedup: float | None = None
    rate_per_s: float | None = None
    max_rate_per_s: float | None = None
    connections: int | None = None
    connection_per_vehicle: bool | None = None
    max_inflight: int | None = None
    services: bool | None = None
    acks: str | None = None
    resend_after_s: float | None = None
    device_buffer: int | None = None
    truth_path: Path | None = None
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 60.0
    drain_timeout_s: float = 30.0
    confirm_timeout_s: float = 60.0
    """At the end, how long devices that honour acknowledgements wait for the next one while
    messages are unconfirmed (sending them again meanwhile) before giving up."""

    def __post_init__(self) -> None:
        self.effective()
        for name in ("connect_timeout_s", "ack_timeout_s", "drain_timeout_s", "confirm_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0")

    def effective(self) -> Scenario:
        """The scenario with the overrides applied, validated."""
        data: dict[str, Any] = self.scenario.model_dump(by_alias=True)
        for name, ((section, key), _) in OVERRIDES.items():
            value = getattr(self, name)
            if value is not None:
                data[section][key] = value
        if self.malformed_rate is not None or self.malformed_kinds is not None:
            data["faults"]["malformed"] = self._malformed()
        try:
            return Scenario.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = tuple(str(p) for p in first["loc"][:2])
            flags = {path: flag for path, flag in OVERRIDES.values()}
            where = flags.get((loc[0], loc[1]) if len(loc) == 2 else ("", ""))
            message = str(first["msg"]).removeprefix("Value error, ")
            if where is None:
                where = f"{self.scenario_source}: {key_path(tuple(first['loc']))}"
            raise ConfigError(f"{where}: {message}") from None

    def _malformed(self) -> dict[str, Any]:
        kinds = self.malformed_kinds if self.malformed_kinds is not None else FAULT_KINDS
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown:
            raise ConfigError(f"--malformed-kinds: unknown kinds {unknown}; known: {FAULT_KINDS}")
        total = (
            self.malformed_rate
            if self.malformed_rate is not None
            else self.scenario.faults.malformed.total
        )
        if not 0.0 <= total <= 1.0:
            raise ConfigError("--malformed-rate: must be between 0 and 1")
        if total > 0 and not kinds:
            raise ConfigError("--malformed-kinds: a malformed rate > 0 needs at least one kind")
        vehicles = self.vehicles if self.vehicles is not None else self.scenario.fleet.vehicles
        usable = [k for k in kinds if vehicles >= 2 or k != "vin_mismatch"]
        if total > 0 and not usable:
            raise ConfigError("--malformed-kinds: vin_mismatch needs at least 2 vehicles")
        rates: dict[str, Any] = {
            k: (total / len(usable) if k in usable else 0.0) for k in FAULT_KINDS
        }
        rates["min_each"] = self.scenario.faults.malformed.min_each
        return rates

    @property
    def publish(self) -> PublishSection:
        return self.effective().publish

    def generation(
        self,
        catalog: Catalog,
        profiles: Mapping[str, Profile],
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        future_tolerance_ms: int = DEFAULT_FUTURE_TOLERANCE_MS,
    ) -> GenerationParams:
        """The generation part, resolved against the reference data and pipeline limits."""
        return generation_params(
            self.effective(),
            catalog,
            profiles,
            source=self.scenario_source,
            max_payload_bytes=max_payload_bytes,
            future_tolerance_ms=future_tolerance_ms,
        )
