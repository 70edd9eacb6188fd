"""When the odometer passed a distance already behind it, from what the vehicle's history shows
(pure).

A service falls due, or a warranty ends, when the odometer passes a limit; once past it, the
forecast reports *when* it was passed, not the reading that happens to be the latest (which
would move the date forward with every reading: "overdue since yesterday", for ever). The known
points of the odometer are, in time order:

* the delivery (its date at midnight UTC, the delivery odometer);
* the last service and the last visit of any kind (their odometers are readings too);
* the first accepted reading (unless a re-baseline dropped it);
* the odometer at each midnight of the usage ring's known days (the last reading less the
  distance of the days after that midnight: :mod:`.usage_state`), and the last reading.

Going back from the newest, a point is kept only if its odometer is at or below the one after it
(an older point from before a replaced instrument cluster may read higher). The limit is placed
between the two kept points around it by linear interpolation in time: to the day within the
ring (64 days), and between sparser points beyond it (a visit months ago). The P10/P90 around it
are those of a Brownian bridge between the two points, the day-to-day spread of the usage
estimate (``sd_km_per_day``, per square-root day) turned into days at the pace between them;
they never leave the two points' interval. A limit below every known point is placed at the
oldest one (nothing earlier is known).
"""

from __future__ import annotations

import math
import struct
from datetime import datetime
from statistics import NormalDist

from processors.signals.dates import MS_PER_DAY, ms_to_datetime
from processors.signals.upkeep import ServicePoint
from processors.signals.usage_state import RING_DAYS, UsageState

_RING = struct.Struct(f"<{RING_DAYS}f")
_Z90 = NormalDist().inv_cdf(0.9)
Point = tuple[int, float]
"""(epoch ms, odometer in metres)."""


class OdometerHistory:
    """A vehicle's known odometer points (built on first use: most forecasts never ask)."""

    def __init__(
        self,
        state: UsageState | None,
        delivery_ms: int,
        delivery_odometer_m: float,
        visits: tuple[ServicePoint | None, ...],
        sd_km_per_day: float,
    ) -> None:
        self.state = state
        self.delivery_ms = delivery_ms
        self.delivery_odometer_m = delivery_odometer_m
        self.visits = visits
        self.sd_km_per_day = sd_km_per_day
        self._points: list[Point] | None = None

    def points(self) -> list[Point]:
        """The consistent known points, oldest first (see the module docstring)."""
        if self._points is None:
            self._points = consistent(self._known())
        return self._points

    def _known(self) -> list[Point]:
        known: list[Point] = [(self.delivery_ms, self.delivery_odometer_m)]
        known += [(v.ts_ms, float(v.odometer_m)) for v in self.visits if v is not None]
        state = self.state
        if state is not None:
            if math.isfinite(state.origin_odometer_m):
                known.append((state.first_ts_ms, state.origin_odometer_m))
            known += ring_midnights(state)
            known.append((state.last_ts_ms, state.last_odometer_m))
        return known

    def passed(self, odometer_km: float) -> tuple[int, int, int] | None:
        """P10/P50/P90 instants (epoch ms) the odometer passed ``odometer_km``; None if no known
        point is at or past it."""
        return passed_at(self.points(), odometer_km * 1000.0, self.sd_km_per_day)


def ring_midnights(state: UsageState) -> list[Point]:
    """The odometer at the start of each of the ring's days back from the last reading's, as far
    as their distances are known (a day of unknown distance stops it)."""
    days = _RING.unpack(state.ring_f32)
    out: list[Point] = []
    odometer_m = state.last_odometer_m
    for back in range(RING_DAYS):
        km = days[RING_DAYS - 1 - back]
        if not math.isfinite(km):
            break
        odometer_m -= km * 1000.0
        out.append(((state.end_day - back) * MS_PER_DAY, odometer_m))
    return out


def consistent(points: list[Point]) -> list[Point]:
    """``points`` in time order, keeping going back from the newest only those at or below the
    odometer of the one kept after them (one point per instant: the lowest)."""
    kept: list[Point] = []
    for ts, odometer_m in sorted(points, reverse=True):
        if kept and ts == kept[-1][0]:
            if odometer_m < kept[-1][1]:
                kept[-1] = (ts, odometer_m)
            continue
        if not kept or odometer_m <= kept[-1][1]:
            kept.append((ts, odometer_m))
    kept.reverse()
    return kept


def passed_at(
    points: list[Point], odometer_m: float, sd_km_per_day: float
) -> tuple[int, int, int] | None:
    """P10/P50/P90 instants (epoch ms) the odometer passed ``odometer_m`` among consistent
    ``points`` (oldest first), or None if it has not (see the module docstring)."""
    if not points or points[-1][1] < odometer_m:
        return None
    if points[0][1] >= odometer_m:
        return points[0][0], points[0][0], points[0][0]
    i = len(points) - 2
    while points[i][1] >= odometer_m:
        i -= 1
    (t0, o0), (t1, o1) = points[i], points[i + 1]
    share = (odometer_m - o0) / (o1 - o0)  # o0 < odometer_m <= o1
    span_ms = t1 - t0
    t50 = t0 + share * span_ms
    span_days = span_ms / MS_PER_DAY
    pace_km_per_day = (o1 - o0) / 1000.0 / span_days
    bridge_km = sd_km_per_day * math.sqrt(span_days * share * (1.0 - share))
    spread_ms = _Z90 * bridge_km / pace_km_per_day * MS_PER_DAY
    return (
        max(t0, round(t50 - spread_ms)),
        round(t50),
        min(t1, round(t50 + spread_ms)),
    )


def passed_instants(
    history: OdometerHistory, odometer_km: float
) -> tuple[datetime, datetime, datetime] | None:
    """:meth:`OdometerHistory.passed` as datetimes (UTC)."""
    found = history.passed(odometer_km)
    if found is None:
        return None
    return ms_to_datetime(found[0]), ms_to_datetime(found[1]), ms_to_datetime(found[2])
