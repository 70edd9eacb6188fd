"""Used-car value as a share of MSRP, by body, powertrain, age and distance (pure, numpy).

For a car ``a`` years old with ``d`` km on the odometer::

    share = (1 - drop) ** min(a, 1)            # the first year's drop, spread over the year
          * (1 - rate) ** max(a - 1, 0)        # then a yearly declining balance
          * exp(-k * (d - annual_km * a))      # distance above (below) the reference use

``drop`` is the year-one loss; ``rate`` is fitted per body and powertrain so that a car driven
the reference distance keeps the five-year share the data file gives. ``k`` turns the rule of
thumb "x % of value per 1,000 mi" into a rate per km, capped so that the reference year's
distance never costs more than the year's decline: at a fixed odometer an older car is then
never worth more, and no share exceeds 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reference.fields import Table, check_version
from reference.terms import BODIES, KM_PER_MILE, POWERTRAINS

VERSION = 1
Shares = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Curve:
    """One body and powertrain's value curve (rates per year and per km)."""

    year_one_drop: float
    yearly_rate: float
    distance_rate_per_km: float
    reference_annual_km: float


def curve_value_share(curve: Curve, age_years: ArrayLike, distance_km: ArrayLike) -> Shares:
    """The share of MSRP a car keeps; broadcasts ``age_years`` against ``distance_km``."""
    age = np.asarray(age_years, dtype=np.float64)
    km = np.asarray(distance_km, dtype=np.float64)
    if not (np.all(np.isfinite(age)) and np.all(np.isfinite(km))):
        raise ValueError("age_years and distance_km must be finite")
    if np.any(age < 0) or np.any(km < 0):
        raise ValueError("age_years and distance_km must be >= 0")
    first_year = (1.0 - curve.year_one_drop) ** np.minimum(age, 1.0)
    later_years = (1.0 - curve.yearly_rate) ** np.maximum(age - 1.0, 0.0)
    excess_km = km - curve.reference_annual_km * age
    out: Shares = first_year * later_years * np.exp(-curve.distance_rate_per_km * excess_km)
    return out


def curve_value_share_at(curve: Curve, age_years: float, distance_km: float) -> float:
    """:func:`curve_value_share` of one car, in scalar arithmetic: the same formula, for a
    vehicle valued once an evaluation, where numpy's per-call overhead costs about ten times the
    math (docs/performance.md)."""
    if not (math.isfinite(age_years) and math.isfinite(distance_km)):
        raise ValueError("age_years and distance_km must be finite")
    if age_years < 0 or distance_km < 0:
        raise ValueError("age_years and distance_km must be >= 0")
    first_year = math.pow(1.0 - curve.year_one_drop, min(age_years, 1.0))
    later_years = math.pow(1.0 - curve.yearly_rate, max(age_years - 1.0, 0.0))
    excess_km = distance_km - curve.reference_annual_km * age_years
    return first_year * later_years * math.exp(-curve.distance_rate_per_km * excess_km)


@dataclass(frozen=True, slots=True)
class Depreciation:
    """Curves for every (body, powertrain) and the market's spread around them."""

    curves: Mapping[tuple[str, str], Curve]
    low_factor: float
    high_factor: float

    def curve(self, segment: str, powertrain: str) -> Curve:
        try:
            return self.curves[(segment, powertrain)]
        except KeyError:
            raise ValueError(f"no depreciation curve for {segment!r}, {powertrain!r}") from None

    def value_share(
        self, segment: str, powertrain: str, age_years: ArrayLike, distance_km: ArrayLike
    ) -> Shares:
        """Share of MSRP kept (broadcasts ``age_years`` against ``distance_km``)."""
        return curve_value_share(self.curve(segment, powertrain), age_years, distance_km)

    def value_share_range(
        self, segment: str, powertrain: str, age_years: ArrayLike, distance_km: ArrayLike
    ) -> tuple[Shares, Shares, Shares]:
        """``(low, expected, high)``: the market's spread; ``high`` never above 1."""
        mid = self.value_share(segment, powertrain, age_years, distance_km)
        return mid * self.low_factor, mid, np.minimum(mid * self.high_factor, 1.0)

    def value_share_range_at(
        self, segment: str, powertrain: str, age_years: float, distance_km: float
    ) -> tuple[float, float, float]:
        """:meth:`value_share_range` of one car (:func:`curve_value_share_at`)."""
        mid = curve_value_share_at(self.curve(segment, powertrain), age_years, distance_km)
        return mid * self.low_factor, mid, min(mid * self.high_factor, 1.0)


def parse_depreciation(top: Table) -> Depreciation:
    check_version(top, VERSION)
    annual_km = top.number("reference_annual_mi", positive=True) * KM_PER_MILE
    drop = top.number("year_one_drop", minimum=0, maximum=0.99)
    all_kept = 1.0 - top.number("all_cars_five_year_loss", minimum=0, maximum=0.99)
    segments = top.table("segments")
    powertrains = top.table("powertrains")
    kept: dict[str, float] = {}
    per_km: dict[str, float] = {}
    for body in BODIES:
        t = segments.table(body)
        kept[body] = 1.0 - t.number("five_year_loss", minimum=0, maximum=0.99)
        t.text("source")
        t.close()
    for powertrain in POWERTRAINS:
        t = powertrains.table(powertrain)
        kept[powertrain] = 1.0 - t.number("five_year_loss", minimum=0, maximum=0.99)
        loss = t.number("distance_loss_per_1000mi", minimum=0, maximum=0.5)
        per_km[powertrain] = -math.log1p(-loss) / (1000.0 * KM_PER_MILE)
        t.text("source")
        t.close()
    segments.close()
    powertrains.close()
    curves = {}
    for body in BODIES:
        for powertrain in POWERTRAINS:
            five = kept[body] * kept[powertrain] / all_kept
            if not 0.0 < five < 1.0 - drop:
                segments.table(body).fail(
                    "five_year_loss",
                    f"with powertrains.{powertrain} leaves no decline after year one",
                )
            rate = 1.0 - (five / (1.0 - drop)) ** 0.25
            cap = min(-math.log1p(-rate), -math.log1p(-drop)) / annual_km
            curves[(body, powertrain)] = Curve(drop, rate, min(per_km[powertrain], cap), annual_km)
    spread = top.table("uncertainty")
    low = spread.number("low_factor", positive=True, maximum=1)
    high = spread.number("high_factor", minimum=1)
    spread.text("source")
    spread.close()
    top.close()
    return Depreciation(MappingProxyType(curves), low, high)
