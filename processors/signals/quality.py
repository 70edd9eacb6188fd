"""Odometer reading quality: which readings are trusted, and why the others are not.

A reading is judged against the last accepted one. It is plausible when the odometer did not go
back by more than the odometer's resolution and did not advance faster than a road vehicle can
average over the elapsed time. An implausible reading that becomes plausible once divided by a
unit factor (metres/kilometres, kilometres/miles) is a unit error; otherwise it is a rollback
(lower) or a jump (higher). None of them enters the usage estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from processors.signals.dates import MS_PER_HOUR

MILE_KM = 1.609344


class Reason(StrEnum):
    """Why a reading was not used."""

    INVALID = "invalid"  # not a finite, non-negative number
    OUT_OF_ORDER = "out_of_order"  # older than the last accepted reading (arrived late)
    ROLLBACK = "rollback"  # lower than the last accepted reading
    JUMP = "jump"  # more distance than the elapsed time allows
    UNIT_ERROR = "unit_error"  # plausible only after a x1000 or x1.609 unit conversion
    REBASELINE = "rebaseline"  # a persistent rollback/jump became the new baseline


@dataclass(frozen=True, slots=True)
class QualityEvent:
    """A reading that was flagged (or, for ``rebaseline``, the reading that re-anchored)."""

    ts_ms: int
    odometer_m: float
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class UsageParams:
    """Plausibility rules for odometer readings (physical bounds, not fitted to any fleet).

    ``slack_m``: odometer resolution; a reading this much lower than the last counts as no
    movement, and this much extra distance is always allowed (odometers often report whole km).
    ``rebaseline_readings`` consecutive anomalous readings consistent with each other and spanning
    at least ``rebaseline_span_ms`` (a replaced instrument cluster, not a reboot glitch) become
    the new baseline. A segment longer than ``gap_ms`` that crosses midnight is a gap whose
    distance is spread over its days.
    """

    max_speed_kmh: float = 250.0
    slack_m: float = 1000.0
    unit_factors: tuple[float, ...] = (1000.0, 0.001, MILE_KM, 1.0 / MILE_KM)
    rebaseline_readings: int = 3
    rebaseline_span_ms: int = 15 * 60_000
    gap_ms: int = MS_PER_HOUR


def max_advance_m(dt_ms: int, params: UsageParams) -> float:
    """Most distance (m) a plausible reading may add over ``dt_ms``."""
    return params.max_speed_kmh * dt_ms / 3600.0 + params.slack_m


def plausible(dt_ms: int, delta_m: float, params: UsageParams) -> bool:
    """Whether an odometer change ``delta_m`` over ``dt_ms`` (>= 0) is physically plausible."""
    return -params.slack_m <= delta_m <= max_advance_m(dt_ms, params)


def classify(odometer_m: float, anchor_m: float, dt_ms: int, params: UsageParams) -> Reason:
    """Reason for an implausible reading relative to the anchor (last accepted) reading."""
    if odometer_m > params.slack_m:
        for factor in params.unit_factors:
            if plausible(dt_ms, odometer_m / factor - anchor_m, params):
                return Reason.UNIT_ERROR
    return Reason.ROLLBACK if odometer_m < anchor_m else Reason.JUMP
