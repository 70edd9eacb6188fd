"""Time to reach a distance, and distance over a time, from a usage estimate.

Model: the distance driven over the next ``t`` days is Normal with mean ``mu * t`` and variance
``sigma**2 * t + s_mu**2 * t**2``: day-to-day spread adds up like a random walk, while an error in
the mean rate grows with the horizon. The time ``T`` to reach ``R`` km satisfies
``P(T <= t) = P(S(t) >= R) = Phi((mu*t - R) / sd(t))``, which increases with ``t`` for ``R > 0``.
The quantile ``t_p`` solves ``(mu*t - R)**2 = z_p**2 * (sigma**2 * t + s_mu**2 * t**2)`` on the
branch where ``mu*t - R`` has the sign of ``z_p``; this quadratic always has real roots, so the
quantile is closed-form. With ``z_p * s_mu >= mu`` the rate may be zero or negative with
probability ``1 - p`` and the later quantile is infinite (the caller's time bound then applies).
``R <= 0`` (already reached) gives 0 days: a forecast is never before its origin.

``sigma`` is the spread of a day around its own weekday's mean: a weekly rhythm (a van idle at
weekends) does not add up over weeks. Over a horizon of a few days it does matter, since which
days fall in the horizon is then a large part of the distance: :func:`spread_over` adds it back
for short horizons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
QUANTILES = (0.1, 0.5, 0.9)
_TINY_KM = 1e-9
_TINY_KM_PER_DAY = 1e-9


@dataclass(slots=True, init=False)
class DaysQuantiles:
    """P10/P50/P90 days until a distance is reached (inf: not reached under the model)."""

    p10_days: Floats
    p50_days: Floats
    p90_days: Floats

    def __init__(
        self,
        p10_days: Floats,
        p50_days: Floats,
        p90_days: Floats,
    ) -> None:
        self.p10_days = p10_days
        self.p50_days = p50_days
        self.p90_days = p90_days


@dataclass(slots=True, init=False)
class KmQuantiles:
    """P10/P50/P90 distance (km, never negative) driven over a horizon."""

    p10_km: Floats
    p50_km: Floats
    p90_km: Floats

    def __init__(
        self,
        p10_km: Floats,
        p50_km: Floats,
        p90_km: Floats,
    ) -> None:
        self.p10_km = p10_km
        self.p50_km = p50_km
        self.p90_km = p90_km


def days_to_reach_quantile(
    remaining_km: npt.ArrayLike,
    mean_km_per_day: npt.ArrayLike,
    sd_km_per_day: npt.ArrayLike,
    mean_sd_km_per_day: npt.ArrayLike,
    probability: float,
) -> Floats:
    """Days ``t`` with ``P(T <= t) = probability``, element-wise over broadcast inputs."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    z = NormalDist().inv_cdf(probability)
    r, mu, sd, smu = np.broadcast_arrays(
        *(
            np.asarray(a, dtype=np.float64)
            for a in (remaining_km, mean_km_per_day, sd_km_per_day, mean_sd_km_per_day)
        )
    )
    # A rate this small is no movement: its square would be subnormal, and the later root q / a
    # would lose its precision (P50 before P10). A spread this small is none, for the same reason
    # (its square times a short distance's underflowed to 0 where a longer one's did not, making
    # the short distance never reached and the long one reached).
    mu = np.where(mu > _TINY_KM_PER_DAY, mu, 0.0)
    sd = np.where(sd > _TINY_KM_PER_DAY, sd, 0.0)
    smu = np.where(smu > _TINY_KM_PER_DAY, smu, 0.0)
    r_pos = np.maximum(r, _TINY_KM)  # below a micrometre r**2 would underflow
    a = mu**2 - z**2 * smu**2
    b = -(2.0 * mu * r_pos + z**2 * sd**2)
    c = r_pos**2
    # b**2 - 4ac expanded: a sum of non-negative terms, so no cancellation when sd = s_mu = 0.
    disc = z**2 * (4.0 * mu * r_pos * sd**2 + z**2 * sd**4 + 4.0 * c * smu**2)
    q = 0.5 * (-b + np.sqrt(disc))  # >= 0; roots are c / q and q / a
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # z < 0: the earlier root (mu*t < R); z >= 0: the later one, none when a <= 0.
        days = np.where(q > 0, c / q, np.inf) if z < 0 else np.where(a > 0, q / a, np.inf)
    return np.where(r <= 0, 0.0, days)


_Z = tuple(NormalDist().inv_cdf(p) for p in QUANTILES)

WEEKDAY_DAYS = 3.0
"""Days' worth of the weekly rhythm's variance in the distance of any horizon. The sum of ``t``
consecutive days of a rhythm whose days are off the mean by ``d_i`` (summing to 0 over a week)
is off by the sum of those ``t``: averaged over the weekday the horizon starts on, its square is
``t * (7 - t) / 6`` times ``mean(d_i**2)`` for days in no particular order (at most 2, at 3 or 4
days), more where the quiet days are together, as a weekend is (a van busy five days, idle the
other two: 1, 2.6, 3.3, 2.9 at 1 to 4 days), and 0 over whole weeks. ``min(t, 3)`` days' worth
follows it to the peak and keeps it beyond, since a horizon's end is not known to the day."""


def spread_over(days: float, sd_km_per_day: float, weekday_sd_km: float) -> float:
    """The day-to-day spread to forecast a horizon of about ``days`` with: ``sd_km_per_day``
    (around each weekday's mean) plus ``weekday_sd_km``'s variance over at most
    :data:`WEEKDAY_DAYS` of those days (see there), spread over the horizon."""
    if weekday_sd_km <= 0.0:
        return sd_km_per_day
    share = 1.0 if not days > WEEKDAY_DAYS else WEEKDAY_DAYS / days
    return math.sqrt(sd_km_per_day * sd_km_per_day + weekday_sd_km * weekday_sd_km * share)


def days_to_reach_one(
    remaining_km: float, mean_km_per_day: float, sd_km_per_day: float, mean_sd_km_per_day: float
) -> tuple[float, float, float]:
    """:func:`days_to_reach` of one vehicle in plain floats: the same formulas, without the
    cost of a dozen NumPy calls on 1-element arrays (about 40 µs a quantile, a fifth of a
    vehicle's whole evaluation). Tested equal to :func:`days_to_reach_quantile`."""
    if remaining_km <= 0:
        return (0.0, 0.0, 0.0)
    mu = mean_km_per_day if mean_km_per_day > _TINY_KM_PER_DAY else 0.0
    sd = sd_km_per_day if sd_km_per_day > _TINY_KM_PER_DAY else 0.0
    smu = mean_sd_km_per_day if mean_sd_km_per_day > _TINY_KM_PER_DAY else 0.0
    r, sd2, smu2 = max(remaining_km, _TINY_KM), sd**2, smu**2
    c = r * r
    out = []
    for z in _Z:
        z2 = z * z
        a = mu * mu - z2 * smu2
        b = -(2.0 * mu * r + z2 * sd2)
        disc = z2 * (4.0 * mu * r * sd2 + z2 * sd2 * sd2 + 4.0 * c * smu2)
        q = 0.5 * (-b + math.sqrt(disc))
        if z < 0:
            out.append(c / q if q > 0 else math.inf)
        else:
            out.append(q / a if a > 0 else math.inf)
    p50 = out[1]  # ordered as the exact quantiles are (see days_to_reach)
    return min(out[0], p50), p50, max(out[2], p50)


def days_to_reach(
    remaining_km: npt.ArrayLike,
    mean_km_per_day: npt.ArrayLike,
    sd_km_per_day: npt.ArrayLike,
    mean_sd_km_per_day: npt.ArrayLike,
) -> DaysQuantiles:
    """P10/P50/P90 days until the odometer advances by ``remaining_km`` (vectorised).

    The three are ordered: without spread they are one number that the earlier root (``c / q``)
    and the later one (``q / a``) compute a rounding apart, P10 then a microsecond after P50."""
    p10, p50, p90 = (
        days_to_reach_quantile(remaining_km, mean_km_per_day, sd_km_per_day, mean_sd_km_per_day, p)
        for p in QUANTILES
    )
    return DaysQuantiles(np.minimum(p10, p50), p50, np.maximum(p90, p50))


def distance_in(
    days: npt.ArrayLike,
    mean_km_per_day: npt.ArrayLike,
    sd_km_per_day: npt.ArrayLike,
    mean_sd_km_per_day: npt.ArrayLike,
) -> KmQuantiles:
    """P10/P50/P90 km driven over ``days`` (vectorised; clipped at 0, a car never un-drives)."""
    t, mu, sd, smu = np.broadcast_arrays(
        *(
            np.asarray(a, dtype=np.float64)
            for a in (days, mean_km_per_day, sd_km_per_day, mean_sd_km_per_day)
        )
    )
    t = np.maximum(t, 0.0)
    spread = np.sqrt(sd**2 * t + smu**2 * t**2)
    p10, p50, p90 = (np.maximum(mu * t + NormalDist().inv_cdf(p) * spread, 0.0) for p in QUANTILES)
    return KmQuantiles(p10, p50, p90)
