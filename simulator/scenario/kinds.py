"""Injected faults: repeated publishes and malformed messages of known kinds and variants.

Every malformed message records where the pipeline must reject it (``stage``) and with which
reason code. Malformed messages never touch a vehicle's valid stream: each uses its own
``boot_id`` ``bad-<n>`` with ``seq`` 0, so rejecting it leaves no gap in any ``(vin, boot_id)``
sequence, and accepting it by mistake could not collide with a valid message's key. Each kind
comes in a few variants (e.g. ``NaN``, ``Infinity`` or ``-Infinity`` for ``non_finite_number``),
drawn at random; the variant is recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STAGE_BRIDGE = "bridge"
STAGE_NORMALIZE = "normalize"
# Repeats of a message are published this long after the original (simulated ms).
DUPLICATE_DELAY_MS = (500, 5_000)
OVERSIZE_EXCESS_BYTES = 1024
BAD_DTCS = ("P04X0", "X0420", "P7420", "P042")
TS_BEFORE_2000_MS = 946_684_799_000
# A clock "in the future" reads 5 to 10 years after the end of the period: rejected by any
# pipeline that ingests the message less than 5 years after the period ends (whatever ``now``).
FUTURE_AHEAD_MS = (5 * 365 * 86_400_000, 10 * 365 * 86_400_000)
VARIANTS: dict[str, tuple[str, ...]] = {
    "invalid_json": ("truncated", "not_an_object", "not_utf8"),
    "non_finite_number": ("NaN", "Infinity", "-Infinity"),
    "schema": ("speed_string", "seq_string", "unknown_signal", "no_ts"),
    "out_of_range": ("speed_900", "battery_40v", "ts_before_2000"),
    "bad_dtc": ("pattern",),
    "vin_mismatch": ("other_fleet_vin",),
    "unknown_vin": ("unregistered",),
    "future_timestamp": ("years_ahead",),
    "bad_vin": ("16_characters", "letter_o", "lowercase"),
    "oversize": ("padded",),
}


@dataclass(frozen=True, slots=True)
class Expectation:
    """Where and why the pipeline must dead-letter a message."""

    stage: str
    reason: str


FAULTS: dict[str, Expectation] = {
    "invalid_json": Expectation(STAGE_NORMALIZE, "invalid_json"),
    "non_finite_number": Expectation(STAGE_NORMALIZE, "non_finite_number"),
    "schema": Expectation(STAGE_NORMALIZE, "schema"),
    "out_of_range": Expectation(STAGE_NORMALIZE, "out_of_range"),
    "bad_dtc": Expectation(STAGE_NORMALIZE, "bad_dtc"),
    "vin_mismatch": Expectation(STAGE_NORMALIZE, "vin_mismatch"),
    "unknown_vin": Expectation(STAGE_NORMALIZE, "unknown_vin"),
    "future_timestamp": Expectation(STAGE_NORMALIZE, "future_timestamp"),
    "bad_vin": Expectation(STAGE_BRIDGE, "bad_topic"),
    "oversize": Expectation(STAGE_BRIDGE, "oversize"),
}
FAULT_KINDS = tuple(FAULTS)
# A vehicle's own message that the pipeline must reject: its device clock was set far ahead.
FAR_AHEAD_CLOCK = "clock_far_ahead"
EXPECTATIONS: dict[str, Expectation] = {
    **FAULTS,
    FAR_AHEAD_CLOCK: Expectation(STAGE_NORMALIZE, "future_timestamp"),
}


@dataclass(frozen=True, slots=True)
class Malformed:
    kind: str
    variant: str
    topic_vin: str
    payload_vin: str
    boot_id: str
    ts_ms: int
    publish_ms: int
    payload: bytes

    @property
    def expect(self) -> Expectation:
        return FAULTS[self.kind]


def pick_duplicates(
    rng: np.random.Generator,
    publish_ms: list[int],
    rate: float,
    now_ms: int,
    delay_ms: tuple[int, int] = DUPLICATE_DELAY_MS,
) -> list[tuple[int, int]]:
    """(index of the original, publish time of its repeat) for about ``rate`` of the messages."""
    chosen = np.flatnonzero(rng.random(len(publish_ms)) < rate)
    delays = rng.integers(delay_ms[0], delay_ms[1] + 1, size=len(chosen))
    return [
        (int(i), max(publish_ms[i], min(publish_ms[i] + int(d), now_ms)))
        for i, d in zip(chosen, delays, strict=True)
    ]


def malformed_kinds(
    rng: np.random.Generator, valid: int, rates: dict[str, float], min_each: int = 0
) -> list[str]:
    """One kind per malformed message: Binomial(valid, rate) of each kind (at least ``min_each``
    of every kind whose rate is above 0), in random order."""
    counts = {k: int(rng.binomial(valid, rates.get(k, 0.0))) for k in FAULT_KINDS}
    kinds = [k for k in FAULT_KINDS for _ in range(max(counts[k], min_each if rates.get(k) else 0))]
    return [kinds[i] for i in rng.permutation(len(kinds))]
