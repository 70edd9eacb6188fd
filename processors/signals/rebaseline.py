"""Re-baselining after a persistent rollback or jump (e.g. a replaced instrument cluster).

Flagged rollback/jump readings that agree with each other (plausible from one to the next) form a
candidate run; the state keeps only its first and last reading and its length. Any accepted
reading clears the run: the old baseline was right after all. Once the run is long enough (see
:class:`~processors.signals.quality.UsageParams`), the vehicle moves to the new baseline: the
distance from the last trusted reading to the run's first is unknown (NaN days, no lifetime
distance), the distance within the run is known.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from processors.signals.dates import MS_PER_DAY
from processors.signals.quality import UsageParams, plausible
from processors.signals.usage_state import RING_DAYS, UsageState, advance, allocate_chain


def clear_candidate(state: UsageState) -> UsageState:
    """The state without a candidate run (fields zeroed, so equal states encode equally)."""
    return replace(
        state,
        candidate_count=0,
        candidate_first_ts_ms=0,
        candidate_first_odometer_m=0.0,
        candidate_last_ts_ms=0,
        candidate_last_odometer_m=0.0,
    )


def extend_candidate(state: UsageState, ts_ms: int, odo_m: float, p: UsageParams) -> UsageState:
    """Add a flagged reading to the candidate run, or start a new run with it."""
    last_t, last_o = state.candidate_last_ts_ms, state.candidate_last_odometer_m
    if state.candidate_count and ts_ms > last_t and plausible(ts_ms - last_t, odo_m - last_o, p):
        return replace(
            state,
            candidate_count=min(state.candidate_count + 1, 255),  # stored as one byte
            candidate_last_ts_ms=ts_ms,
            candidate_last_odometer_m=max(odo_m, last_o),
        )
    return replace(
        state,
        candidate_count=1,
        candidate_first_ts_ms=ts_ms,
        candidate_first_odometer_m=odo_m,
        candidate_last_ts_ms=ts_ms,
        candidate_last_odometer_m=odo_m,
    )


def mark_unknown(state: UsageState, to_ts_ms: int, odometer_m: float) -> UsageState:
    """Jump the last reading to ``(to_ts_ms, odometer_m)`` with the distance in between unknown.

    Every day the unknown stretch touches becomes NaN; the lifetime totals do not grow and the
    origin is dropped, since the odometer is no longer continuous with it.
    """
    new_end = to_ts_ms // MS_PER_DAY
    ring, mask = advance(state, new_end)
    first_slot = max(state.last_ts_ms // MS_PER_DAY - new_end + RING_DAYS - 1, 0)
    ring[first_slot:] = np.nan
    return replace(
        state,
        origin_odometer_m=float("nan"),
        last_ts_ms=to_ts_ms,
        last_odometer_m=odometer_m,
        end_day=new_end,
        coarse_mask=mask,
        ring_f32=ring.astype("<f4").tobytes(),
    )


def ready(state: UsageState, p: UsageParams) -> bool:
    """Whether the candidate run is long enough to become the baseline."""
    span_ms = state.candidate_last_ts_ms - state.candidate_first_ts_ms
    return state.candidate_count >= p.rebaseline_readings and span_ms >= p.rebaseline_span_ms


def rebaseline(state: UsageState, gap_ms: int) -> UsageState:
    """Adopt the candidate run as the baseline."""
    first_t, first_o = state.candidate_first_ts_ms, state.candidate_first_odometer_m
    last_t, last_o = state.candidate_last_ts_ms, state.candidate_last_odometer_m
    state = mark_unknown(clear_candidate(state), first_t, first_o)
    chain_t = np.array([first_t, last_t], dtype=np.int64)
    return allocate_chain(state, chain_t, np.array([first_o, last_o]), gap_ms)
