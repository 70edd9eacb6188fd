"""Usage profiles (``simulator/data/profiles.toml``): how far, when and how an owner drives.

A scenario chooses a mix of profiles and may override any of their fields; :func:`with_overrides`
validates the merged profile as a whole, so an override is held to the same rules as the file.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator

from kernel.errors import ConfigError
from reference.catalog import BODIES, POWERTRAINS, ModelSpec
from simulator.scenario.checks import IntRange, Probability, Section, one_line

DEFAULT_PATH = Path(__file__).parents[1] / "data" / "profiles.toml"
DAYS_PER_YEAR = 365.25
MIN_SAMPLE_INTERVAL_S = 30
MAX_BATCH_SAMPLES = 1000

Factor = Annotated[float, Field(ge=0.0, le=10.0)]


class Profile(Section):
    """One usage profile; ``weekday_factors`` and ``month_factors`` are normalised to mean 1."""

    description: str = ""
    annual_km: float = Field(gt=0, le=500_000)
    vehicle_sigma: float = Field(ge=0, le=2)
    day_sigma: float = Field(ge=0, le=2)
    weekday_factors: tuple[Factor, ...] = Field(min_length=7, max_length=7)
    month_factors: tuple[Factor, ...] = Field(min_length=12, max_length=12)
    zero_day_probability_weekday: float = Field(ge=0, le=0.95)
    zero_day_probability_weekend: float = Field(ge=0, le=0.95)
    extra_trips_mean: float = Field(ge=0, le=30)
    max_trips: int = Field(ge=1, le=50)
    max_day_km: float = Field(gt=0, le=2000)
    departure_hours: IntRange
    powertrains: tuple[str, ...] = Field(min_length=1)
    bodies: tuple[str, ...] = Field(min_length=1)
    sample_interval_s: int = Field(ge=0, le=86_400)
    batch_probability: Probability
    batch_max_samples: int = Field(ge=1, le=MAX_BATCH_SAMPLES)

    @field_validator("weekday_factors", "month_factors")
    @classmethod
    def _normalised(cls, factors: tuple[float, ...]) -> tuple[float, ...]:
        mean = sum(factors) / len(factors)
        if mean <= 0:
            raise ValueError("factors must not all be 0")
        return tuple(round(f / mean, 6) for f in factors)

    @field_validator("powertrains")
    @classmethod
    def _known_powertrains(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(POWERTRAINS))
        if unknown:
            raise ValueError(f"unknown powertrains {unknown}; known: {list(POWERTRAINS)}")
        return names

    @field_validator("bodies")
    @classmethod
    def _known_bodies(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(BODIES))
        if unknown:
            raise ValueError(f"unknown bodies {unknown}; known: {list(BODIES)}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        lo, hi = self.departure_hours
        if not 0 <= lo < hi <= 23:
            raise ValueError("departure_hours must be [first, last] with 0 <= first < last <= 23")
        if 0 < self.sample_interval_s < MIN_SAMPLE_INTERVAL_S:
            raise ValueError(f"sample_interval_s must be 0 or at least {MIN_SAMPLE_INTERVAL_S}")
        return self

    @property
    def mean_daily_km(self) -> float:
        return self.annual_km / DAYS_PER_YEAR

    def allows(self, spec: ModelSpec) -> bool:
        """Whether an owner of this profile may drive ``spec``."""
        return spec.powertrain in self.powertrains and spec.body in self.bodies

    def day_factor(self, day: date) -> float:
        """Relative distance of ``day`` (weekday x month), mean 1 over a year."""
        return self.weekday_factors[day.weekday()] * self.month_factors[day.month - 1]

    def zero_day_probability(self, day: date) -> float:
        weekend = day.weekday() >= 5
        return self.zero_day_probability_weekend if weekend else self.zero_day_probability_weekday


def with_overrides(base: Profile, overrides: dict[str, Any], source: str, name: str) -> Profile:
    """``base`` with some fields replaced, validated as a whole."""
    try:
        return Profile.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        raise one_line(source, exc, ("profiles", name)) from None


def load_profiles(path: Path = DEFAULT_PATH) -> dict[str, Profile]:
    """Read and check a profiles file; :class:`ConfigError` names the first problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read usage profiles {path}: {exc}") from None
    tables = data.get("profiles")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path}: profiles: no [profiles.<name>] tables")
    profiles = {}
    for name, table in tables.items():
        try:
            profiles[name] = Profile.model_validate(table)
        except ValidationError as exc:
            raise one_line(str(path), exc, ("profiles", name)) from None
    return profiles
