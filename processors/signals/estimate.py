"""Usage estimate from a vehicle's state: mean km per day, its spread and its uncertainty.

Three sources are pooled, each weighted in days of driving it stands for:

* the recent days (every complete, known day in the ring, idle days at 0 km), weighted with a
  half-life of ``recent_half_life_days`` so that a change of habits shows within a couple of
  months; their weight is the effective number of days ``(sum w)**2 / sum w**2``;
* the lifetime rate (odometer since delivery when given, plus all tracked distance). While it
  spans fewer than ``lifetime_min_days`` beyond the recent days, it counts as at most
  ``lifetime_weight_days`` days. Past that it is a long average whose only doubt is that habits
  drift: the recent rate is then shrunk toward it by precision (empirical Bayes), the drift's
  variance estimated from the vehicle's own data as the part of the squared gap between the
  recent and the lifetime rate that the recent rate's noise does not explain, never below
  ``drift_floor`` of the lifetime rate. A recent rate within noise of the lifetime rate is pulled
  to it; one far from it (a new commute) stands;
* the tracked days before the ring (a vehicle followed longer than the ring's 63 days), from
  four weeks of them: their mean rate, weighted as the ring's days are, by the age of their
  middle (``days x 0.5 ** (age / recent_half_life_days)``): the lifetime rate below runs from
  delivery, so without it these exact days counted only inside an average dominated, for most
  cars, by the years before tracking (the fleet's usage shift, below, applies to the ring's
  rate only: it measures the season of the recent days);
* a population prior (``mean_km_per_day``, one pseudo-day) so that a single reading still
  gives a finite, wide estimate.

The day-to-day spread is the sample standard deviation of days resolved by a reading (not spread
over a gap), shrunk toward ``daily_cv`` x mean with ``sd_dof`` pseudo-observations. The spread
used for forecasting is the same days' spread around their own weekday's mean (pooled, one
degree of freedom per weekday): a weekly rhythm (a van idle at weekends, a commute) repeats, so
it neither adds up over weeks like noise nor makes the mean of whole weeks uncertain. What the
rhythm adds to a single day's variance is kept beside it (``weekday_sd_km``): over a horizon of
a few days it decides which days fall in it (:func:`.forecast.spread_over`). When whole weeks
vary more than daily noise explains (a holiday, a new commute), the spread used for forecasting
is widened to the week-to-week variance per day, so both the t-day sum and the uncertainty of the
mean reflect it. The mean's sd is that spread over the total weight in days, so it shrinks as
consistent history grows.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from processors.signals.dates import MS_PER_DAY
from processors.signals.usage_state import RING_DAYS, UsageState

_WEEK = 7
_RING = struct.Struct(f"<{RING_DAYS}f")
_LAST = struct.Struct("<f")


@dataclass(frozen=True, slots=True)
class UsageModel:
    """Population prior, pooling weights (in days of driving each source stands for) and the
    recency half-life: set from domain knowledge, not fitted to any fleet.

    The default mean sits between UK (~33 km/day, about 7,500 mi a year) and US (~59 km/day,
    FHWA 13,476 mi a year) figures; pass a market's own. ``daily_cv`` ~ 1 is typical of daily
    distances that include idle days.
    """

    mean_km_per_day: float = 45.0
    weight_days: float = 1.0
    recent_half_life_days: float = 56.0
    daily_cv: float = 1.0
    sd_dof: float = 3.0
    lifetime_weight_days: float = 7.0
    lifetime_min_days: float = 30.0
    drift_floor: float = 0.12


@dataclass(slots=True, init=False)
class UsageEstimate:
    """Distance per day: mean, spread used for forecasting, sd of the mean; inputs' summary."""

    mean_km_per_day: float
    sd_km_per_day: float
    mean_sd_km_per_day: float
    daily_sd_km: float
    recent_km_per_day: float  # NaN without a complete known day
    lifetime_km_per_day: float  # NaN without any tracked or pre-tracking time
    recent_days: int
    lifetime_days: float
    as_of_ts_ms: int | None  # time of the last accepted reading, the forecasts' origin
    odometer_m: float | None
    weekday_sd_km: float = 0.0
    """What the weekly rhythm adds to one day's spread (``daily_sd_km`` counts it,
    ``sd_km_per_day`` does not)."""

    def __init__(
        self,
        mean_km_per_day: float,
        sd_km_per_day: float,
        mean_sd_km_per_day: float,
        daily_sd_km: float,
        recent_km_per_day: float,
        lifetime_km_per_day: float,
        recent_days: int,
        lifetime_days: float,
        as_of_ts_ms: int | None,
        odometer_m: float | None,
        weekday_sd_km: float = 0.0,
    ) -> None:
        self.mean_km_per_day = mean_km_per_day
        self.sd_km_per_day = sd_km_per_day
        self.mean_sd_km_per_day = mean_sd_km_per_day
        self.daily_sd_km = daily_sd_km
        self.weekday_sd_km = weekday_sd_km
        self.recent_km_per_day = recent_km_per_day
        self.lifetime_km_per_day = lifetime_km_per_day
        self.recent_days = recent_days
        self.lifetime_days = lifetime_days
        self.as_of_ts_ms = as_of_ts_ms
        self.odometer_m = odometer_m


DEFAULT_MODEL = UsageModel()

SHIFT_MIN_LIFETIME_DAYS = 365.0
"""A car's lifetime rate stands for its habit across the seasons once it spans a year before the
recent days."""
SHIFT_MIN_RECENT_DAYS = 28
"""Four weeks of known days, enough for the recent rate to show a season."""


def recent_to_lifetime(est: UsageEstimate) -> float | None:
    """The recent rate over the lifetime rate, where the lifetime spans
    :data:`SHIFT_MIN_LIFETIME_DAYS` before the recent days and those are at least
    :data:`SHIFT_MIN_RECENT_DAYS` (else None). Over a fleet it is about 1 whatever each car's
    habit; a whole fleet away from 1 at once is a season or the market, which the forecasts
    carry forward as each car's habit (docs/signals.md#other-kinds-of-fleet)."""
    recent, lifetime = est.recent_km_per_day, est.lifetime_km_per_day
    if est.recent_days < SHIFT_MIN_RECENT_DAYS:
        return None
    if not est.lifetime_days - est.recent_days >= SHIFT_MIN_LIFETIME_DAYS:
        return None
    if not (math.isfinite(recent) and math.isfinite(lifetime) and lifetime > 0.0):
        return None
    return recent / lifetime


WEEKDAY_MIN_DOF = 7
"""Degrees of freedom around the weekdays' means (14 known days, each weekday about twice) before
a weekly rhythm is told from day-to-day noise; until then the days' plain spread is used."""


def _variance(values: list[float]) -> float:
    """Sample variance (``ddof=1``; two passes, as :func:`numpy.var`); 0 for fewer than two."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = math.fsum(values) / n
    return math.fsum([(x - mean) * (x - mean) for x in values]) / (n - 1)


def _within_weekdays(values: list[float], weekdays: list[int]) -> tuple[float, int]:
    """Pooled variance of ``values`` around the mean of their own weekday and its degrees of
    freedom (one less per weekday present; 0, 0 when none is left)."""
    sums = [0.0] * _WEEK
    counts = [0] * _WEEK
    for x, d in zip(values, weekdays, strict=True):
        sums[d] += x
        counts[d] += 1
    dof = len(values) - sum(1 for c in counts if c)
    if dof <= 0:
        return 0.0, 0
    square = 0.0
    for x, d in zip(values, weekdays, strict=True):
        gap = x - sums[d] / counts[d]
        square += gap * gap
    return square / dof, dof


def _week_mean_square(days: list[float]) -> tuple[float, int]:
    """Between-week mean square (7 x variance of weekly mean km/day) and its degrees of freedom.

    Weeks are 7 consecutive ring days, so a weekly rhythm (commute, weekend) cancels within each;
    only complete weeks count, as a partial week's mean would mix in that rhythm.
    """
    means: list[float] = []
    for start in range(len(days) % _WEEK, len(days), _WEEK):
        week = days[start : start + _WEEK]
        if all(math.isfinite(x) for x in week):  # complete weeks only
            means.append(math.fsum(week) / _WEEK)
    if len(means) < 2:
        return 0.0, 0
    return _WEEK * _variance(means), len(means) - 1


@dataclass(slots=True, init=False)
class RingStatistics:
    """What the estimate takes from the ring's complete days."""

    recent_days: int
    """Days whose distance is known."""
    weight_days: float
    """Their effective number under the recency weights, ``(sum w)**2 / sum w**2``."""
    recent_km_per_day: float
    """Their recency-weighted mean; NaN without a known day."""
    spread_dof: int
    spread_variance: float
    """Sample variance of the days resolved by a reading (of every known day with fewer than
    two such) and its degrees of freedom."""
    within_dof: int
    within_variance: float
    """The same days' variance around their own weekday's mean (:func:`_within_weekdays`)."""
    week_mean_square: float
    week_dof: int
    """:func:`_week_mean_square` of the days."""
    known_km: float
    """The known days' distance, unweighted (0 without one)."""

    def __init__(
        self,
        recent_days: int,
        weight_days: float,
        recent_km_per_day: float,
        spread_dof: int,
        spread_variance: float,
        within_dof: int,
        within_variance: float,
        week_mean_square: float,
        week_dof: int,
        known_km: float,
    ) -> None:
        self.recent_days = recent_days
        self.weight_days = weight_days
        self.recent_km_per_day = recent_km_per_day
        self.spread_dof = spread_dof
        self.spread_variance = spread_variance
        self.within_dof = within_dof
        self.within_variance = within_variance
        self.week_mean_square = week_mean_square
        self.week_dof = week_dof
        self.known_km = known_km


def ring_statistics(state: UsageState, half_life_days: float) -> RingStatistics:
    """The ring's statistics, in scalar loops over its 63 complete days (the last slot is the
    open, partial day): NumPy's per-call overhead on arrays this small cost several times the
    arithmetic (tests/unit/processors/signals/test_signals_estimate_scalar.py checks them
    against the array form)."""
    days = list(_RING.unpack(state.ring_f32))[:-1]
    coarse, last = state.coarse_mask, len(days) - 1
    first_day = state.end_day - len(days)  # the epoch day of slot 0 (the open day is slot 63)
    recent: list[float] = []
    resolved: list[float] = []
    recent_weekdays: list[int] = []
    resolved_weekdays: list[int] = []
    sum_w = sum_w2 = sum_wx = sum_x = 0.0
    for i, km in enumerate(days):
        if not math.isfinite(km):
            continue
        w = 0.5 ** ((last - i) / half_life_days)
        sum_w += w
        sum_w2 += w * w
        sum_wx += w * km
        sum_x += km
        weekday = (first_day + i) % _WEEK
        recent.append(km)
        recent_weekdays.append(weekday)
        if not coarse >> i & 1:
            resolved.append(km)
            resolved_weekdays.append(weekday)
    sample, weekdays = (
        (resolved, resolved_weekdays) if len(resolved) >= 2 else (recent, recent_weekdays)
    )
    within, within_dof = _within_weekdays(sample, weekdays)
    week_ms, week_dof = _week_mean_square(days)
    return RingStatistics(
        recent_days=len(recent),
        weight_days=sum_w * sum_w / sum_w2 if recent else 0.0,
        recent_km_per_day=sum_wx / sum_w if recent else math.nan,
        spread_dof=max(len(sample) - 1, 0),
        spread_variance=_variance(sample),
        within_dof=within_dof,
        within_variance=within,
        week_mean_square=week_ms,
        week_dof=week_dof,
        known_km=sum_x,
    )


BEFORE_RING_MIN_DAYS = 28.0
"""Tracked days before the ring count as a source of their own from four weeks of them."""


def tracked_before_ring(state: UsageState, ring: RingStatistics) -> tuple[float, float]:
    """The tracked distance and time before the ring's known days (km, days): the lifetime's
    tracked stretches less the ring's known days and its open day (0 when they cannot be told
    apart: an open day of unknown distance)."""
    (open_km,) = _LAST.unpack_from(state.ring_f32, 4 * (RING_DAYS - 1))
    if not math.isfinite(open_km):
        return 0.0, 0.0
    open_days = (state.last_ts_ms - state.end_day * MS_PER_DAY) / MS_PER_DAY
    km = state.lifetime_km - ring.known_km - open_km
    days = state.lifetime_days - ring.recent_days - open_days
    return (km, days) if km >= 0.0 and days > 0.0 else (0.0, 0.0)


def _lifetime(
    state: UsageState, delivery_ts_ms: int | None, delivery_odometer_m: float
) -> tuple[float, float]:
    """Lifetime (km, days): tracked stretches, plus delivery to first reading when known."""
    km, days = state.lifetime_km, state.lifetime_days
    origin = state.origin_odometer_m
    if delivery_ts_ms is not None and math.isfinite(origin) and state.first_ts_ms > delivery_ts_ms:
        km += max(origin - delivery_odometer_m, 0.0) / 1000.0
        days += (state.first_ts_ms - delivery_ts_ms) / MS_PER_DAY
    return km, days


def _shrink_to_lifetime(
    recent: float, var_recent: float, lifetime: float, drift_floor: float
) -> tuple[float, float]:
    """Precision-weighted mean of the recent rate and the lifetime rate, and its variance.

    The lifetime rate's variance as a forecast of today's habits is the drift's: estimated as
    the squared gap less what the recent rate's own noise explains, at least ``drift_floor`` of
    the lifetime rate (squared).
    """
    drift = max((recent - lifetime) ** 2 - var_recent, (drift_floor * lifetime) ** 2)
    if drift <= 0 or var_recent <= 0:
        return recent, var_recent
    precision = 1.0 / var_recent + 1.0 / drift
    return (recent / var_recent + lifetime / drift) / precision, 1.0 / precision


def estimate_usage(
    state: UsageState | None,
    *,
    delivery_ts_ms: int | None = None,
    delivery_odometer_m: float = 0.0,
    model: UsageModel = DEFAULT_MODEL,
    shift: float = 0.0,
) -> UsageEstimate:
    """Usage estimate from a state (None: the prior alone); see the module docstring.

    ``shift`` is the fleet's shared usage shift (log of a rate ratio, :mod:`.fleetshift`): the
    recent rate is divided by ``exp(shift)`` before it is pooled, and the mean's variance grows
    by ``(mean * shift)**2 / 2``: a season that carried the fleet that far from its habits may do
    so again, either way, before a forecast's horizon ends (over its phase, a season of
    amplitude ``a`` is off the habit by ``a / sqrt(2)`` in root mean square). The estimate's
    ``recent_km_per_day`` stays the vehicle's own, unshifted."""
    if state is None:
        sd = model.daily_cv * model.mean_km_per_day
        return UsageEstimate(
            model.mean_km_per_day,
            sd,
            sd / math.sqrt(model.weight_days),
            sd,
            math.nan,
            math.nan,
            0,
            0.0,
            None,
            None,
        )
    ring = ring_statistics(state, model.recent_half_life_days)
    n, recent_rate = ring.weight_days, ring.recent_km_per_day
    life_km, life_days = _lifetime(state, delivery_ts_ms, delivery_odometer_m)
    life_rate = life_km / life_days if life_days > 0 else math.nan
    outside = max(life_days - ring.recent_days, 0.0)  # lifetime days not already in the ring
    long_lifetime = life_days > 0 and outside >= model.lifetime_min_days and n > 0
    w_life = 0.0 if long_lifetime or life_days <= 0 else min(model.lifetime_weight_days, outside)
    total = model.weight_days + n + w_life
    mean = model.weight_days * model.mean_km_per_day
    if n:
        mean += n * (recent_rate * math.exp(-shift) if shift else recent_rate)
    mean += w_life * life_rate if w_life else 0.0
    before_km, before_days = tracked_before_ring(state, ring)
    if before_days >= BEFORE_RING_MIN_DAYS:
        # weighted as the ring's days are, at the age of their middle
        age = RING_DAYS - 1 + before_days / 2.0
        w_before = before_days * 0.5 ** (age / model.recent_half_life_days)
        mean += w_before * before_km / before_days
        total += w_before
    mean /= total
    dof, s2 = ring.spread_dof, ring.spread_variance
    prior = model.sd_dof * (model.daily_cv * mean) ** 2
    var_day = (dof * s2 + prior) / (dof + model.sd_dof)
    w_dof, w_s2 = ring.within_dof, ring.within_variance
    if w_dof >= WEEKDAY_MIN_DOF:
        var_within = (w_dof * w_s2 + prior) / (w_dof + model.sd_dof)
        var_weekday = max(s2 - w_s2, 0.0)
    else:  # too few days to tell a rhythm from noise
        var_within, var_weekday = var_day, 0.0
    msb, week_dof = ring.week_mean_square, ring.week_dof
    var_eff = var_within
    if week_dof:
        var_eff = max(
            var_within, (week_dof * msb + model.sd_dof * var_within) / (week_dof + model.sd_dof)
        )
    var_mean = var_eff / total
    if long_lifetime:
        mean, var_mean = _shrink_to_lifetime(mean, var_mean, life_rate, model.drift_floor)
    if shift:
        # the season may carry the rate from the habit again before the horizon ends
        var_mean += (mean * shift) ** 2 / 2.0
    return UsageEstimate(
        mean_km_per_day=mean,
        sd_km_per_day=math.sqrt(var_eff),
        mean_sd_km_per_day=math.sqrt(var_mean),
        daily_sd_km=math.sqrt(var_day),
        recent_km_per_day=recent_rate,
        lifetime_km_per_day=life_rate,
        recent_days=ring.recent_days,
        lifetime_days=life_days,
        as_of_ts_ms=state.last_ts_ms,
        odometer_m=state.last_odometer_m,
        weekday_sd_km=math.sqrt(var_weekday),
    )
