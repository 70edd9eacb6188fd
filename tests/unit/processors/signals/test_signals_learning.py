"""What a vehicle's own dealer history teaches: the dealer's price level, each part's life, and
the list price its value depreciates from."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from signals_kit import FACTS, VIN

from processors.signals.bill import learn_from_visit
from processors.signals.calibration import PRIOR_LINES, PriceLevel, observe
from processors.signals.equity import vehicle_equity
from processors.signals.memory import VehicleMemory
from processors.signals.pricing import pricing_for
from processors.signals.upkeep import Upkeep
from processors.signals.vehicle import VehicleRun
from processors.signals.wearlife import Bracket
from reference.catalog import default_catalog
from schemas.codec import readings_of
from schemas.records import Sample, TelemetryFrame
from schemas.services import ServiceItem, ServiceVisitRecord

CATALOG = default_catalog()
SCHEDULED_USD = CATALOG.service["ice"].price.expected
WIPERS = next(w for w in CATALOG.wear if w.item == "wiper_blades")


def visit(
    n: int, ratio: float, *, day: date, km: float, wear: tuple[str, ...] = (), dealer: str = ""
) -> ServiceVisitRecord:
    items = [ServiceItem("scheduled", None, "scheduled service", round(SCHEDULED_USD * ratio, 2))]
    for item in wear:
        spec = next(w for w in CATALOG.wear if w.item == item)
        items.append(ServiceItem("wear", item, spec.description, round(spec.price.expected, 2)))
    return ServiceVisitRecord(
        visit_id=f"v{n}",
        vin=VIN,
        visit_ts=datetime(day.year, day.month, day.day, 9, tzinfo=UTC),
        odometer_m=round(km * 1000),
        dealer_id=dealer or FACTS.dealer_id,
        currency="USD",
        items=tuple(items),
    )


# --- the dealer's price level -----------------------------------------------------------------


@given(st.floats(0.5, 2.0), st.integers(1, 30))
def test_a_dealer_s_consistent_prices_pull_the_level_toward_them(ratio: float, lines: int) -> None:
    level = PriceLevel()
    for n in range(lines):
        level = observe(level, visit(n, ratio, day=date(2025, 1, 1), km=1.0), CATALOG, "ice", 1.0)
    assert level.lines == lines
    expected = math.exp(math.log(ratio) * lines / (lines + PRIOR_LINES))
    assert level.factor == pytest.approx(expected, rel=1e-3)
    # between the catalog and the dealer's own ratio, closer to the dealer the more it shows
    assert min(1.0, ratio) - 1e-3 <= level.factor <= max(1.0, ratio) + 1e-3


def test_covered_unknown_and_absurd_lines_teach_nothing() -> None:
    items = (
        ServiceItem("scheduled", None, "scheduled service", 0.0),  # warranty paid
        ServiceItem("other", None, "bulb replacement", 55.0),  # the catalog has no price
        ServiceItem("repair", "P9999", "mystery", 120.0),  # not a catalogued code
        ServiceItem("wear", "wiper_blades", "wipers", WIPERS.price.expected * 40),  # a typo
    )
    v = replace(visit(0, 1.0, day=date(2025, 1, 1), km=1.0), items=items)
    assert observe(PriceLevel(), v, CATALOG, "ice", 1.0) == PriceLevel()


def test_only_the_vehicle_s_own_dealer_sets_its_level_and_the_bill_follows_it() -> None:
    run = VehicleRun(VIN, None, FACTS, CATALOG)
    at = datetime(2026, 3, 3, 9, tzinfo=UTC)  # telemetry past the visits: each applied at once
    run.apply_frame(
        readings_of(TelemetryFrame(VIN, "boot", 0, at, "bridge", (Sample(0, at, 30_100_000),)))
    )
    run.apply_visit(visit(1, 1.3, day=date(2025, 3, 1), km=15_000, dealer="elsewhere"))
    assert run.memory.prices == PriceLevel()
    run.apply_visit(visit(2, 1.3, day=date(2025, 3, 2), km=15_010))
    run.apply_visit(visit(3, 1.3, day=date(2026, 3, 2), km=30_000))
    factor = run.memory.prices.factor
    assert 1.0 < factor < 1.3
    assert run.prediction is not None
    scheduled = run.prediction.service.bill.lines[0]
    catalog_price = pricing_for(FACTS, CATALOG).price(CATALOG.service["ice"].price).expected
    assert scheduled.expected == pytest.approx(catalog_price * factor, abs=0.01)
    back = VehicleMemory.from_bytes(run.memory.to_bytes())
    assert back.prices == run.memory.prices
    assert back.upkeep().price_factor == pytest.approx(factor)


# --- each part's life ---------------------------------------------------------------------------


@given(
    st.floats(0.05, 5.0),
    st.floats(0.05, 5.0),
    st.lists(st.tuples(st.booleans(), st.floats(0.05, 5.0)), max_size=8),
)
def test_the_life_factor_stays_inside_a_consistent_bracket(
    a: float, b: float, steps: list[tuple[bool, float]]
) -> None:
    low, high = sorted((a, b))
    assert low <= Bracket(low, high).factor() <= high
    bracket = Bracket()
    assert bracket.factor() == 1.0
    for replaced, used in steps:
        bracket = bracket.replaced_at(used) if replaced else bracket.kept_at(used)
        assert bracket.low < bracket.high  # a contradiction drops the older bound
        assert bracket.low <= bracket.factor() <= bracket.high


@given(st.floats(0.1, 3.0), st.floats(0.1, 3.0))
def test_more_life_observed_never_means_a_shorter_estimate(a: float, b: float) -> None:
    low, more = sorted((a, b))
    assert Bracket(low).factor() <= Bracket(more).factor() + 1e-12
    assert Bracket(high=low).factor() <= Bracket(high=more).factor() + 1e-12


def test_a_kept_part_lasts_longer_and_a_replaced_one_shorter_than_the_catalog_says() -> None:
    upkeep = Upkeep()
    day, km = date(2025, 9, 1), 25_000.0  # 18 months after delivery
    kept = learn_from_visit({}, FACTS, CATALOG, upkeep, day, km, set())
    replaced = learn_from_visit({}, FACTS, CATALOG, upkeep, day, km, {"wiper_blades"})
    # by the following service the wipers would have used more than their catalog life
    assert kept["wiper_blades"].factor() > 1.0 > replaced["wiper_blades"].factor()
    memory = VehicleMemory(wear_life=tuple(sorted(kept.items())))
    back = VehicleMemory.from_bytes(memory.to_bytes())
    assert back.wear_life == memory.wear_life
    assert back.upkeep().wear_factors["wiper_blades"] == pytest.approx(
        kept["wiper_blades"].factor()
    )


# --- the value -----------------------------------------------------------------------------------


def test_value_depreciates_from_the_registry_s_list_price_when_it_has_one() -> None:
    model = CATALOG.model_named(FACTS.model_name)
    assert model is not None
    pricing = pricing_for(FACTS, CATALOG)
    today = date(2026, 3, 1)
    base = vehicle_equity(FACTS, model, CATALOG, pricing, today, lambda _: 40_000.0)
    built = replace(FACTS, list_price=model.msrp_usd * pricing.per_usd * 1.2)
    dearer = vehicle_equity(built, model, CATALOG, pricing, today, lambda _: 40_000.0)
    assert dearer.value_expected == pytest.approx(base.value_expected * 1.2, abs=0.02)
    assert dearer.payoff == base.payoff
