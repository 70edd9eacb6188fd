"""The hidden future: the same world after ``now``, reproducible, and invisible in what is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from sim_kit import NO_FAULTS, NOW, fleet_data, merge, plan, truth_lines

from simulator.publishing.logic import Plan
from simulator.world.events import DtcCleared, DtcRaised, ServiceVisit, TradeIn
from simulator.world.messages import MAX_PUBLISH_DELAY_MS
from simulator.world.usage import DAY_MS, day_start_ms, to_ms

# Just after midnight: the period's last planned day is the day before ``now``'s.
EARLY = datetime(2026, 3, 1, 0, 4, 30, tzinfo=UTC)
EVERY_PROFILE = {"urban_commuter": 1, "rural_4x4": 1, "fleet_van": 1, "second_car": 1, "ev": 1}


def scenario(horizon: int, **extra: Any) -> dict[str, Any]:
    data = fleet_data(
        25,
        10,
        21,
        fleet={"profiles": EVERY_PROFILE},
        faults={"duplicate_rate": 0.05, "dead_zone": {"per_vehicle_day": 0.2}},
        diagnostics={"rate_factor": 10.0},
        owners={"trade_in_per_year": 1.0},
    )
    return merge(merge(data, {"scenario": {"horizon_days": horizon}}), extra)


@cache
def with_horizon(now: datetime = NOW) -> Plan:
    return plan(scenario(120), now)


@cache
def without_horizon(now: datetime = NOW) -> Plan:
    return plan(scenario(0), now)


def published(p: Plan) -> list[bytes]:
    """Every truth line of the published part (all but the header and the future's)."""
    hidden = {"header", "future", "future_event"}
    return [raw for raw in truth_lines(p) if json.loads(raw)["type"] not in hidden]


@pytest.mark.parametrize("now", [NOW, EARLY])
def test_the_published_part_is_the_same_with_and_without_a_horizon(now: datetime) -> None:
    a, b = without_horizon(now), with_horizon(now)
    assert [(m.topic_vin, m.payload, m.publish_ms) for m in a.messages] == [
        (m.topic_vin, m.payload, m.publish_ms) for m in b.messages
    ]
    assert published(a) == published(b)
    assert all(t.future is None for t in a.vehicles)
    assert all(t.future is not None for t in b.vehicles)


def test_the_future_is_reproducible_and_depends_on_the_seed() -> None:
    again = plan(scenario(120))
    assert truth_lines(again) == truth_lines(with_horizon())
    other = plan(merge(scenario(120), {"scenario": {"seed": 22}}))
    assert [t.future for t in other.vehicles] != [t.future for t in with_horizon().vehicles]


def test_a_longer_horizon_extends_the_same_future() -> None:
    short, long = plan(scenario(30)), with_horizon()
    end_ms = day_start_ms(short.now.date() + timedelta(days=31))
    for s, lng in zip(short.vehicles, long.vehicles, strict=True):
        assert s.future is not None and lng.future is not None
        assert s.future.trajectory_m == lng.future.trajectory_m[:30]
        assert s.future.now_day_odometer_m == lng.future.now_day_odometer_m
        assert s.future.events == tuple(e for e in lng.future.events if e.ts_ms < end_ms)


@pytest.mark.parametrize("now", [NOW, EARLY])
def test_daily_odometers_start_the_day_after_now_and_never_fall(now: datetime) -> None:
    p = with_horizon(now)
    for t in p.vehicles:
        future = t.future
        assert future is not None
        assert future.first_day == p.now.date() + timedelta(days=1)
        assert len(future.trajectory_m) == 120
        series = [t.trajectory_m[-1], future.now_day_odometer_m, *future.trajectory_m]
        assert series == sorted(series)
    driven = [t.future.trajectory_m[-1] - t.trajectory_m[-1] for t in p.vehicles if t.future]
    assert sum(d > 0 for d in driven) > 20


def test_future_events_come_after_the_period_and_agree_with_the_odometer() -> None:
    p = with_horizon()
    cut_ms = to_ms(p.now) - MAX_PUBLISH_DELAY_MS
    kinds: set[str] = set()
    for t in p.vehicles:
        assert t.future is not None
        first_ms = day_start_ms(t.future.first_day)
        trade = next((e for e in t.future.events if isinstance(e, TradeIn)), None)
        for e in t.future.events:
            kinds.add(e.kind)
            assert e.ts_ms > cut_ms
            if isinstance(e, ServiceVisit):
                day = (e.ts_ms - first_ms) // DAY_MS
                if day >= 0:
                    assert e.odometer_m <= t.future.trajectory_m[day]
                if day > 0:
                    assert e.odometer_m >= t.future.trajectory_m[day - 1]
                assert trade is None or e.ts_ms < trade.ts_ms
                assert e.items[0].kind == "scheduled"
        if trade is not None:
            assert t.owner.trade_in_ms is None and t.future.trade_in_ms == trade.ts_ms
            after = (trade.ts_ms - first_ms) // DAY_MS + 1
            assert len(set(t.future.trajectory_m[after:])) <= 1
    assert kinds >= {"service", "dtc_raised", "dtc_cleared", "trade_in"}


def test_codes_raised_in_the_future_are_repaired_by_its_services() -> None:
    repaired = 0
    for t in with_horizon().vehicles:
        assert t.future is not None
        active: set[str] = set()
        for e in t.future.events:
            if isinstance(e, DtcRaised):
                active.add(e.code)
            elif isinstance(e, DtcCleared):
                active.discard(e.code)
            elif isinstance(e, ServiceVisit):
                repaired += sum(1 for i in e.items if i.kind == "repair")
    assert repaired > 0


def test_warranty_ends_are_read_from_the_whole_true_series() -> None:
    p = plan(
        merge(
            fleet_data(
                40, 5, 3, faults=NO_FAULTS, fleet={"profiles": {"fleet_van": 1, "second_car": 1}}
            ),
            {"scenario": {"horizon_days": 365}},
        )
    )
    seen: set[str] = set()
    horizon_end = p.now.date() + timedelta(days=365)
    for t in p.vehicles:
        assert t.future is not None
        series = [*t.trajectory_m[:-1], t.future.now_day_odometer_m, *t.future.trajectory_m]
        days = [t.first_day + timedelta(days=i) for i in range(len(t.trajectory_m))]
        days += [t.future.first_day + timedelta(days=i) for i in range(365)]
        for c in t.future.warranty:
            if c.expires_on is None:
                assert c.time_limit_date > horizon_end
                assert series[-1] < c.limit_km * 1000
                continue
            seen.add(str(c.binding))
            assert c.expires_on <= horizon_end
            if c.binding == "distance" and c.expires_on >= t.first_day:
                crossing = next(
                    d for d, o in zip(days, series, strict=True) if o >= c.limit_km * 1000
                )
                assert c.expires_on == crossing
            if c.binding == "time":
                assert c.expires_on == c.time_limit_date
    assert seen == {"time", "distance"}


def test_truth_lines_of_the_future() -> None:
    p = with_horizon()
    lines = [json.loads(raw) for raw in truth_lines(p)]
    header = lines[0]
    assert header["horizon_days"] == 120 and header["version"] == 5
    assert header["horizon_end"] == (p.now.date() + timedelta(days=120)).isoformat()
    futures = {x["vin"]: x for x in lines if x["type"] == "future"}
    assert set(futures) == {v.vin for v in p.fleet}
    one = next(iter(futures.values()))
    assert one["first_day"] == (p.now.date() + timedelta(days=1)).isoformat()
    assert len(one["odometer_m"]) == 120
    assert {c["coverage"] for c in one["warranty"]} >= {"basic", "powertrain"}
    events = [x for x in lines if x["type"] == "future_event"]
    services = [x for x in events if x["event"] == "service"]
    assert services and all(x["visit_id"].startswith("SIM-") for x in services)
    for x in services:
        assert x["bill_usd"] == pytest.approx(sum(i["cost_usd"] for i in x["items"]))
        assert x["price_usd"] == pytest.approx(sum(i["price_usd"] for i in x["items"]))
        assert x["where"] in ("dealer", "independent")
    now = [x for x in lines if x["type"] == "vehicle_now"]
    assert len(now) == len(p.fleet)
    usage = now[0]["usage"]
    assert len(usage["weekday_factors"]) == 7 and len(usage["month_factors"]) == 12
    assert {"mean_daily_km", "day_sigma", "zero_day_probability_weekend"} <= set(usage)
    first, last = usage["departure_hours"]  # what the scorer's oracle needs of the last day
    assert 0 <= first < last <= 23
