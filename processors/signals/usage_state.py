"""Compact per-vehicle usage state: the odometer anchors and a ring of daily distances.

The runner keeps one state per vehicle across batches and restarts, so it is small and fixed in
size (:data:`STATE_BYTES` = 352 bytes serialised) whatever the history length:

* the first accepted reading (the origin of the lifetime rate, dropped after a re-baseline),
* the last accepted reading (every new reading is judged against it),
* the lifetime distance and the time it covers (only stretches whose distance is known),
* a re-baseline candidate: the first and last of a run of consistent anomalous readings,
* a ring of the last :data:`RING_DAYS` UTC days' distances (float32, NaN where the distance is
  unknown: the partial first day, a stretch bridged by a re-baseline) and a bit mask of the days
  whose distance was spread over a multi-day gap rather than resolved by a reading on the day.

Distance between two accepted readings is given to UTC days in proportion to the time each day
overlaps the interval (linear interpolation of the odometer at midnights), so a gap of several
days is spread evenly and a parked day gets 0 km.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from processors.signals.dates import MS_PER_DAY

RING_DAYS = 64
_VERSION = 1
_MASK = (1 << RING_DAYS) - 1
_HEADER = struct.Struct("<BBHqdqdddqdqdiQ")
STATE_BYTES = _HEADER.size + 4 * RING_DAYS
_UNKNOWN_RING = np.full(RING_DAYS, np.nan, dtype="<f4").tobytes()
"""A ring of days whose distance is unknown (a new state's)."""
_ZERO_RING = bytes(4 * RING_DAYS)
"""A ring of days at 0 km (float32 zeros)."""
_F32 = struct.Struct("<f")

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(slots=True, init=False)
class UsageState:
    """One vehicle's usage memory: never changed once built, every update returns a new one
    (not declared frozen, and its ``__init__`` written out, for the reasons
    :class:`~processors.signals.memory.VehicleMemory` gives)."""

    first_ts_ms: int
    origin_odometer_m: float  # first accepted reading; NaN once a re-baseline broke continuity
    last_ts_ms: int
    last_odometer_m: float
    lifetime_km: float
    lifetime_days: float
    candidate_count: int  # 0 = no re-baseline candidate; at most 255
    candidate_first_ts_ms: int
    candidate_first_odometer_m: float
    candidate_last_ts_ms: int
    candidate_last_odometer_m: float
    end_day: int  # UTC day index (epoch days) of the ring's last slot, the day of last_ts_ms
    coarse_mask: int  # bit i set: slot i's distance was spread over a multi-day gap
    ring_f32: bytes  # RING_DAYS little-endian float32 km, oldest first

    def __init__(
        self,
        first_ts_ms: int,
        origin_odometer_m: float,
        last_ts_ms: int,
        last_odometer_m: float,
        lifetime_km: float,
        lifetime_days: float,
        candidate_count: int,
        candidate_first_ts_ms: int,
        candidate_first_odometer_m: float,
        candidate_last_ts_ms: int,
        candidate_last_odometer_m: float,
        end_day: int,
        coarse_mask: int,
        ring_f32: bytes,
    ) -> None:
        self.first_ts_ms = first_ts_ms
        self.origin_odometer_m = origin_odometer_m
        self.last_ts_ms = last_ts_ms
        self.last_odometer_m = last_odometer_m
        self.lifetime_km = lifetime_km
        self.lifetime_days = lifetime_days
        self.candidate_count = candidate_count
        self.candidate_first_ts_ms = candidate_first_ts_ms
        self.candidate_first_odometer_m = candidate_first_odometer_m
        self.candidate_last_ts_ms = candidate_last_ts_ms
        self.candidate_last_odometer_m = candidate_last_odometer_m
        self.end_day = end_day
        self.coarse_mask = coarse_mask
        self.ring_f32 = ring_f32

    @property
    def days_km(self) -> npt.NDArray[np.float32]:
        """Daily distances, oldest first; the last slot is the (open) day of the last reading."""
        return np.frombuffer(self.ring_f32, dtype="<f4")

    def coarse_days(self) -> npt.NDArray[np.bool_]:
        """Per slot: the distance was spread over a gap, not resolved on the day."""
        bits = (self.coarse_mask >> np.arange(RING_DAYS, dtype=np.uint64)) & np.uint64(1)
        return np.asarray(bits == 1, dtype=np.bool_)

    def to_bytes(self) -> bytes:
        """Fixed-size little-endian encoding (:data:`STATE_BYTES` bytes)."""
        head = _HEADER.pack(
            _VERSION,
            self.candidate_count,
            RING_DAYS,
            self.first_ts_ms,
            self.origin_odometer_m,
            self.last_ts_ms,
            self.last_odometer_m,
            self.lifetime_km,
            self.lifetime_days,
            self.candidate_first_ts_ms,
            self.candidate_first_odometer_m,
            self.candidate_last_ts_ms,
            self.candidate_last_odometer_m,
            self.end_day,
            self.coarse_mask,
        )
        return head + self.ring_f32

    @classmethod
    def from_bytes(cls, data: bytes) -> UsageState:
        """Decode :meth:`to_bytes`; a different version or size is refused."""
        if len(data) != STATE_BYTES:
            raise ValueError(f"usage state must be {STATE_BYTES} bytes, got {len(data)}")
        (version, count, ring, *rest) = _HEADER.unpack_from(data)
        if version != _VERSION or ring != RING_DAYS:
            raise ValueError(f"unsupported usage state version {version} (ring {ring})")
        (f_ts, origin, l_ts, l_odo, km, days, c1_ts, c1_odo, c2_ts, c2_odo, end, mask) = rest
        return cls(
            f_ts,
            origin,
            l_ts,
            l_odo,
            km,
            days,
            count,
            c1_ts,
            c1_odo,
            c2_ts,
            c2_odo,
            end,
            mask,
            bytes(data[_HEADER.size :]),
        )


def moved_on(
    state: UsageState,
    ts_ms: int,
    odometer_m: float,
    lifetime_km: float,
    lifetime_days: float,
    ring_f32: bytes,
) -> UsageState:
    """``replace(state, last_ts_ms=..., last_odometer_m=..., lifetime_km=..., lifetime_days=...,
    coarse_mask=state.coarse_mask & mask, ring_f32=...)``, built directly: a reading on the day
    of the last one (:func:`processors.signals.usage.update_usage`'s commonest case) moves only
    these (:func:`dataclasses.replace` costs several times more)."""
    return UsageState(
        state.first_ts_ms,
        state.origin_odometer_m,
        ts_ms,
        odometer_m,
        lifetime_km,
        lifetime_days,
        state.candidate_count,
        state.candidate_first_ts_ms,
        state.candidate_first_odometer_m,
        state.candidate_last_ts_ms,
        state.candidate_last_odometer_m,
        state.end_day,
        state.coarse_mask & _MASK,
        ring_f32,
    )


def moved_past_midnight(
    state: UsageState, ts_ms: int, odometer_m: float, gap_ms: int
) -> UsageState:
    """:func:`allocate_chain` of one reading on a later UTC day than the state's last one
    (``ts_ms`` after it, ``odometer_m`` at or above it), without arrays: a car's first reading
    of a day, as common as its daily forecast. The same float64 interpolation at each midnight
    and the same float32 sums as the arrays', so the same bytes
    (tests/unit/processors/signals/test_signals_usage.py)."""
    t0, o0 = state.last_ts_ms, state.last_odometer_m
    new_end = ts_ms // MS_PER_DAY
    shift = new_end - state.end_day
    if shift >= RING_DAYS:
        ring, mask = bytearray(_ZERO_RING), 0
    else:
        ring = bytearray(state.ring_f32[4 * shift :] + _ZERO_RING[: 4 * shift])
        mask = state.coarse_mask >> shift
    start, end = float(t0), float(ts_ms)
    slope = (odometer_m - o0) / (end - start)  # numpy.interp's, between two points

    def at(midnight_ms: int) -> float:
        x = min(max(float(midnight_ms), start), end)
        if x == start:
            return o0
        if x == end:
            return odometer_m
        return slope * (x - start) + o0

    first_day = max(t0 // MS_PER_DAY, new_end - RING_DAYS + 1)
    before = at(first_day * MS_PER_DAY)
    for day in range(first_day, new_end + 1):
        after = at((day + 1) * MS_PER_DAY)
        offset = 4 * (RING_DAYS - 1 - (new_end - day))
        (km,) = _F32.unpack_from(ring, offset)
        (step_km,) = _F32.unpack(_F32.pack((after - before) / 1000.0))
        _F32.pack_into(ring, offset, km + step_km)
        before = after
    if ts_ms - t0 > gap_ms and odometer_m > o0:  # a gap across midnight: its days are coarse
        oldest = new_end - RING_DAYS + 1
        low = max(t0 // MS_PER_DAY - oldest, 0)
        mask |= ((1 << (RING_DAYS - low)) - 1) << low
    return UsageState(
        state.first_ts_ms,
        state.origin_odometer_m,
        ts_ms,
        odometer_m,
        state.lifetime_km + (odometer_m - o0) / 1000.0,
        state.lifetime_days + (ts_ms - t0) / MS_PER_DAY,
        state.candidate_count,
        state.candidate_first_ts_ms,
        state.candidate_first_odometer_m,
        state.candidate_last_ts_ms,
        state.candidate_last_odometer_m,
        new_end,
        mask & _MASK,
        bytes(ring),
    )


def new_state(ts_ms: int, odometer_m: float) -> UsageState:
    """State after a vehicle's first accepted reading (its partial first day is unknown)."""
    return UsageState(
        first_ts_ms=ts_ms,
        origin_odometer_m=odometer_m,
        last_ts_ms=ts_ms,
        last_odometer_m=odometer_m,
        lifetime_km=0.0,
        lifetime_days=0.0,
        candidate_count=0,
        candidate_first_ts_ms=0,
        candidate_first_odometer_m=0.0,
        candidate_last_ts_ms=0,
        candidate_last_odometer_m=0.0,
        end_day=ts_ms // MS_PER_DAY,
        coarse_mask=0,
        ring_f32=_UNKNOWN_RING,
    )


def advance(state: UsageState, new_end_day: int) -> tuple[npt.NDArray[np.float32], int]:
    """Ring and mask shifted so the last slot is ``new_end_day``; new slots start at 0 km."""
    ring = state.days_km.copy()
    shift = new_end_day - state.end_day
    if shift <= 0:
        return ring, state.coarse_mask
    if shift >= RING_DAYS:
        return np.zeros(RING_DAYS, dtype="<f4"), 0
    ring[:-shift] = ring[shift:]
    ring[-shift:] = 0.0
    return ring, state.coarse_mask >> shift


def allocate_chain(state: UsageState, ts_ms: Ints, odometer_m: Floats, gap_ms: int) -> UsageState:
    """Add accepted readings to the ring and lifetime.

    ``ts_ms`` is strictly increasing and starts at the state's last reading time; ``odometer_m`` is
    non-decreasing and starts at or above the state's last odometer (a reading at that same instant
    may add a little). A segment that crosses midnight, lasts more than ``gap_ms`` and covers some
    distance marks its days coarse.
    """
    if odometer_m[0] > state.last_odometer_m:
        same_instant_km = (float(odometer_m[0]) - state.last_odometer_m) / 1000.0
        head = state.days_km.copy()
        head[-1] += np.float32(same_instant_km)
        state = replace(
            state, lifetime_km=state.lifetime_km + same_instant_km, ring_f32=head.tobytes()
        )
    new_end = int(ts_ms[-1]) // MS_PER_DAY
    ring, mask = advance(state, new_end)
    first_day = max(int(ts_ms[0]) // MS_PER_DAY, new_end - RING_DAYS + 1)
    bounds = np.arange(first_day, new_end + 2, dtype=np.int64) * MS_PER_DAY
    bounds = np.clip(bounds, ts_ms[0], ts_ms[-1]).astype(np.float64)
    at_bounds = np.interp(bounds, ts_ms.astype(np.float64), odometer_m)
    ring[first_day - new_end - 1 :] += (np.diff(at_bounds) / 1000.0).astype("<f4")
    seg_days = ts_ms // MS_PER_DAY
    coarse = (seg_days[1:] > seg_days[:-1]) & (np.diff(ts_ms) > gap_ms) & (np.diff(odometer_m) > 0)
    oldest = new_end - RING_DAYS + 1
    for i in np.flatnonzero(coarse):
        lo, hi = max(int(seg_days[i]) - oldest, 0), int(seg_days[i + 1]) - oldest
        if hi >= 0:  # a segment that ended before the ring's window leaves no trace
            mask |= ((1 << (hi - lo + 1)) - 1) << lo
    return replace(
        state,
        last_ts_ms=int(ts_ms[-1]),
        last_odometer_m=float(odometer_m[-1]),
        lifetime_km=state.lifetime_km + float(odometer_m[-1] - odometer_m[0]) / 1000.0,
        lifetime_days=state.lifetime_days + float(ts_ms[-1] - ts_ms[0]) / MS_PER_DAY,
        end_day=new_end,
        coarse_mask=mask & _MASK,
        ring_f32=ring.astype("<f4").tobytes(),
    )
