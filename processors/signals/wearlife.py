"""How long a vehicle's own parts last, learnt from what its dealer replaced (pure).

The catalog gives a wear item's typical life; a vehicle's real part lasts that life times its own
factor (driving style, roads, climate), the same on distance and on time, spread around 1 with
:data:`LIFE_SIGMA` (the sd of its logarithm; assumption). A garage replaces a part at a full
service when it would not last to the following service. So each full service at the dealer
brackets the factor of every part the vehicle has: with ``used`` the share of the catalog life
the part will have used by the following service (counted from its last known replacement),

* replaced: the factor is at most ``used`` (upper bound);
* kept: the factor is above ``used`` (lower bound).

The bounds accumulate over visits and replacements (the factor belongs to the vehicle and the
part, not to one piece), and when two visits contradict each other (a part replaced elsewhere in
between, a garage's judgement) the newer bound wins. The factor used for forecasts is the median
of the lognormal prior truncated to the bracket: 1 without evidence, the bracket's middle (in
log terms) once both bounds are known. :meth:`Bracket.chance` is the probability that the factor
is at most a given share: the chance a garage replaces the part when it would have used that share
of its catalog life by the following service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from statistics import NormalDist

LIFE_SIGMA = 0.25
"""Spread of a part's real life around the catalog's (sd of its log): assumption."""
DAYS_PER_MONTH = 365.25 / 12.0
DIGITS = 4
"""Bounds are kept to 4 decimals, as they are stored (a replay reads what a run computed)."""
_NORMAL = NormalDist()
_EDGE = 1e-9


@dataclass(frozen=True, slots=True)
class Bracket:
    """What a vehicle's service history says of one part's life factor (0 / inf: no bound),
    and the factor used for forecasts (:meth:`factor`, computed once)."""

    low: float = 0.0
    high: float = math.inf
    estimate: float = field(default=1.0, compare=False)
    cdf: tuple[float, float] = field(default=(0.0, 1.0), init=False, compare=False, repr=False)
    """The prior's cumulative probability at ``low`` and at ``high``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimate", self.factor())
        lo = _cdf(math.log(self.low) / LIFE_SIGMA) if self.low > 0 else 0.0
        hi = _cdf(math.log(self.high) / LIFE_SIGMA) if math.isfinite(self.high) else 1.0
        object.__setattr__(self, "cdf", (lo, hi))

    def chance(self, used: float) -> float:
        """Probability that the factor is at most ``used`` (lognormal(0, :data:`LIFE_SIGMA`)
        truncated to the bracket)."""
        if used <= self.low:
            return 0.0
        if used >= self.high:
            return 1.0
        lo, hi = self.cdf
        if hi - lo < _EDGE:  # far in a tail: the estimate decides
            return 1.0 if used >= self.estimate else 0.0
        return min(max((_cdf(math.log(used) / LIFE_SIGMA) - lo) / (hi - lo), 0.0), 1.0)

    def replaced_at(self, used: float) -> Bracket:
        """The part was replaced when it would have used ``used`` of its catalog life."""
        high = min(self.high, round(used, DIGITS))
        return Bracket(self.low if self.low < high else 0.0, high)

    def kept_at(self, used: float) -> Bracket:
        """The part was kept though it would have used ``used`` by the following service."""
        low = max(self.low, round(used, DIGITS))
        return Bracket(low, self.high if self.high > low else math.inf)

    def factor(self, sigma: float = LIFE_SIGMA) -> float:
        """Median of the lognormal(0, ``sigma``) factor truncated to the bracket."""
        if self.low <= 0 and math.isinf(self.high):
            return 1.0
        lo = _NORMAL.cdf(math.log(self.low) / sigma) if self.low > 0 else 0.0
        hi = _NORMAL.cdf(math.log(self.high) / sigma) if math.isfinite(self.high) else 1.0
        mid = min(max((lo + hi) / 2.0, _EDGE), 1.0 - _EDGE)
        # far in a tail the normal's precision runs out: the bracket itself is the answer
        return min(max(math.exp(sigma * _NORMAL.inv_cdf(mid)), self.low), self.high)


def _cdf(z: float) -> float:
    """The standard normal's cumulative probability at ``z``."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def used_share(
    life_km: float | None,
    life_months: float | None,
    since: date,
    since_km: float,
    on: date,
    at_km: float,
) -> float:
    """Share of a catalog life used from (``since``, ``since_km``) to (``on``, ``at_km``): the
    limit reached first (distance or time)."""
    shares = [0.0]
    if life_km:
        shares.append((at_km - since_km) / life_km)
    if life_months:
        shares.append((on - since).days / (life_months * DAYS_PER_MONTH))
    return max(shares)
