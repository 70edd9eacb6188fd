"""What really happens to vehicles: profiles, services, codes, trade-ins, finance, warranty."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import cache

import numpy as np
import pytest
from sim_kit import CATALOG, NO_FAULTS, PROFILES, fleet_data, plan

from simulator.publishing.logic import KIND_VALID, Plan
from simulator.scenario.people import ConsentSection, FinanceSection, OwnersSection
from simulator.world.events import DtcCleared, DtcRaised, ServiceVisit, TradeIn
from simulator.world.fleet import FleetMix, generate_fleet
from simulator.world.owners import (
    FinanceContract,
    Owner,
    balance,
    generate_owner,
    monthly_payment,
)
from simulator.world.service import add_months, start_planner
from simulator.world.usage import DAY_MS, day_start_ms, plan_days, to_ms
from simulator.world.warranty import coverages

START = date(2026, 3, 1)
WEIGHTS = {m.name: m.weight for m in CATALOG.models}


def mix(**shares: float) -> FleetMix:
    return FleetMix(shares, PROFILES, WEIGHTS)


def daily_km(profile: str, seed: int, days: int) -> dict[date, float]:
    p = PROFILES[profile]
    end = to_ms(datetime(2026, 1, 1, tzinfo=UTC))
    plan_ = plan_days(np.random.default_rng(seed), p, p.mean_daily_km, end - days * DAY_MS, end, 0)
    return {d.day: sum(t.distance_m for t in d.trips) / 1000 for d in plan_}


def test_profiles_shape_the_year_and_the_week() -> None:
    rural = daily_km("rural_4x4", 1, 3 * 365)
    peak = [km for d, km in rural.items() if d.month in (4, 5, 9, 10)]
    winter = [km for d, km in rural.items() if d.month in (12, 1, 2)]
    assert statistics.fmean(peak) > 1.4 * statistics.fmean(winter)
    van = daily_km("fleet_van", 2, 2 * 365)
    weekdays = [km for d, km in van.items() if d.weekday() < 5]
    sundays = [km for d, km in van.items() if d.weekday() == 6]
    assert statistics.fmean(weekdays) > 8 * statistics.fmean(sundays)
    for name in ("average", "urban_commuter", "second_car", "fleet_van"):
        km = daily_km(name, 3, 3 * 365)
        assert statistics.fmean(km.values()) == pytest.approx(PROFILES[name].mean_daily_km, rel=0.1)


def test_profiles_decide_who_drives_what() -> None:
    fleet = generate_fleet(
        np.random.default_rng(4), CATALOG, 600, START, mix(ev=1, fleet_van=1, rural_4x4=2)
    )
    by_profile = defaultdict(list)
    for v in fleet:
        by_profile[v.profile].append(v)
    assert all(v.powertrain == "ev" for v in by_profile["ev"])
    assert all(v.spec.body == "van" for v in by_profile["fleet_van"])
    assert all(v.spec.body in ("pickup", "suv") for v in by_profile["rural_4x4"])
    assert 0.4 < len(by_profile["rural_4x4"]) / 600 < 0.6
    vans = statistics.fmean(v.mean_daily_km for v in by_profile["fleet_van"])
    evs = statistics.fmean(v.mean_daily_km for v in by_profile["ev"])
    assert vans > 2 * evs


def test_annuity_and_balloon_arithmetic() -> None:
    assert monthly_payment(20_000, 6.0, 60, 0.0) == pytest.approx(386.66, abs=0.01)
    assert monthly_payment(12_000, 0.0, 24, 0.0) == pytest.approx(500.0)
    pay = monthly_payment(30_000, 7.0, 36, 12_000)
    assert balance(30_000, 7.0, pay, 36) == pytest.approx(12_000, abs=0.01)
    loan = FinanceContract("loan", date(2024, 1, 15), 25_000, 5_000, 20_000, 6.0, 60, 0.0, 386.66)
    owed = [loan.balance_usd(date(2024, 1, 15) + timedelta(days=30 * k)) for k in range(0, 62, 6)]
    assert owed[0] == pytest.approx(20_000) and owed == sorted(owed, reverse=True)
    assert loan.balance_usd(date(2029, 2, 1)) == 0.0


def owners(
    count: int, consent: ConsentSection | None = None, cfg: OwnersSection | None = None
) -> list[Owner]:
    fleet = generate_fleet(np.random.default_rng(5), CATALOG, count, START, mix(average=1))
    cfg_owners = cfg or OwnersSection()
    finance = FinanceSection()
    consent = consent or ConsentSection()
    start_ms = day_start_ms(START)
    rngs = np.random.default_rng(6).spawn(count)
    return [
        generate_owner(rng, v, cfg_owners, finance, consent, start_ms, start_ms + 365 * DAY_MS)
        for rng, v in zip(rngs, fleet, strict=True)
    ]


def test_owners_follow_the_configured_shares() -> None:
    people = owners(800, consent=ConsentSection(changes_per_year=2.0))
    behaviours = Counter(o.service_behaviour for o in people)
    assert 0.5 < behaviours["on_time"] / 800 < 0.7
    kinds = Counter(o.finance.kind for o in people)
    assert 0.38 < kinds["loan"] / 800 < 0.52
    granted = sum(dict(o.consent)["service_reminders"] for o in people)
    assert 0.8 < granted / 800 < 0.9
    for o in people:
        state = dict(o.consent)
        for change in o.consent_changes:
            assert change.granted != state[change.purpose]
            state[change.purpose] = change.granted
        if o.finance.kind == "pcp":
            assert 0 < o.finance.balloon_usd < o.finance.price_usd
    traded = sum(o.trade_in_ms is not None for o in people)
    assert 0.05 < traded / 800 < 0.15


def test_service_history_follows_the_schedule_and_the_behaviour() -> None:
    fleet = generate_fleet(np.random.default_rng(7), CATALOG, 150, START, mix(average=1))
    cfg = OwnersSection()
    start_ms = day_start_ms(START)
    seen: Counter[str] = Counter()
    for i, v in enumerate(fleet):
        rng = np.random.default_rng(100 + i)
        owner = generate_owner(rng, v, cfg, FinanceSection(), ConsentSection(), start_ms, start_ms)
        planner, history = start_planner(rng, v, owner, CATALOG, cfg, START)
        schedule = CATALOG.service[v.powertrain]
        last_day, last_odometer = v.delivery_date, v.delivery_odometer_m
        for visit in history:
            day = datetime.fromtimestamp(visit.ts_ms / 1000, UTC).date()
            late = (day - visit.due_date).days
            assert visit.due_date <= add_months(last_day, schedule.interval_months)
            if visit.due_by == "distance":
                assert visit.due_date < add_months(last_day, schedule.interval_months)
            lo, hi = {"on_time": (0, 14), "late": (30, 120), "lapsed": (0, 120)}[
                owner.service_behaviour
            ]
            assert lo <= late <= hi or visit.due_by == "distance"
            assert visit.odometer_m >= last_odometer
            assert (visit.where == "independent") == (visit.dealer_id is None)
            seen[visit.where] += 1
            last_day, last_odometer = day, visit.odometer_m
        assert planner.planned >= START
    assert seen["dealer"] > 0 and seen["independent"] > 0


@cache
def busy() -> Plan:
    """Lots of codes and trade-ins over four months."""
    return plan(
        fleet_data(
            12,
            120,
            8,
            faults=NO_FAULTS,
            diagnostics={"rate_factor": 25.0},
            owners={"trade_in_per_year": 5.0},
        )
    )


def test_codes_show_in_samples_until_cleared_and_services_bill_their_repairs() -> None:
    p = busy()
    active_by_vin: dict[str, dict[str, int]] = defaultdict(dict)
    raised = cleared = billed = 0
    for truth in p.vehicles:
        active: dict[str, str] = {}
        for e in truth.events:
            if isinstance(e, DtcRaised):
                active[e.code] = e.persistence
                raised += 1
            elif isinstance(e, DtcCleared):
                assert e.code in active
                if e.by == "self":
                    assert active[e.code] == "intermittent"
                del active[e.code]
                cleared += 1
            elif isinstance(e, ServiceVisit) and e.ts_ms >= to_ms(p.start):
                billed += len(e.items) - 1
                assert e.bill_usd == pytest.approx(sum(i.cost_usd for i in e.items))
                assert not active, "a service repairs every active code"
        active_by_vin[truth.vehicle.vin] = {}
    assert raised > 20 and cleared > 5 and billed > 0
    first_raised: dict[tuple[str, str], int] = {}
    for t in p.vehicles:
        for e in t.events:
            if isinstance(e, DtcRaised):
                first_raised.setdefault((t.vehicle.vin, e.code), e.ts_ms)
    for m in p.messages:
        if m.kind == KIND_VALID and m.device is not None:
            for r in m.device.readings:
                for code in r.sample.dtcs:
                    assert first_raised[(m.vin, code)] <= r.true_ts_ms


def test_after_a_trade_in_the_vehicle_stays_parked() -> None:
    p = busy()
    traded = 0
    for truth in p.vehicles:
        trade = next((e for e in truth.events if isinstance(e, TradeIn)), None)
        if trade is None:
            continue
        traded += 1
        later = [
            r
            for m in p.messages
            if m.vin == truth.vehicle.vin and m.device is not None
            for r in m.device.readings
            if r.true_ts_ms > trade.ts_ms + DAY_MS
        ]
        assert all(r.sample.speed_kmh == 0 for r in later)
        assert all(r.true_odometer_m == trade.odometer_m for r in later)
        assert not any(isinstance(e, ServiceVisit) and e.ts_ms > trade.ts_ms for e in truth.events)
    assert traded >= 3


def test_trajectory_is_the_true_odometer_at_the_end_of_each_day() -> None:
    p = busy()
    for truth in p.vehicles:
        assert list(truth.trajectory_m) == sorted(truth.trajectory_m)
        assert truth.trajectory_m[0] >= truth.vehicle.odometer_start_m
        by_day: dict[int, int] = {}
        for m in p.messages:
            if m.vin == truth.vehicle.vin and m.device is not None:
                for r in m.device.readings:
                    day = (r.true_ts_ms - day_start_ms(truth.first_day)) // DAY_MS
                    by_day[day] = max(by_day.get(day, 0), r.true_odometer_m)
        for day, odometer in by_day.items():
            assert odometer <= truth.trajectory_m[day]


def test_warranty_ends_at_the_time_or_distance_limit_whichever_first() -> None:
    fleet = generate_fleet(np.random.default_rng(9), CATALOG, 50, START, mix(fleet_van=1))
    vehicle = replace(fleet[0], delivery_date=date(2025, 6, 1), odometer_start_m=60_000_000)
    terms = CATALOG.warranty_for(vehicle.brand)
    trajectory = tuple(60_000_000 + 800_000 * (i + 1) for i in range(60))
    basic, powertrain, *_ = coverages(vehicle, terms, START, trajectory)
    assert basic.binding == "distance" and basic.expires_on is not None
    assert basic.expires_on < START
    crossing = next(i for i, o in enumerate(trajectory) if o >= powertrain.limit_km * 1000)
    assert powertrain.expires_on == START + timedelta(days=crossing)
    old = replace(vehicle, delivery_date=date(2023, 3, 10), odometer_start_m=1_000_000)
    slow = coverages(old, terms, START, tuple(1_000_000 for _ in range(60)))
    assert slow[0].binding == "time" and slow[0].expires_on == date(2026, 3, 10)
    assert slow[1].expires_on is None and slow[1].time_limit_date == date(2028, 3, 10)
