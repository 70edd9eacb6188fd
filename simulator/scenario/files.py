"""Scenario files: a fleet, how it is used and what goes wrong, in TOML (docs/simulator.md).

Every key has a default, so an empty file is the built-in scenario. :func:`load_scenario` checks
the whole file, including names that refer to the reference data (profiles and models), and
reports the first problem as one line naming the file and the key path.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from kernel.errors import ConfigError
from reference.catalog import Catalog, load_catalog
from simulator.scenario.checks import Rate, Section, one_line
from simulator.scenario.faults import FaultsSection
from simulator.scenario.people import (
    ConsentSection,
    DiagnosticsSection,
    FinanceSection,
    OwnersSection,
)
from simulator.scenario.profiles import Profile, load_profiles, with_overrides
from simulator.scenario.world import DealersSection, InvoicesSection, ValueSection, WearSection

SCENARIO_DIR = Path(__file__).parents[1] / "scenarios"
BUILT_IN = "built-in defaults"


class RunSection(Section):
    """Name, seed and simulated period: ``days`` ending at ``end`` (default: the wall clock)."""

    name: str = "default"
    description: str = ""
    seed: int = Field(default=42, ge=0, le=2**63 - 1)
    days: int = Field(default=28, ge=1, le=3660)
    end: datetime | None = None
    # Days simulated after ``end`` and never published: the hidden future predictions are
    # scored against (truth lines ``future`` and ``future_event``).
    horizon_days: int = Field(default=0, ge=0, le=3660)

    @field_validator("end")
    @classmethod
    def _aware(cls, end: datetime | None) -> datetime | None:
        if end is not None and end.utcoffset() is None:
            raise ValueError("needs a time zone, e.g. 2026-03-01T12:00:00Z")
        return end


class FleetSection(Section):
    """Fleet size, dealers, market, shares of usage profiles and (optionally) model weights."""

    vehicles: int = Field(default=300, ge=1, le=1_000_000)
    dealers: int = Field(default=20, ge=1, le=999)
    # ISO 3166 code of a market in reference/data/markets.toml: its currency prices everything
    # the simulator registers and publishes.
    market: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    profiles: dict[str, Rate] = {"average": 1.0}
    # By "Brand Model": replaces the catalog's weight; 0 leaves the model out.
    models: dict[str, Rate] = {}

    @field_validator("profiles")
    @classmethod
    def _some_profile(cls, shares: dict[str, float]) -> dict[str, float]:
        if sum(shares.values()) <= 0:
            raise ValueError("needs at least one profile with a positive share")
        return shares


class PublishSection(Section):
    """How messages are sent: pacing (``speedup`` or ``rate``), a cap, and the connections."""

    speedup: Rate = 0.0
    rate: Rate = 0.0
    max_rate: Rate = 0.0
    connections: int = Field(default=2, ge=1, le=64)
    connection_per_vehicle: bool = False
    max_inflight: int = Field(default=1000, ge=1, le=65_000)
    # Publish the dealer service visits to Kafka (vehicle.services): the service history, then
    # the period's visits.
    services: bool = True
    # Years of each vehicle's service history at its dealer published before the period's
    # telemetry (0: none).
    service_history_years: int = Field(default=3, ge=0, le=100)
    # What a device does with the pipeline's acknowledgements ({root}/{VIN}/ack): "honour" keeps
    # each message until one covers it and sends it again after a reconnect or a timeout;
    # "ignore" forgets a message at its PUBACK, as devices did before (docs/simulator.md).
    acks: Literal["honour", "ignore"] = "honour"
    # Seconds an unconfirmed message waits before it is sent again (doubling at each attempt).
    resend_after_s: float = Field(default=30.0, gt=0, le=86_400)
    # Unconfirmed messages a device keeps at most; past it, the oldest is dropped and counted.
    device_buffer: int = Field(default=10_000, ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _one_pacing(self) -> PublishSection:
        if self.speedup > 0 and self.rate > 0:
            raise ValueError("speedup and rate are exclusive ways of pacing; set one")
        return self


class Scenario(Section):
    """A whole scenario file."""

    scenario: RunSection = RunSection()
    fleet: FleetSection = FleetSection()
    profiles: dict[str, dict[str, Any]] = {}
    diagnostics: DiagnosticsSection = DiagnosticsSection()
    owners: OwnersSection = OwnersSection()
    finance: FinanceSection = FinanceSection()
    consent: ConsentSection = ConsentSection()
    dealers: DealersSection = DealersSection()
    invoices: InvoicesSection = InvoicesSection()
    wear: WearSection = WearSection()
    value: ValueSection = ValueSection()
    faults: FaultsSection = FaultsSection()
    publish: PublishSection = PublishSection()

    def as_json(self) -> dict[str, Any]:
        """The scenario as plain JSON values (the truth file's header keeps it)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


def parse_scenario(data: dict[str, Any], source: str) -> Scenario:
    """Validate parsed TOML; raises a one-line :class:`ConfigError`."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise one_line(source, exc) from None


def load_scenario(path: Path, catalog: Catalog, profiles: dict[str, Profile]) -> Scenario:
    """Read, validate and check a scenario file against the reference data."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    scenario = parse_scenario(data, str(path))
    check_references(scenario, catalog, profiles, str(path))
    return scenario


def named_scenario(name: str | None) -> tuple[Scenario, str]:
    """The scenario ``--scenario name`` names (a file, or a shipped one's name; ``None``: the
    built-in defaults) and where it came from, checked against the shipped reference data."""
    if name is None:
        return Scenario(), BUILT_IN
    path = resolve_path(name)
    return load_scenario(path, load_catalog(), load_profiles()), str(path)


def parse_now(text: str | None) -> datetime | None:
    """``--now``: an ISO 8601 time with a zone (``None`` stays ``None``)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--now {text!r} is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise ConfigError("--now needs a time zone, e.g. 2026-03-01T12:00:00Z")
    return moment


def resolve_path(name_or_path: str) -> Path:
    """A path as given, or the name of a shipped scenario (``smoke`` → scenarios/smoke.toml)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix:
        return path
    return SCENARIO_DIR / f"{name_or_path}.toml"


def check_references(
    scenario: Scenario, catalog: Catalog, profiles: dict[str, Profile], source: str
) -> dict[str, Profile]:
    """Check names against the reference data; returns the mix's profiles, overrides applied."""
    if scenario.fleet.market not in catalog.markets:
        raise ConfigError(
            f"{source}: fleet.market: unknown market {scenario.fleet.market!r};"
            f" known: {sorted(catalog.markets)}"
        )
    known = sorted(profiles)
    for name in [*scenario.fleet.profiles, *scenario.profiles]:
        if name not in profiles:
            section = "fleet.profiles" if name in scenario.fleet.profiles else "profiles"
            raise ConfigError(f"{source}: {section}.{name}: unknown profile; known: {known}")
    models = {m.name for m in catalog.models}
    for section, names in (
        ("fleet.models", scenario.fleet.models),
        ("diagnostics.model_factors", scenario.diagnostics.model_factors),
    ):
        for name in names:
            if name not in models:
                raise ConfigError(
                    f"{source}: {section}.{name}: unknown model; known: {sorted(models)}"
                )
    overridden = {
        name: with_overrides(profiles[name], table, source, name)
        for name, table in scenario.profiles.items()
    }
    resolved = {
        name: overridden.get(name, profiles[name])
        for name, share in scenario.fleet.profiles.items()
        if share > 0
    }
    for name, profile in resolved.items():
        weights = [_weight(m.name, m.weight, scenario) for m in catalog.models if profile.allows(m)]
        if not any(w > 0 for w in weights):
            raise ConfigError(
                f"{source}: fleet.profiles.{name}: no catalog model with a positive weight fits"
                f" the profile (powertrains {list(profile.powertrains)},"
                f" bodies {list(profile.bodies)})"
            )
    return resolved


def _weight(name: str, default: float, scenario: Scenario) -> float:
    return scenario.fleet.models.get(name, default)
