"""Usage from an odometer series: the incremental state update and the estimate.

:func:`update_usage` folds one batch of ``(event_ts_ms, odometer_m)`` samples into a vehicle's
:class:`UsageState`. The batch is sorted and de-duplicated first, so its order and repeats change
nothing. Each reading is judged against the last accepted one (:mod:`processors.signals.quality`);
flagged readings come back as quality events and never move the state, so a later reading that is
consistent with the pre-anomaly trend simply continues it. A rollback or jump that persists (a
replaced instrument cluster) re-baselines once ``rebaseline_readings`` consecutive flagged readings
agree with each other over at least ``rebaseline_span_ms``: the stretch from the last trusted
reading to the first of them counts as unknown distance, and the lifetime origin is dropped. Unit
errors re-baseline only away from a lone first reading (which may itself be the one in the wrong
unit); once a later reading has confirmed the baseline, adopting them would put the history in the
wrong unit, so they stay flagged.

Within a batch, a reading above the one after it is dropped as the outlier (``jump``) when that
successor agrees with the reading before it (a wrong clock, a one-off high value), so one bad
reading does not make the good ones after it look like rollbacks; across batches only the
re-baseline applies. A batch with no anomalies takes a vectorised path; otherwise readings are
judged one by one.
:func:`estimate_usage` is re-exported from :mod:`processors.signals.estimate`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from processors.signals.dates import MS_PER_DAY
from processors.signals.estimate import UsageEstimate, UsageModel, estimate_usage
from processors.signals.quality import (
    QualityEvent,
    Reason,
    UsageParams,
    classify,
    max_advance_m,
    plausible,
)
from processors.signals.rebaseline import clear_candidate, extend_candidate, ready, rebaseline
from processors.signals.usage_state import (
    STATE_BYTES,
    UsageState,
    allocate_chain,
    moved_on,
    moved_past_midnight,
    new_state,
)

__all__ = [
    "STATE_BYTES",
    "QualityEvent",
    "Reason",
    "UsageEstimate",
    "UsageModel",
    "UsageParams",
    "UsageState",
    "UsageUpdate",
    "estimate_usage",
    "update_usage",
]

DEFAULT_PARAMS = UsageParams()
_F32 = struct.Struct("<f")


@dataclass(slots=True, init=False)
class UsageUpdate:
    """A batch's outcome: the new state (None while no valid reading was ever seen) and events.
    (``__init__`` written out to be compiled: see :class:`~processors.signals.memory.
    VehicleMemory`.)"""

    state: UsageState | None
    events: tuple[QualityEvent, ...]
    accepted: int
    duplicates: int

    def __init__(
        self,
        state: UsageState | None,
        events: tuple[QualityEvent, ...],
        accepted: int,
        duplicates: int,
    ) -> None:
        self.state = state
        self.events = events
        self.accepted = accepted
        self.duplicates = duplicates


def _in_time_order(events: list[QualityEvent]) -> tuple[QualityEvent, ...]:
    """Events by reading time; at equal times in the order they were raised (a stable sort)."""
    return tuple(sorted(events, key=lambda e: e.ts_ms))


def _flush(state: UsageState, ts: npt.ArrayLike, odo: npt.ArrayLike, p: UsageParams) -> UsageState:
    """Allocate an accepted chain (starting at the state's last reading), collapsing equal times."""
    t = np.asarray(ts, dtype=np.int64)
    o = np.maximum.accumulate(np.asarray(odo, dtype=np.float64))
    last_of_instant = np.append(t[1:] != t[:-1], True)
    if t.size < 2 and o[0] <= state.last_odometer_m:
        return state
    return allocate_chain(state, t[last_of_instant], o[last_of_instant], p.gap_ms)


def _judge(
    state: UsageState, ts: npt.NDArray[np.int64], odo: npt.NDArray[np.float64], p: UsageParams
) -> tuple[UsageState, list[QualityEvent], int]:
    """Judge sorted readings one by one; returns the state, events and accepted count."""
    events: list[QualityEvent] = []
    chain_t, chain_o = [state.last_ts_ms], [state.last_odometer_m]
    raw: list[float] = [state.last_odometer_m]
    accepted = 0
    for t_raw, o_raw in zip(ts.tolist(), odo.tolist(), strict=True):
        t, o = int(t_raw), float(o_raw)
        if t < chain_t[-1]:
            events.append(QualityEvent(t, o, Reason.OUT_OF_ORDER, f"older than {chain_t[-1]}"))
            continue
        # Lookahead within the batch: a reading above the one after it, when that one agrees
        # with the reading before it, is the outlier (e.g. a wrong clock), not its successor.
        while (
            len(chain_t) > 1
            and o < chain_o[-1] - p.slack_m
            and plausible(t - chain_t[-2], o - chain_o[-2], p)
        ):
            detail = "above the readings after it"
            events.append(QualityEvent(chain_t.pop(), raw.pop(), Reason.JUMP, detail))
            chain_o.pop()
            accepted -= 1
        t0, o0 = chain_t[-1], chain_o[-1]
        if plausible(t - t0, o - o0, p):
            chain_t.append(t)
            chain_o.append(max(o, o0))
            raw.append(o)
            accepted += 1
            state = clear_candidate(state)
            continue
        reason = classify(o, o0, t - t0, p)
        limit_km = max_advance_m(t - t0, p) / 1000.0
        detail = f"{(o - o0) / 1000.0:+.3f} km after {(t - t0) / 3.6e6:.3f} h (max {limit_km:.1f})"
        events.append(QualityEvent(t, o, reason, detail))
        confirmed = len(chain_t) > 1 or state.last_ts_ms != state.first_ts_ms
        if reason is Reason.UNIT_ERROR and confirmed:
            continue
        state = extend_candidate(state, t, o, p)
        if ready(state, p):
            state = _flush(state, chain_t, chain_o, p)
            state = rebaseline(state, p.gap_ms)
            chain_t, chain_o = [state.last_ts_ms], [state.last_odometer_m]
            raw = [state.last_odometer_m]
            events.append(QualityEvent(t, o, Reason.REBASELINE, "persistent; new baseline"))
    return _flush(state, chain_t, chain_o, p), events, accepted


SMALL_FRAME = 16
"""A frame of at most this many readings is tried as as many readings of one (a trip sent as a
store-and-forward batch is usually three: departure, midway, arrival)."""


def _readings_in_turn(
    state: UsageState, ts_ms: list[Any], odometer_m: list[Any], p: UsageParams
) -> UsageUpdate | None:
    """The commonest updates, without arrays: a frame of one reading, or of a few (a trip sent
    as one batch), each plausible after the one before it and later in time, no re-baseline
    pending, taken one by one (:func:`_one_step`). For one reading, the same state as the
    general path gives (the same float64 and float32 operations, in the same order); for a few,
    the state the general path gives them in frames of one, which differs from its state for
    the frame as one chain only in the rounding of the sums (the ring's float32 day totals, the
    lifetime's distance). None when any reading is not such a one: the general path then takes
    the whole frame."""
    n = len(ts_ms)
    if not 0 < n <= SMALL_FRAME or len(odometer_m) != n or state.candidate_count:
        return None
    for t_raw, o_raw in zip(ts_ms, odometer_m, strict=True):
        new = _one_step(state, t_raw, o_raw, p)
        if new is None:
            return None
        state = new
    return UsageUpdate(state, (), n, 0)


def _one_step(state: UsageState, t_raw: Any, o_raw: Any, p: UsageParams) -> UsageState | None:
    """The state after the reading ``(t_raw, o_raw)`` (see :func:`_readings_in_turn`), or
    None."""
    if type(t_raw) is not int or type(o_raw) not in (int, float):
        return None
    t, o = t_raw, float(o_raw)
    t0, o0 = state.last_ts_ms, state.last_odometer_m
    if not (math.isfinite(o) and o >= 0.0 and t > t0):
        return None
    if t0 // MS_PER_DAY != state.end_day:
        return None
    delta = o - o0
    if not (delta >= -p.slack_m and delta <= p.max_speed_kmh * (t - t0) / 3600.0 + p.slack_m):
        return None
    o1 = max(o, o0)
    if t // MS_PER_DAY != state.end_day:
        return moved_past_midnight(state, t, o1, p.gap_ms)
    # the ring's last slot plus the distance, in float32 as NumPy adds them: the sum of two
    # float32 values is exact in a double whenever rounding to float32 could be affected
    ring = state.ring_f32
    (day_km,) = _F32.unpack_from(ring, len(ring) - 4)
    (step_km,) = _F32.unpack(_F32.pack((o1 - o0) / 1000.0))
    return moved_on(
        state,
        t,
        o1,
        state.lifetime_km + (o1 - o0) / 1000.0,
        state.lifetime_days + (t - t0) / MS_PER_DAY,
        ring[:-4] + _F32.pack(day_km + step_km),
    )


def _first_reading(ts_ms: list[Any], odometer_m: list[Any]) -> UsageUpdate | None:
    """A vehicle's first reading alone (its first frame), without arrays: the state the general
    path starts from it; None when it does not apply (several readings, an invalid one)."""
    if len(ts_ms) != 1 or len(odometer_m) != 1:
        return None
    t, o_raw = ts_ms[0], odometer_m[0]
    if type(t) is not int or type(o_raw) not in (int, float):
        return None
    o = float(o_raw)
    if not (math.isfinite(o) and o >= 0.0):
        return None
    return UsageUpdate(new_state(t, o), (), 1, 0)


def update_usage(
    state: UsageState | None,
    ts_ms: npt.ArrayLike,
    odometer_m: npt.ArrayLike,
    params: UsageParams = DEFAULT_PARAMS,
) -> UsageUpdate:
    """Fold a batch of odometer samples (any order, repeats allowed) into a vehicle's state."""
    if isinstance(ts_ms, list) and isinstance(odometer_m, list):
        if state is None:
            first = _first_reading(ts_ms, odometer_m)
            if first is not None:
                return first
        else:
            quick = _readings_in_turn(state, ts_ms, odometer_m, params)
            if quick is not None:
                return quick
    ts = np.asarray(ts_ms, dtype=np.int64).ravel()
    odo = np.asarray(odometer_m, dtype=np.float64).ravel()
    if ts.shape != odo.shape:
        raise ValueError(f"{ts.size} timestamps but {odo.size} odometer readings")
    valid = np.isfinite(odo) & (odo >= 0)
    bad = np.lexsort((odo[~valid], ts[~valid]))  # input order must not matter
    events = [
        QualityEvent(int(t), float(o), Reason.INVALID, "not a finite non-negative odometer")
        for t, o in zip(ts[~valid][bad].tolist(), odo[~valid][bad].tolist(), strict=True)
    ]
    ts, odo = ts[valid], odo[valid]
    order = np.lexsort((odo, ts))
    ts, odo = ts[order], odo[order]
    fresh = np.ones(ts.size, dtype=np.bool_)
    fresh[1:] = (ts[1:] != ts[:-1]) | (odo[1:] != odo[:-1])
    if state is not None:
        fresh &= (ts != state.last_ts_ms) | (odo != state.last_odometer_m)
        if state.candidate_count:
            fresh &= (ts != state.candidate_last_ts_ms) | (odo != state.candidate_last_odometer_m)
    duplicates = int(ts.size - np.count_nonzero(fresh))
    ts, odo = ts[fresh], odo[fresh]
    accepted = 0
    if state is None and ts.size:
        state, ts, odo, accepted = new_state(int(ts[0]), float(odo[0])), ts[1:], odo[1:], 1
    if state is not None and ts.size:
        if state.candidate_count == 0 and ts[0] >= state.last_ts_ms:
            anchors = np.maximum.accumulate(np.concatenate(([state.last_odometer_m], odo)))
            dt = np.diff(np.concatenate(([state.last_ts_ms], ts)))
            delta = odo - anchors[:-1]
            limit = params.max_speed_kmh * dt / 3600.0 + params.slack_m
            if np.all((delta >= -params.slack_m) & (delta <= limit)):
                chain_t = np.concatenate(([state.last_ts_ms], ts))
                state = _flush(state, chain_t, anchors, params)
                return UsageUpdate(
                    state,
                    _in_time_order(events),
                    accepted + int(ts.size),
                    duplicates,
                )
        state, more, judged = _judge(state, ts, odo, params)
        events += more
        accepted += judged
    return UsageUpdate(state, _in_time_order(events), accepted, duplicates)
