"""When the odometer passed a distance already behind it, from what the vehicle's history shows
(pure).

A service falls due, or a warranty ends, when the odometer passes a limit; once past it, the
forecast reports *when* it was passed, not the reading that happens to be the latest (which
would move the date forward with every reading: "overdue since yesterday", for ever). The known
points of the odometer are:

* the delivery (its date at midnight UTC, the delivery odometer);
* the last service and the last visit of any kind (their odometers are readings too);
* the first accepted reading (unless a re-baseline dropped it);
* the odometer at each midnight of the usage ring's known days (the last reading less the
  distance of the days after that midnight: :mod:`.usage_state`), and the last reading.

Going back from the newest, a point is kept only if its odometer is at or below the one kept
after it (an older point from before a replaced instrument cluster may read higher; of points at
one instant, the lowest). The limit is placed between the two kept points around it by linear
interpolation in time: to the day within the ring (64 days), and between sparser points beyond
it (a visit months ago). The P10/P90 around it are those of a Brownian bridge between the two
points, the day-to-day spread of the usage estimate (``sd_km_per_day``, per square-root day)
turned into days at the pace between them; they never leave the two points' interval. A limit
below every known point is placed at the oldest one (nothing earlier is known).

The walk back stops at the first kept point below the limit, so a limit passed in the last few
days costs a few steps (a forecast asks for each limit behind the odometer, every day).
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
    """A vehicle's known odometer points (see the module docstring)."""

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

    def anchors(self) -> list[Point]:
        """The points other than the ring's midnights, newest first (at one instant, the higher
        odometer first)."""
        known: list[Point] = [(self.delivery_ms, self.delivery_odometer_m)]
        for visit in self.visits:
            if visit is not None:
                known.append((visit.ts_ms, float(visit.odometer_m)))
        state = self.state
        if state is not None:
            if math.isfinite(state.origin_odometer_m):
                known.append((state.first_ts_ms, state.origin_odometer_m))
            known.append((state.last_ts_ms, state.last_odometer_m))
        known.sort(reverse=True)
        return known

    def passed(self, odometer_km: float) -> tuple[int, int, int] | None:
        """P10/P50/P90 instants (epoch ms) the odometer passed ``odometer_km``; None if no kept
        point is at or past it. The ring's midnights are merged newest first with
        :meth:`anchors` and kept as the module docstring says, until the first kept point below
        the limit."""
        target = odometer_km * 1000.0
        anchors = self.anchors()
        n_anchors = len(anchors)
        state = self.state
        days: tuple[float, ...] = () if state is None else _RING.unpack(state.ring_f32)
        n_days = len(days)
        end_day = 0 if state is None else state.end_day
        ring_m = 0.0 if state is None else state.last_odometer_m
        back = a = 0
        kept = False  # a point is kept: (last_ts, last_m), and the one kept after it
        last_ts, last_m = 0, 0.0
        newer = False
        newer_ts, newer_m = 0, 0.0
        while True:
            has_midnight = False
            mid_ts, mid_m = 0, 0.0
            if back < n_days:
                km = days[RING_DAYS - 1 - back]
                if math.isfinite(km):
                    has_midnight = True
                    mid_ts, mid_m = (end_day - back) * MS_PER_DAY, ring_m - km * 1000.0
                else:
                    back = n_days  # a day of unknown distance ends the ring
            if a < n_anchors and (
                not has_midnight
                or anchors[a][0] > mid_ts
                or (anchors[a][0] == mid_ts and anchors[a][1] >= mid_m)
            ):
                ts, odometer_m = anchors[a]
                a += 1
            elif has_midnight:
                ts, odometer_m = mid_ts, mid_m
                ring_m = mid_m
                back += 1
            else:
                break
            if kept and ts == last_ts:
                if odometer_m < last_m:
                    last_m = odometer_m
                continue
            if kept and last_m < target:
                break  # the last kept point is final, and below the limit
            if not kept or odometer_m <= last_m:
                newer, newer_ts, newer_m = kept, last_ts, last_m
                kept, last_ts, last_m = True, ts, odometer_m
        if not kept or (not newer and last_m < target):
            return None  # no point, or the newest is below the limit: not passed
        if last_m >= target:
            return last_ts, last_ts, last_ts  # below every known point: the oldest
        return bridge((last_ts, last_m), (newer_ts, newer_m), target, self.sd_km_per_day)


def bridge(
    before: Point, after: Point, odometer_m: float, sd_km_per_day: float
) -> tuple[int, int, int]:
    """P10/P50/P90 instants (epoch ms) the odometer passed ``odometer_m`` between two points
    (``before`` below it, ``after`` at or above it, later): linear interpolation, and the
    spread of a Brownian bridge between them."""
    (t0, o0), (t1, o1) = before, after
    share = (odometer_m - o0) / (o1 - o0)
    span_ms = t1 - t0
    t50 = t0 + share * span_ms
    span_days = span_ms / MS_PER_DAY
    pace_km_per_day = (o1 - o0) / 1000.0 / span_days
    bridge_km = sd_km_per_day * math.sqrt(span_days * share * (1.0 - share))
    spread_ms = _Z90 * bridge_km / pace_km_per_day * MS_PER_DAY
    return max(t0, round(t50 - spread_ms)), round(t50), min(t1, round(t50 + spread_ms))


def passed_instants(
    history: OdometerHistory, odometer_km: float
) -> tuple[datetime, datetime, datetime] | None:
    """:meth:`OdometerHistory.passed` as datetimes (UTC)."""
    found = history.passed(odometer_km)
    if found is None:
        return None
    return ms_to_datetime(found[0]), ms_to_datetime(found[1]), ms_to_datetime(found[2])
