"""A world that is not the catalog: dealers' prices, invoices, true wear and true value."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from functools import cache

import numpy as np
import pytest
from sim_kit import CATALOG, NO_FAULTS, PROFILES, fleet_data, plan

from schemas.services import ServiceVisitCodec
from simulator.publishing.logic import Plan
from simulator.publishing.registry import INDEX_SOURCE, market_index, vehicle_records
from simulator.publishing.services import dealer_visits, visit_records
from simulator.scenario.world import DealersSection, InvoicesSection, WearSection
from simulator.world.events import ServiceVisit
from simulator.world.fleet import FleetMix, Vehicle, generate_fleet
from simulator.world.invoices import in_force, neutral_world, service_world
from simulator.world.prices import LABOUR_SHARE, Garage, draw_dealers
from simulator.world.usage import to_ms
from simulator.world.wear import DAYS_PER_MONTH, WearState, next_service_ahead

START = date(2026, 3, 1)
MIX = FleetMix({"average": 1.0}, PROFILES, {m.name: m.weight for m in CATALOG.models})
FLEET = generate_fleet(np.random.default_rng(3), CATALOG, 60, START, MIX)


def vehicle(powertrain: str = "ice") -> Vehicle:
    return next(v for v in FLEET if v.powertrain == powertrain)


@cache
def year_plan() -> Plan:
    """A year of many services: heavy users, every owner at the dealer, many codes."""
    return plan(
        fleet_data(
            30,
            365,
            5,
            faults=NO_FAULTS,
            profiles={"average": {"annual_km": 60000, "sample_interval_s": 0}},
            diagnostics={"rate_factor": 5.0},
        )
    )


def test_a_garage_prices_labour_and_parts_by_its_own_factors() -> None:
    garage = Garage("dealer", "DLR-001", parts_level=1.2, labour_rate=0.9)
    share = LABOUR_SHARE["scheduled"]
    assert garage.price_usd(100.0, "scheduled") == pytest.approx(
        100 * (share * 0.9 + (1 - share) * 1.2)
    )
    assert Garage("dealer", "x", 1.0, 1.0).price_usd(260.0, "repair") == pytest.approx(260.0)


def test_dealer_levels_are_lognormal_around_one() -> None:
    ids = [f"DLR-{i:03d}" for i in range(1, 1000)]
    dealers = draw_dealers(np.random.default_rng(1), ids, DealersSection(price_level_sigma=0.12))
    parts = [d.parts_level for d in dealers.values()]
    labour = [d.labour_rate for d in dealers.values()]
    assert statistics.fmean(parts) == pytest.approx(1.0, abs=0.015)
    assert statistics.stdev(np.log(parts)) == pytest.approx(0.12, rel=0.1)
    assert statistics.fmean(labour) == pytest.approx(1.0, abs=0.015)
    assert parts != labour
    flat = draw_dealers(
        np.random.default_rng(1),
        ids[:3],
        DealersSection(price_level_sigma=0.0, labour_rate_sigma=0.0),
    )
    assert {(d.parts_level, d.labour_rate) for d in flat.values()} == {(1.0, 1.0)}


def test_the_neutral_world_bills_the_catalog_exactly() -> None:
    v = vehicle("ice")
    world = neutral_world(v, CATALOG)
    schedule = CATALOG.service["ice"]
    code = next(c for c in CATALOG.codes if c.fault.coverage == "none")
    day = v.delivery_date + timedelta(days=400)
    items = world.invoice("dealer", schedule, day, v.delivery_odometer_m + 16_000_000, [code])
    assert items[0].kind == "scheduled" and items[0].cost_usd == schedule.price.expected
    assert items[-1].kind == "repair" and items[-1].code == code.code
    assert items[-1].cost_usd == code.fault.cost.expected
    for item in items:
        if item.kind == "wear":
            wear = next(w for w in CATALOG.wear if w.item == item.code)
            assert item.price == wear.price.expected
    independent = world.invoice("independent", schedule, day, v.delivery_odometer_m, [])
    factor = CATALOG.independent_price_factor
    assert independent[0].cost_usd == pytest.approx(schedule.price.expected * factor)


def test_invoices_carry_dealer_levels_and_line_noise_on_average() -> None:
    v = vehicle("ice")
    dealer = Garage("dealer", v.dealer_id, parts_level=1.25, labour_rate=0.85)
    section = InvoicesSection(item_sigma=0.1, other_repair_probability=0.3)
    world = service_world(np.random.default_rng(8), v, CATALOG, dealer, section, WearSection())
    schedule = CATALOG.service["ice"]
    prices, others = [], 0
    for k in range(1500):
        items = world.invoice("dealer", schedule, START + timedelta(days=k), 10_000, [])
        prices.append(items[0].cost_usd)
        others += sum(i.kind == "other" for i in items)
        assert all(i.cost_usd == round(i.cost_usd, 2) for i in items)
    expected = dealer.price_usd(schedule.price.expected, "scheduled")
    assert statistics.fmean(prices) == pytest.approx(expected, rel=0.02)
    assert statistics.stdev(np.log(prices)) == pytest.approx(0.1, rel=0.15)
    assert 0.25 < others / 1500 < 0.35


def test_warranty_pays_what_its_coverage_covers_while_in_force() -> None:
    v = vehicle("ice")
    terms = CATALOG.warranty_for(v.brand)
    early = v.delivery_date + timedelta(days=30)
    assert in_force(terms, "basic", v.delivery_date, early, 1_000_000)
    assert not in_force(terms, "basic", v.delivery_date, early, 10**9)
    assert not in_force(terms, "none", v.delivery_date, early, 0)
    late = v.delivery_date + timedelta(days=366 * terms.basic.years)
    assert not in_force(terms, "basic", v.delivery_date, late, 0)
    covered = next(c for c in CATALOG.codes if c.fault.coverage == "basic")
    world = neutral_world(v, CATALOG)
    items = world.invoice("dealer", CATALOG.service["ice"], early, 1_000_000, [covered])
    repair = items[-1]
    assert repair.covered_by == "basic" and repair.cost_usd == 0 and repair.price > 0


def test_true_wear_lives_scatter_around_the_catalog_and_decide_replacement() -> None:
    v = vehicle("ice")
    items = CATALOG.wear_for("ice")
    lives = [
        WearState.new(np.random.default_rng(i), items, "ice", START, 0, 0.22).parts[0].life_km
        for i in range(800)
    ]
    catalog_life = items[0].life_km_for("ice")
    assert catalog_life is not None
    assert statistics.fmean(x for x in lives if x) == pytest.approx(catalog_life, rel=0.03)
    assert statistics.stdev(np.log([x for x in lives if x])) == pytest.approx(0.22, rel=0.1)
    state = WearState.new(np.random.default_rng(0), items, "ice", v.delivery_date, 0, 0.0)
    pads = state.parts[0]
    assert pads.life_km == catalog_life
    # Due when the part would be past its life by the next service.
    assert not pads.due(v.delivery_date, round(catalog_life * 1000) - 20_000_000, 16_000, 365)
    assert pads.due(v.delivery_date, round(catalog_life * 1000) - 10_000_000, 16_000, 365)
    WearState.replace([pads], START, 50_000_000)
    assert (pads.replaced_on, pads.replaced_at_m) == (START, 50_000_000)


def test_the_next_service_is_judged_from_the_pace_since_the_last() -> None:
    # 100 km a day: 16,093 km come before 12 months.
    km, days = next_service_ahead(16_093, 12, START, 0, START + timedelta(days=100), 10_000_000)
    assert km == 16_093 and days == pytest.approx(160.93)
    # 10 km a day: the 12 months come first.
    km, days = next_service_ahead(16_093, 12, START, 0, START + timedelta(days=100), 1_000_000)
    assert days == pytest.approx(12 * DAYS_PER_MONTH) and km == pytest.approx(10 * days)


def test_services_in_the_world_replace_worn_parts_and_repair_codes() -> None:
    kinds: Counter[str] = Counter()
    for t in year_plan().vehicles:
        last: dict[str, int] = {}
        for e in t.events:
            if not isinstance(e, ServiceVisit):
                continue
            for item in e.items:
                kinds[item.kind] += 1
                if item.kind == "wear":
                    assert item.code is not None
                    assert e.odometer_m >= last.get(item.code, 0)
                    last[item.code] = e.odometer_m
    assert kinds["scheduled"] > 50 and kinds["wear"] > 50 and kinds["repair"] > 0
    assert kinds["other"] > 0


def test_true_value_is_the_list_price_times_the_curve_and_the_hidden_factors() -> None:
    p = year_plan()
    factors, options = [], []
    for t in p.vehicles:
        value = t.value
        share = CATALOG.depreciation.value_share(
            t.vehicle.spec.body, t.vehicle.powertrain, value.age_years, value.odometer_m / 1000
        )
        assert value.curve_share == pytest.approx(float(share))
        assert value.market_factor == p.market_factor
        list_price = t.vehicle.spec.msrp_usd * value.options_factor
        assert value.list_price_usd == pytest.approx(list_price, abs=0.01)
        assert value.curve_value_usd == pytest.approx(list_price * value.curve_share, abs=0.01)
        assert value.value_usd == pytest.approx(
            list_price * value.curve_share * value.vehicle_factor * p.market_factor, abs=0.02
        )
        assert value.payoff_usd == t.owner.finance.balance_usd(p.now.date())
        assert value.equity_usd == pytest.approx(value.value_usd - value.payoff_usd, abs=0.01)
        factors.append(value.vehicle_factor)
        options.append(value.options_factor)
    assert len(set(factors)) == len(factors)
    assert len(set(options)) == len(options)
    exact = plan(fleet_data(5, 2, 5, value={"vehicle_sigma": 0.0, "market_sigma": 0.0}))
    assert all(t.value.value_usd == t.value.curve_value_usd for t in exact.vehicles)


def test_registry_records_carry_finance_consent_market_and_currency() -> None:
    p = plan(fleet_data(40, 2, 9, fleet={"market": "GB"}))
    records = vehicle_records(p)
    assert [r.vin for r in records] == [v.vin for v in p.fleet]
    market = CATALOG.market("GB")
    for r, t in zip(records, p.vehicles, strict=True):
        # the list price as built converts at the exchange rate alone, as values do
        assert r.list_price == Decimal(f"{t.value.list_price_usd * market.per_usd:.2f}")
    kinds = Counter(r.finance.kind for r in records)
    assert set(kinds) == {"cash", "loan", "pcp"}
    for r, t in zip(records, p.vehicles, strict=True):
        f, contract = r.finance, t.owner.finance
        assert (r.market, r.currency) == ("GB", "GBP")
        assert r.delivery_odometer_m == t.vehicle.delivery_odometer_m
        assert r.dealer_id == t.vehicle.dealer_id
        assert r.consent == t.owner.consent and r.consent_at.date() == t.vehicle.delivery_date
        if contract.kind == "cash":
            assert f.amount is None
            continue
        factor = CATALOG.market("GB").factor
        assert f.amount == Decimal(f"{contract.principal_usd * factor:.2f}")
        assert f.balloon == Decimal(f"{contract.balloon_usd * factor:.2f}")
        assert (f.term_months, f.start) == (contract.term_months, contract.start)
        assert f.apr_pct == Decimal(f"{contract.apr_pct:.3f}")
        assert (f.balloon > 0) == (contract.kind == "pcp")


def test_only_dealer_visits_of_the_period_are_published_as_records() -> None:
    p = year_plan()
    start_ms, now_ms = to_ms(p.start), to_ms(p.now)
    visits = dealer_visits(p, now_ms)
    everything = [e for t in p.vehicles for e in t.events if isinstance(e, ServiceVisit)]
    assert any(e.where == "independent" for e in everything)
    assert any(e.ts_ms < start_ms for e in everything)
    assert visits == sorted(
        (e for e in everything if e.where == "dealer" and start_ms <= e.ts_ms <= now_ms),
        key=lambda e: (e.ts_ms, e.vin),
    )
    records = visit_records(p, now_ms)
    codec = ServiceVisitCodec()
    for visit, record in zip(visits, records, strict=True):
        assert codec.decode(codec.encode(record)) == record
        assert record.visit_id == visit.visit_id and record.dealer_id == visit.dealer_id
        assert record.currency == "USD" and record.odometer_m == visit.odometer_m
        assert record.invoiced_amount == pytest.approx(visit.bill_usd, abs=0.01)
        assert [i.kind for i in record.items] == [i.kind for i in visit.items]
        assert [i.code for i in record.items] == [i.code for i in visit.items]
    assert len(visit_records(p, start_ms + 30 * 86_400_000)) < len(records)


def test_the_published_market_index_is_the_world_s_factor_with_a_reporting_error() -> None:
    errors = []
    for seed in range(40):
        p = plan(fleet_data(2, 2, seed))
        index = market_index(p)
        assert p.market is not None and index.market == p.market.code
        assert index.as_of == p.now.date() and index.source == INDEX_SOURCE
        assert index.factor == round(index.factor, 3)
        assert index == market_index(plan(fleet_data(2, 2, seed)))  # the same seed, the same
        errors.append(index.factor / p.market_factor - 1)
    # about 1 % (lognormal sigma 0.01), and no bias; the factors themselves spread by 6 %
    assert 0.005 < statistics.pstdev(errors) < 0.02
    assert abs(statistics.fmean(errors)) < 0.006
