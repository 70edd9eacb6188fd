"""Predictions of one fixed vehicle, checked against figures worked out by hand.

The vehicle: a Toyota Camry (combustion, sedan, MSRP $28,400) sold in Great Britain (GBP, 0.78
per US dollar, price level 1), delivered on 2023-01-10 at 0 km, on a 0 % loan of GBP 20,000
over 48 months from delivery. It has no telemetry yet: the usage estimate is the population
prior (45 km/day). A repair visit on 2024-03-01 read 20,000 km; no scheduled service since
delivery, so the service (12 months or 16,093 km) is overdue.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

import pytest

from database.vehicle_facts import FinanceTerms, VehicleFacts
from processors.signals.dates import add_months, datetime_to_ms
from processors.signals.equity import value_on, values
from processors.signals.predict import predict
from processors.signals.pricing import pricing_for
from processors.signals.upkeep import ServicePoint, Upkeep
from reference.catalog import ModelSpec, default_catalog

CATALOG = default_catalog()
AS_OF = datetime(2024, 3, 1, tzinfo=UTC)
AS_OF_MS = datetime_to_ms(AS_OF)
LOAN = FinanceTerms("loan", 20_000.0, 0.0, 48, date(2023, 1, 10))
CAMRY = VehicleFacts(
    vin="SB1ZZZ00000000001",
    brand="Toyota",
    model="Camry",
    model_year=2022,
    powertrain="ice",
    delivery_date=date(2023, 1, 10),
    delivery_odometer_m=0,
    dealer_id="dealer-gb-1",
    market="GB",
    currency="GBP",
    finance=LOAN,
)
VISIT = ServicePoint(AS_OF_MS, 20_000_000, "repair-1")
UPKEEP = Upkeep(last_visit=VISIT, active_faults=("P0420", "P0457"))


def test_the_bill_has_the_hand_computed_lines() -> None:
    service = predict(CAMRY, CATALOG, None, UPKEEP, AS_OF_MS).service
    assert service.overdue and not service.due_soon
    assert service.due_date == date(2024, 1, 10)  # delivery + 12 months
    assert service.due_odometer_m == 16_093_000
    # It fell due when the odometer passed 16,093 km, before the 12 months: between delivery
    # (0 km) and the visit (20,000 km 416 days later), 334.7 days after delivery.
    assert (service.binds, service.due_p50) == ("distance", date(2023, 12, 10))
    # Overdue: it fell due when the odometer passed 16,093 km, about 2023-12-05 at 45 km/day
    # back from 20,000 km; owners with no history come 0-60 days late (the prior), all before
    # today, so the visit is expected now, at 20,000 km. The following service comes after
    # 16,093 km (at 45 km/day, 12 months would be 16,436 km): 357 days on, at 36,093 km.
    assert service.forecast_odometer_m == 20_000_000
    lines = [(x.kind, x.code, x.low, x.expected, x.high, x.covered) for x in service.bill.lines]
    assert lines == [
        ("scheduled", None, 163.02, 202.80, 331.50, False),  # $209 / $260 / $425 x 0.78
        ("wear", "wiper_blades", 19.50, 35.10, 62.40, False),  # 12 months: 2024-01-10
        ("wear", "cabin_air_filter", 23.40, 46.80, 78.00, False),  # 32,000 km
        ("wear", "engine_air_filter", 19.50, 39.00, 70.20, False),  # 24,000 km
        ("repair", "P0420", 0.0, 0.0, 0.0, True),  # basic warranty: to 2026-01-10, 57,936 km
        ("repair", "P0457", 0.0, 19.50, 31.20, False),  # coverage none: $0 / $25 / $40
    ]
    # Chances (no bracket: the factor is lognormal(0, 0.25)): the wipers will have used 2.1
    # lives by the following service (sure); the cabin filter 36,093 / 32,000 = 1.128 of its
    # life, P(factor <= 1.128) = Phi(ln 1.128 / 0.25) = 0.68; the engine filter 1.504: 0.95.
    # The invoice: 257.40 sure, + 46.80 (0.68) + 39.00 (0.95): 343.20 with probability 0.65,
    # 296.40 with 0.30, 304.20 with 0.03, 257.40 with 0.02; 343.20 is the best bill. Low and
    # high: the 10 % and 90 % points (296.40 and 343.20) times exp(-/+1.2816 x 0.10).
    assert (service.bill.currency, service.bill.low) == ("GBP", 260.75)
    assert (service.bill.expected, service.bill.high) == (343.20, 390.13)
    reasons = {x.code: x.reason for x in service.bill.lines}
    assert reasons["cabin_air_filter"] == (
        "Cabin (pollen) air filter due at about 32,000 km; 68% likely to be replaced at the visit"
    )
    assert reasons["engine_air_filter"].endswith("; 95% likely to be replaced at the visit")
    assert reasons["wiper_blades"] == "Wiper blades, front pair due by 2024-01-10 (12 months)"
    assert reasons["P0420"].endswith("covered by the basic warranty")
    assert reasons[None].startswith(
        "Scheduled service (every 16,093 km or 12 months) due about 2023-12-05; already later"
    )
    assert reasons[None].endswith(
        "visit expected from 2024-03-01 at about 20,000 km;"
        " at the catalog's prices (no invoice from this dealer yet)"
    )


def test_a_late_owner_s_bill_is_priced_later_and_finds_more_worn() -> None:
    serviced = replace(UPKEEP, last_service=VISIT)
    on_time = predict(CAMRY, CATALOG, None, serviced, AS_OF_MS).service
    late = replace(serviced, lateness=(100, 100, 100))
    later = predict(CAMRY, CATALOG, None, late, AS_OF_MS).service
    # the same due date: only the visit, and so the bill, move
    assert (later.due_p50, later.due_odometer_m) == (on_time.due_p50, on_time.due_odometer_m)
    assert "(100 days after it falls due, as at this owner's last 3 visits)" in (
        later.bill.lines[0].reason
    )
    assert later.bill.expected >= on_time.bill.expected
    assert later.bill.high >= on_time.bill.high


def test_a_line_is_covered_only_while_its_warranty_is_in_force() -> None:
    late = replace(CAMRY, delivery_date=date(2020, 1, 10), finance=None)
    service = predict(late, CATALOG, None, UPKEEP, AS_OF_MS).service
    repair = next(x for x in service.bill.lines if x.code == "P0420")
    assert not repair.covered and repair.expected == 1017.12  # $1,304 x 0.78


def test_equity_is_value_minus_payoff() -> None:
    equity = predict(CAMRY, CATALOG, None, UPKEEP, AS_OF_MS).equity
    assert equity is not None and equity.currency == "GBP"
    # 416 days old, 20,000 km: share = 0.82 * (1 - rate) ** (age - 1) * exp(-k * excess km).
    curve = CATALOG.depreciation.curve("sedan", "ice")
    age = 416 / 365.25
    share = (
        (1 - curve.year_one_drop)
        * (1 - curve.yearly_rate) ** (age - 1)
        * math.exp(-curve.distance_rate_per_km * (20_000 - curve.reference_annual_km * age))
    )
    value = 28_400 * 0.78 * share
    assert equity.value_expected == pytest.approx(value, abs=0.01)
    assert equity.value_low == pytest.approx(value * 0.93, abs=0.01)
    assert equity.value_high == pytest.approx(min(value * 1.23, 28_400 * 0.78), abs=0.01)
    # 0 % over 48 months: 13 payments of 20,000 / 48 made by 2024-03-01 (the 14th is due on
    # the 10th).
    assert equity.payoff == pytest.approx(20_000 - 13 * 20_000 / 48, abs=0.01)
    assert equity.equity_expected == pytest.approx(equity.value_expected - equity.payoff, abs=0.01)
    assert equity.equity_low == pytest.approx(equity.value_low - equity.payoff, abs=0.01)
    assert equity.equity_expected > 0 and equity.positive_from == date(2024, 3, 1)


def test_the_market_index_scales_the_value_not_the_payoff() -> None:
    base = predict(CAMRY, CATALOG, None, UPKEEP, AS_OF_MS).equity
    cooled = predict(replace(CAMRY, market_index=0.9), CATALOG, None, UPKEEP, AS_OF_MS).equity
    assert base is not None and cooled is not None
    for name in ("value_low", "value_expected", "value_high"):
        assert getattr(cooled, name) == pytest.approx(0.9 * getattr(base, name), abs=0.01)
    assert cooled.payoff == base.payoff
    assert cooled.equity_expected == pytest.approx(cooled.value_expected - cooled.payoff, abs=0.01)
    assert cooled.equity_low == pytest.approx(cooled.value_low - cooled.payoff, abs=0.01)


def test_equity_turns_positive_later_on_a_big_loan() -> None:
    big = replace(CAMRY, finance=FinanceTerms("loan", 30_000.0, 0.0, 48, date(2023, 1, 10)))
    equity = predict(big, CATALOG, None, UPKEEP, AS_OF_MS).equity
    assert equity is not None and equity.equity_expected < 0
    curve = CATALOG.depreciation.curve("sedan", "ice")
    expected = None
    for k in range(0, 40):  # month by month along 45 km/day, until the end of the term
        day = add_months(date(2024, 3, 1), k)
        if day > date(2027, 1, 10):
            break
        days = (day - date(2023, 1, 10)).days
        age = days / 365.25
        km = 20_000 + 45.0 * (day - date(2024, 3, 1)).days
        share = (
            0.82
            * (1 - curve.yearly_rate) ** max(age - 1, 0)
            * math.exp(-curve.distance_rate_per_km * (km - curve.reference_annual_km * age))
        )
        paid = min((day.year - 2023) * 12 + day.month - 1 - (day.day < 10), 48)
        if 28_400 * 0.78 * share - (30_000 - paid * 625) > 0:
            expected = day
            break
    assert expected is not None and equity.positive_from == expected


def test_warranty_has_basic_and_powertrain_for_a_combustion_car() -> None:
    warranty = predict(CAMRY, CATALOG, None, UPKEEP, AS_OF_MS).warranty
    assert [w.coverage for w in warranty] == ["basic", "powertrain"]
    basic = warranty[0]
    # 37,936 km left at 45 km/day is 843 days: later than the three years.
    assert (basic.expiry_p50, basic.binds, basic.expired) == (date(2026, 1, 10), "time", False)
    assert basic.km_remaining == pytest.approx(57_936.4 - 20_000, abs=0.1)
    assert basic.days_remaining == (date(2026, 1, 10) - date(2024, 3, 1)).days


def test_hybrids_and_evs_also_have_the_traction_battery() -> None:
    hybrid = replace(CAMRY, model="RAV4 Hybrid", powertrain="hybrid")
    coverages = [w.coverage for w in predict(hybrid, CATALOG, None, UPKEEP, AS_OF_MS).warranty]
    assert coverages == ["basic", "powertrain", "traction_battery"]


def test_a_model_missing_from_the_catalog_has_no_equity_but_the_rest() -> None:
    odd = replace(CAMRY, model="Prototype")
    prediction = predict(odd, CATALOG, None, UPKEEP, AS_OF_MS)
    assert prediction.equity is None
    assert prediction.service.bill.expected == 343.20


def test_a_wear_item_replaced_at_a_visit_counts_from_then() -> None:
    replaced = MappingProxyType({"cabin_air_filter": (AS_OF_MS, 20_000_000)})
    upkeep = replace(UPKEEP, wear_replaced=replaced)
    codes = [x.code for x in predict(CAMRY, CATALOG, None, upkeep, AS_OF_MS).service.bill.lines]
    assert "cabin_air_filter" not in codes and "engine_air_filter" in codes


def test_the_schedule_runs_from_the_last_service() -> None:
    upkeep = replace(UPKEEP, last_service=VISIT)
    service = predict(CAMRY, CATALOG, None, upkeep, AS_OF_MS).service
    assert not service.overdue
    assert service.due_date == date(2025, 3, 1)
    assert service.due_odometer_m == 36_093_000
    # 16,093 km at 45 km/day is 357.6 days, before 2025-03-01: the distance binds at P50.
    assert service.binds == "distance" and service.due_p50 == date(2025, 2, 21)


def test_unknown_codes_are_described_but_not_billed() -> None:
    upkeep = replace(UPKEEP, active_faults=("P1ABC",))
    prediction = predict(CAMRY, CATALOG, None, upkeep, AS_OF_MS)
    assert [f.code for f in prediction.faults] == ["P1ABC"]
    assert prediction.faults[0].severity == "unknown"
    assert all(x.kind != "repair" for x in prediction.service.bill.lines)


def test_a_contract_past_its_term_is_settled() -> None:
    ended = FinanceTerms("pcp", 20_000.0, 5.0, 12, date(2023, 1, 10), balloon=9_000.0)
    equity = predict(replace(CAMRY, finance=ended), CATALOG, None, UPKEEP, AS_OF_MS).equity
    assert equity is not None and equity.payoff == 0.0
    assert equity.equity_expected == equity.value_expected
    assert equity.positive_from == date(2024, 3, 1)
    running = replace(ended, term_months=36)  # the balloon is owed until 2026-01-10
    owing = predict(replace(CAMRY, finance=running), CATALOG, None, UPKEEP, AS_OF_MS).equity
    assert owing is not None and owing.payoff > 9_000.0


@pytest.mark.parametrize("model", CATALOG.models, ids=lambda m: f"{m.brand} {m.model}")
def test_today_s_value_in_scalar_arithmetic_is_the_path_s_value(model: ModelSpec) -> None:
    """Every evaluation values the car today in scalar arithmetic (:func:`value_on`); the path
    to positive equity is valued in arrays (:func:`values`): one day gives the same value."""
    car = replace(CAMRY, brand=model.brand, model=model.model, powertrain=model.powertrain)
    pricing = pricing_for(car, CATALOG)
    for days, km in ((0, 0.0), (200, 9_000.0), (1_500, 140_000.0), (4_000, 20_000.0)):
        day = car.delivery_date + timedelta(days=days)
        one = value_on(car, model, CATALOG, pricing, day, km)
        path = values(car, model, CATALOG, pricing, [day], lambda _, km=km: km)
        assert one == pytest.approx(tuple(float(x[0]) for x in path), rel=1e-12)
