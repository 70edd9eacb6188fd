"""The service history a dealer holds: the visits before the period, published before it."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from functools import cache

import pytest
from sim_kit import CATALOG, NO_FAULTS, fleet_data, merge, plan, scenario

from kernel.errors import ConfigError
from simulator.publishing.logic import Plan
from simulator.publishing.services import (
    Delivered,
    dealer_visits,
    history_records,
    history_since,
    history_visits,
    visit_record,
)
from simulator.truth.record import TRUTH_VERSION, end_line, service_published_line
from simulator.world.events import ServiceVisit
from simulator.world.invoices import add_years
from simulator.world.usage import day_start_ms, from_ms, to_ms

YEARS = 3


def data(seed: int = 13, **extra: object) -> dict[str, object]:
    """Owners of every behaviour, a fifth of them lapsing to an independent garage."""
    return merge(
        fleet_data(
            80,
            28,
            seed,
            faults=NO_FAULTS,
            profiles={"average": {"sample_interval_s": 0}},
            owners={"service": {"on_time": 0.55, "late": 0.25, "lapsed": 0.2}},
        ),
        dict(extra),
    )


@cache
def fleet_plan() -> Plan:
    return plan(data())


def services(p: Plan) -> dict[str, list[ServiceVisit]]:
    """Every service of each vehicle (history and period), in time order."""
    out: dict[str, list[ServiceVisit]] = {t.vehicle.vin: [] for t in p.vehicles}
    for t in p.vehicles:
        out[t.vehicle.vin] = sorted(
            (e for e in t.events if isinstance(e, ServiceVisit)), key=lambda e: e.ts_ms
        )
    return out


def by_vin(visits: list[ServiceVisit]) -> dict[str, list[ServiceVisit]]:
    out: dict[str, list[ServiceVisit]] = defaultdict(list)
    for v in visits:
        out[v.vin].append(v)
    return out


def day_of(visit: ServiceVisit) -> date:
    return from_ms(visit.ts_ms).date()


def test_the_history_is_the_dealer_visits_of_the_years_before_the_period() -> None:
    p = fleet_plan()
    start_ms, now_ms = to_ms(p.start), to_ms(p.now)
    since = history_since(p, YEARS)
    assert since == add_years(p.start.date(), -YEARS)
    history = history_visits(p, YEARS)
    everything = [v for vs in services(p).values() for v in vs]
    assert history == sorted(
        (
            e
            for e in everything
            if e.where == "dealer" and day_start_ms(since) <= e.ts_ms < start_ms
        ),
        key=lambda e: (e.ts_ms, e.vin),
    )
    assert len({v.vin for v in history}) >= 40
    dealer_of = {t.vehicle.vin: t.vehicle.dealer_id for t in p.vehicles}
    assert all(v.dealer_id == dealer_of[v.vin] for v in history)
    # Independent garages stay invisible; older dealer visits are left out.
    assert any(e.where == "independent" and e.ts_ms < start_ms for e in everything)
    assert any(e.where == "dealer" and e.ts_ms < day_start_ms(since) for e in everything)
    # History and period split the dealer visits up to now, without overlap or gap.
    whole = history_visits(p, 100)
    period = dealer_visits(p, now_ms)
    assert set(history) <= set(whole) and not set(whole) & set(period)
    dealer_upto_now = {e for e in everything if e.where == "dealer" and e.ts_ms <= now_ms}
    assert set(whole) | set(period) == dealer_upto_now
    assert history_visits(p, 0) == [] and history_records(p, 0) == []


def test_the_history_agrees_with_where_each_vehicle_stands() -> None:
    p = fleet_plan()
    start_ms = to_ms(p.start)
    history = by_vin(history_visits(p, YEARS))
    checked_last = checked_parts = 0
    for t in p.vehicles:
        vin, standing = t.vehicle.vin, t.standing
        visits = services(p)[vin]
        before = [v for v in visits if v.ts_ms < start_ms]
        # vehicle_now's last service is the last visit, dealer or independent.
        if visits:
            last = visits[-1]
            assert (standing.last_service_date, standing.last_service_odometer_m) == (
                day_of(last),
                last.odometer_m,
            )
        # The last service before the period, when at the dealer, ends the published history;
        # with no visit during the period it is vehicle_now's last service.
        if before and before[-1].where == "dealer":
            assert history[vin][-1] == before[-1]
            if len(before) == len(visits):
                last = history[vin][-1]
                assert standing.last_service_date == day_of(last)
                assert standing.last_service_odometer_m == last.odometer_m
                checked_last += 1
        # Each part's last replacement is the last visit that replaced it (else delivery).
        for part in standing.wear:
            code = part.item.item
            replaced = [v for v in visits if any(i.code == code for i in v.items)]
            if not replaced:
                assert (part.replaced_on, part.replaced_at_m) == (
                    t.vehicle.delivery_date,
                    t.vehicle.delivery_odometer_m,
                )
                continue
            latest = replaced[-1]
            assert (part.replaced_on, part.replaced_at_m) == (day_of(latest), latest.odometer_m)
            if latest.where == "dealer" and latest.ts_ms < start_ms:
                # What the dealer knows: the history says when it replaced the part.
                assert latest in history[vin]
                checked_parts += 1
    assert checked_last >= 20 and checked_parts >= 50


def test_history_records_are_the_visits_as_a_dealer_system_holds_them() -> None:
    p = fleet_plan()
    assert p.market is not None
    visits = history_visits(p, YEARS)
    records = history_records(p, YEARS)
    assert records == [visit_record(v, p.market) for v in visits]
    wear_items = {w.item for w in CATALOG.wear}
    kinds: set[str] = set()
    for visit, record in zip(visits, records, strict=True):
        assert record.visit_id == f"SIM-{visit.vin}-{visit.ts_ms}" == visit.visit_id
        assert to_ms(record.visit_ts) == visit.ts_ms < to_ms(p.start)
        assert record.items[0].kind == "scheduled"
        assert {i.code for i in record.items if i.kind == "wear"} <= wear_items
        assert [i.amount for i in record.items] == [round(i.cost_usd, 2) for i in visit.items]
        kinds |= {i.kind for i in record.items}
    assert {"scheduled", "wear"} <= kinds
    # Per vehicle in time order, odometer never falling.
    for vin_visits in by_vin(visits).values():
        assert [v.ts_ms for v in vin_visits] == sorted({v.ts_ms for v in vin_visits})
        assert [v.odometer_m for v in vin_visits] == sorted(v.odometer_m for v in vin_visits)


def test_the_history_is_deterministic_and_leaves_the_telemetry_alone() -> None:
    small = data(seed=5, fleet={"vehicles": 15}, scenario={"days": 3})
    first, again = plan(small), plan(small)
    assert history_records(first, YEARS) == history_records(again, YEARS)
    assert history_records(first, YEARS)
    future = plan(merge(small, {"scenario": {"horizon_days": 60}}))
    assert history_records(future, YEARS) == history_records(first, YEARS)
    assert [m.payload for m in future.messages] == [m.payload for m in first.messages]
    assert history_records(plan(data(seed=6, fleet={"vehicles": 15})), YEARS) != history_records(
        first, YEARS
    )


def test_truth_marks_history_visits_and_counts_them() -> None:
    p = fleet_plan()
    record = history_records(p, YEARS)[0]
    published = json.loads(service_published_line(Delivered(record, "t", 2, 7), history=True))
    assert published["history"] is True and published["visit_id"] == record.visit_id
    assert (published["partition"], published["offset"]) == (2, 7)
    period = json.loads(service_published_line(Delivered(record, "t", 2, 8)))
    assert period["history"] is False
    end = json.loads(
        end_line(
            published=1,
            acknowledged=1,
            planned=1,
            interrupted=False,
            elapsed_s=0.1,
            services_published=2,
            history_published=5,
        )
    )
    assert (end["services_published"], end["history_published"]) == (2, 5)
    assert TRUTH_VERSION == 5


def test_the_history_window_is_a_scenario_key() -> None:
    assert scenario().publish.service_history_years == YEARS
    assert scenario({"publish": {"service_history_years": 0}}).publish.service_history_years == 0
    with pytest.raises(ConfigError, match=r"publish\.service_history_years"):
        scenario({"publish": {"service_history_years": -1}})
