"""Usage scenarios: state size, re-baselining, glitches, late and wrong-clock readings, idle
days and gaps, a single reading."""

from __future__ import annotations

import math

import numpy as np
import pytest
from signals_kit import BASE_M, DAY, HOUR, T0, trips

from processors.signals.quality import MILE_KM, Reason
from processors.signals.usage import (
    STATE_BYTES,
    UsageModel,
    UsageState,
    estimate_usage,
    update_usage,
)


def test_state_is_small_and_fixed_size() -> None:
    state = update_usage(None, *trips([30.0] * 100)).state
    assert state is not None
    assert len(state.to_bytes()) == STATE_BYTES <= 2048
    assert UsageState.from_bytes(state.to_bytes()) == state
    with pytest.raises(ValueError):
        UsageState.from_bytes(state.to_bytes()[:-1])


def test_persistent_rollback_rebaselines() -> None:
    ts, odo = trips([40.0] * 10)
    new_cluster = odo[-1] - 50_000_000.0  # replaced cluster reads 50,000 km less
    later = T0 + 10 * DAY + 8 * HOUR + np.arange(6, dtype=np.int64) * HOUR
    later_odo = new_cluster + np.arange(6) * 20_000.0
    up = update_usage(update_usage(None, ts, odo).state, later, later_odo)
    reasons = [e.reason for e in up.events]
    assert reasons == [Reason.ROLLBACK] * 3 + [Reason.REBASELINE]
    assert up.accepted == 3 and up.state is not None
    assert up.state.last_odometer_m == later_odo[-1]
    assert math.isnan(up.state.origin_odometer_m)
    assert up.state.lifetime_km == pytest.approx(10 * 40.0 + 100.0)  # the drop is not distance
    nxt = update_usage(up.state, [later[-1] + DAY], [later_odo[-1] + 30_000.0])
    assert nxt.events == () and nxt.accepted == 1


def test_reboot_glitch_and_unit_errors_do_not_rebaseline() -> None:
    ts, odo = trips([40.0] * 5)
    state = update_usage(None, ts, odo).state
    t = int(ts[-1])
    glitch = update_usage(state, [t + 1000, t + 2000, t + 3000], [0.0, 0.0, 0.0])
    assert [e.reason for e in glitch.events] == [Reason.ROLLBACK] * 3
    miles = update_usage(
        glitch.state, t + HOUR * np.arange(1, 6), (odo[-1] + 1000.0 * np.arange(5)) / MILE_KM
    )
    assert {e.reason for e in miles.events} == {Reason.UNIT_ERROR} and miles.accepted == 0
    back = update_usage(miles.state, [t + 7 * HOUR], [odo[-1] + 5_000.0])
    assert back.events == () and back.accepted == 1


def test_a_wrong_first_reading_is_outvoted() -> None:
    first = update_usage(None, [T0], [BASE_M * 1000.0])  # the very first reading: x1000
    parked = T0 + np.arange(1, 4) * 600_000  # then three readings ten minutes apart
    up = update_usage(first.state, parked, [BASE_M] * 3)
    assert [e.reason for e in up.events] == [Reason.UNIT_ERROR] * 3 + [Reason.REBASELINE]
    assert up.state is not None and up.state.last_odometer_m == BASE_M
    on = update_usage(up.state, [T0 + HOUR], [BASE_M + 20_000.0])
    assert on.events == () and on.accepted == 1
    # once a second reading has confirmed the baseline, unit errors never take over
    confirmed = update_usage(None, [T0, T0 + 1], [BASE_M, BASE_M]).state
    stuck = update_usage(confirmed, parked, [BASE_M * 1000.0] * 3)
    assert {e.reason for e in stuck.events} == {Reason.UNIT_ERROR} and stuck.state == confirmed


def test_late_reading_is_out_of_order_and_ignored() -> None:
    ts, odo = trips([40.0] * 5)
    state = update_usage(None, ts, odo).state
    late = update_usage(state, [ts[3] + 1000], [odo[3]])
    assert [e.reason for e in late.events] == [Reason.OUT_OF_ORDER]
    assert late.state == state


def test_wrong_clock_reading_is_the_outlier_not_its_successors() -> None:
    ts, odo = trips([40.0] * 6)
    bad_t = int(ts[4]) - 20 * HOUR  # a later odometer stamped a day early
    up = update_usage(None, np.append(ts, bad_t), np.append(odo, odo[7]))
    assert [(e.ts_ms, e.reason) for e in up.events] == [(bad_t, Reason.JUMP)]
    clean = update_usage(None, ts, odo)
    assert up.state is not None and clean.state is not None
    assert up.state.last_odometer_m == clean.state.last_odometer_m
    assert up.state.lifetime_km == pytest.approx(clean.state.lifetime_km)


def test_invalid_readings_are_flagged() -> None:
    up = update_usage(None, [T0, T0 + 1, T0 + 2], [math.nan, -5.0, BASE_M])
    assert [e.reason for e in up.events] == [Reason.INVALID, Reason.INVALID]
    assert up.accepted == 1 and up.state is not None


def test_idle_days_count_and_gaps_are_spread() -> None:
    week = [70.0] * 5 + [0.0, 0.0]
    state = update_usage(None, *trips(week * 6)).state
    assert state is not None
    est = estimate_usage(state)
    assert est.recent_km_per_day == pytest.approx(50.0, rel=0.05)
    assert est.mean_km_per_day == pytest.approx(50.0, rel=0.05)
    # one reading, then 500 km reported five days later: 100 km on each whole day between
    gap = update_usage(state, [state.last_ts_ms + 5 * DAY], [state.last_odometer_m + 500_000.0])
    assert gap.state is not None
    days = gap.state.days_km
    assert days[-5:-1] == pytest.approx([100.0] * 4, rel=1e-5)
    assert gap.state.coarse_days()[-5:].all()
    assert gap.state.lifetime_km - state.lifetime_km == pytest.approx(500.0)


def test_single_reading_falls_back_to_prior_and_lifetime() -> None:
    state = update_usage(None, [T0], [BASE_M]).state
    model = UsageModel()
    est = estimate_usage(state, model=model)
    assert est.mean_km_per_day == pytest.approx(model.mean_km_per_day)
    assert est.mean_sd_km_per_day > 0.5 * model.mean_km_per_day
    delivered = T0 - 1000 * DAY  # 60,000 km in 1,000 days: 60 km/day
    with_age = estimate_usage(state, delivery_ts_ms=delivered)
    assert with_age.lifetime_km_per_day == pytest.approx(60.0)
    assert 55.0 < with_age.mean_km_per_day < 60.0
    assert with_age.mean_sd_km_per_day < est.mean_sd_km_per_day
    assert estimate_usage(None).mean_km_per_day == model.mean_km_per_day


def test_a_long_fast_glitch_stays_a_candidate_within_one_byte() -> None:
    state = update_usage(None, *trips([40.0] * 3)).state
    assert state is not None
    t = state.last_ts_ms + 1000 * np.arange(1, 400)  # 400 zero readings a second apart
    up = update_usage(state, t, np.zeros(t.size))
    assert up.state is not None and up.state.candidate_count == 255
    assert {e.reason for e in up.events} == {Reason.ROLLBACK}  # under 15 min: no re-baseline
    assert UsageState.from_bytes(up.state.to_bytes()) == up.state
