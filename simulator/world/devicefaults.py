"""Faults of the device itself (pure): a skewed clock and odometer glitches.

Both change what a sample says, never what really happened: each :class:`Reading` keeps the true
event time and odometer beside the reported ones.

A small clock skew (``offset_s``, bounded by the pipeline's future tolerance) shifts event times
and the samples are stored as sent. A clock set far ahead puts every affected event time 5 to 10
years after the end of the period, so the pipeline must reject those messages
(``future_timestamp``) as long as it ingests them less than 5 years after the period ends.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from simulator.scenario.faults import ClockSkewFaults, OdometerFaults
from simulator.scenario.kinds import FUTURE_AHEAD_MS
from simulator.world.events import ClockSkew
from simulator.world.messages import Reading
from simulator.world.timeline import Intent
from simulator.world.usage import DAY_MS, HOUR_MS

ODOMETER_MAX_M = 4_294_967_295


def skew_episodes(
    rng: np.random.Generator,
    cfg: ClockSkewFaults,
    vin: str,
    start_ms: int,
    now_ms: int,
) -> list[ClockSkew]:
    """Clock-skew episodes of one device over ``[start_ms, now_ms]``, in time order."""
    days = (now_ms - start_ms) / DAY_MS
    count = int(rng.poisson(cfg.per_vehicle_day * days))
    episodes = []
    for begin in sorted(int(b) for b in rng.integers(start_ms, now_ms, size=count)):
        end = min(now_ms, begin + round(float(rng.uniform(*cfg.duration_h)) * HOUR_MS))
        far = bool(rng.random() < cfg.far_ahead_share)
        if far:
            offset = now_ms - begin + int(rng.integers(*FUTURE_AHEAD_MS))
        else:
            offset = round(float(rng.uniform(*cfg.offset_s)) * 1000)
        episodes.append(ClockSkew(vin, begin, end, offset, far))
    return episodes


def apply_skew(intents: list[Intent], episodes: list[ClockSkew]) -> list[Intent]:
    """Shift the event time of every sample taken during an episode (the first that covers it)."""
    if not episodes:
        return intents

    def skewed(r: Reading) -> Reading:
        for e in episodes:
            if e.ts_ms <= r.true_ts_ms < e.end_ms and e.offset_ms:
                sample = replace(r.sample, ts_ms=r.true_ts_ms + e.offset_ms)
                return replace(r, sample=sample, skew_ms=e.offset_ms, far_ahead=e.far_ahead)
        return r

    return [Intent(i.send_ms, tuple(skewed(r) for r in i.readings)) for i in intents]


def apply_glitches(
    rng: np.random.Generator, intents: list[Intent], cfg: OdometerFaults
) -> list[Intent]:
    """Replace the odometer of some samples: rolled back, jumped ahead, or sent in km."""
    total = cfg.rollback + cfg.jump + cfg.unit_error
    count = sum(len(i.readings) for i in intents)
    if total == 0 or count == 0:
        return intents
    draws = iter(rng.random(count).tolist())
    out = []
    for intent in intents:
        readings = []
        for r in intent.readings:
            u = next(draws)
            kind = (
                "rollback"
                if u < cfg.rollback
                else "jump"
                if u < cfg.rollback + cfg.jump
                else "unit_error"
                if u < total
                else None
            )
            if kind is not None:
                r = _glitch(rng, r, kind, cfg)
            readings.append(r)
        out.append(Intent(intent.send_ms, tuple(readings)))
    return out


def _glitch(rng: np.random.Generator, r: Reading, kind: str, cfg: OdometerFaults) -> Reading:
    true_m = r.true_odometer_m
    if kind == "rollback":
        reported = max(0, true_m - round(float(rng.uniform(*cfg.rollback_km)) * 1000))
    elif kind == "jump":
        reported = min(ODOMETER_MAX_M, true_m + round(float(rng.uniform(*cfg.jump_km)) * 1000))
    else:
        reported = true_m // 1000
    return replace(r, sample=replace(r.sample, odometer_m=reported), glitch=kind)
