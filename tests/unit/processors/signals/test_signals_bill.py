"""The bill at the visit: the owner's lateness, the visit's scenarios, each part's chance, the
invoice's distribution and the bill chosen from it."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from signals_kit import FACTS, VIN

from processors.signals import bill as bill_module
from processors.signals.bill import (
    CANDIDATES,
    PLAUSIBLE,
    PRUNE,
    TOLERANCE,
    best_total,
    bill_distribution,
    by_total,
    prices_reason,
    quantiles,
)
from processors.signals.lateness import (
    LATENESS_KEPT,
    MERGE_DAYS,
    PRIOR_LATENESS_DAYS,
    lateness_days,
    lateness_scenarios,
    likely_visits,
)
from processors.signals.memory import VehicleMemory
from processors.signals.vehicle import VehicleRun
from processors.signals.wearlife import LIFE_SIGMA, Bracket
from reference.catalog import default_catalog
from schemas.codec import readings_of
from schemas.records import Sample, TelemetryFrame
from schemas.services import ServiceItem, ServiceVisitRecord

CATALOG = default_catalog()
SINCE = date(2025, 1, 15)

# --- lateness ------------------------------------------------------------------------------------


def test_lateness_counts_from_the_first_limit_reached() -> None:
    # 12 months or 16,093 km: by time, due 2026-01-15
    assert lateness_days(SINCE, 10_000.0, 12, 16_093.0, date(2026, 2, 4), 22_000.0) == 20
    assert lateness_days(SINCE, 10_000.0, 12, 16_093.0, date(2026, 1, 5), 21_000.0) == -10
    # 24,000 km in 300 days: 80 km/day passes 16,093 km on day 201, 2025-08-04; 99 days late
    assert lateness_days(SINCE, 10_000.0, 12, 16_093.0, date(2025, 11, 11), 34_000.0) == 99


def test_a_visit_after_a_second_interval_says_nothing_of_lateness() -> None:
    # a service elsewhere most likely came in between, by time or by distance
    assert lateness_days(SINCE, 10_000.0, 12, 16_093.0, date(2027, 1, 20), 30_000.0) is None
    assert lateness_days(SINCE, 10_000.0, 12, 16_093.0, date(2025, 12, 1), 43_000.0) is None
    assert lateness_days(SINCE, 10_000.0, 12, 16_093.0, SINCE, 10_000.0) is None


def scheduled_visit(n: int, day: date, km: float) -> ServiceVisitRecord:
    return ServiceVisitRecord(
        f"v{n}",
        VIN,
        datetime(day.year, day.month, day.day, 9, tzinfo=UTC),
        round(km * 1000),
        FACTS.dealer_id,
        "USD",
        (ServiceItem("scheduled", None, "scheduled service", 260.0),),
    )


def test_each_full_service_adds_its_lateness_to_the_memory() -> None:
    run = VehicleRun(VIN, None, FACTS, CATALOG)
    at = datetime(2031, 1, 1, tzinfo=UTC)  # telemetry past the visits: each applied at once
    run.apply_frame(
        readings_of(TelemetryFrame(VIN, "boot", 0, at, "bridge", (Sample(0, at, 90_000_000),)))
    )
    # delivered 2024-03-01; every 12 months (the distance never binds at 30 km a day)
    days = [date(2025, 3, 11), date(2026, 4, 20), date(2027, 4, 20), date(2028, 5, 5)]
    days.append(date(2029, 5, 1))
    for n, day in enumerate(days):
        run.apply_visit(scheduled_visit(n, day, 12.0 + 30.0 * (day - FACTS.delivery_date).days))
    # 10, 40, 0, 15 and -4 days after each fell due (12 months after the one before); the
    # last four are kept
    assert run.memory.lateness == (40, 0, 15, -4) and LATENESS_KEPT == 4
    back = VehicleMemory.from_bytes(run.memory.to_bytes())
    assert back.lateness == run.memory.lateness
    assert back.upkeep().lateness == run.memory.lateness


def test_without_history_the_prior_speaks_and_with_it_it_fades() -> None:
    prior = lateness_scenarios(())
    assert [late for late, _ in prior] == list(PRIOR_LATENESS_DAYS)
    three = dict(lateness_scenarios((40, 40, 40)))
    assert three[40] == pytest.approx(0.75)  # one pseudo-visit of prior against three


@given(
    st.lists(st.integers(-30, 200), max_size=LATENESS_KEPT),
    st.integers(-100, 100),
    st.floats(0.0, 300.0),
)
def test_visit_scenarios_are_weighted_ordered_and_never_in_the_past(
    history: list[int], due_in_days: int, km_per_day: float
) -> None:
    today = date(2026, 6, 1)
    due = today + timedelta(days=due_in_days)
    v = likely_visits(due, 50_000.0, today, 49_000.0, km_per_day, tuple(history))
    assert sum(v.weights) == pytest.approx(1.0)
    assert all(w > 0 for w in v.weights)
    assert all(d >= today for d in v.days)
    assert v.ordinals == tuple(d.toordinal() for d in v.days)
    assert all(b > a for a, b in pairwise(v.days))  # distinct days, in order
    assert all(b >= a - 1e-6 for a, b in pairwise(v.kms)) and min(v.kms) >= 49_000.0 - 1e-6
    assert len(v.days) <= len(history) + len(PRIOR_LATENESS_DAYS)
    half = sum(v.weights[: v.likely + 1])
    assert half >= 0.5 - 1e-9 and half - v.weights[v.likely] < 0.5 + 1e-9


def test_close_scenarios_merge_at_their_weighted_mean() -> None:
    v = likely_visits(date(2026, 7, 1), 50_000.0, date(2026, 6, 1), 45_000.0, 40.0, (100,) * 3)
    # prior 0, 7, 14 merge (7 days on); 30; 60; the owner's own 100 days
    assert [(d - date(2026, 7, 1)).days for d in v.days] == [7, 30, 60, 100]
    assert v.weights[-1] == pytest.approx(0.75) and v.days[v.likely] == date(2026, 10, 9)
    assert v.kms[v.likely] == pytest.approx(54_000.0) and v.lateness == 100
    assert MERGE_DAYS >= 14


# --- each part's chance ------------------------------------------------------------------------


@given(st.floats(0.05, 5.0), st.floats(0.05, 5.0), st.floats(0.01, 8.0), st.floats(0.01, 8.0))
def test_a_part_s_chance_grows_with_its_use_from_0_below_to_1_above_its_bracket(
    a: float, b: float, u: float, v: float
) -> None:
    bracket = Bracket(*sorted((a, b))) if a != b else Bracket(a)
    lo, hi = sorted((u, v))
    assert 0.0 <= bracket.chance(lo) <= bracket.chance(hi) <= 1.0
    assert bracket.chance(bracket.low) == 0.0
    if math.isfinite(bracket.high):
        assert bracket.chance(bracket.high) == 1.0


def test_a_part_s_chance_is_even_at_its_estimate() -> None:
    assert Bracket().chance(1.0) == pytest.approx(0.5)
    assert Bracket().chance(1.2) == pytest.approx(
        0.5 * math.erfc(-math.log(1.2) / LIFE_SIGMA / 2**0.5)
    )
    for bracket in (Bracket(0.8, 1.3), Bracket(high=0.9), Bracket(1.4), Bracket(2.5)):
        assert bracket.chance(bracket.estimate) == pytest.approx(0.5, abs=1e-6)


# --- the invoice's distribution and the bill ----------------------------------------------------


@given(
    st.floats(100.0, 500.0),
    st.lists(st.tuples(st.floats(0.0, 900.0), st.floats(0.0, 1.0)), max_size=7),
)
def test_the_distribution_adds_up(base: float, lines: list[tuple[float, float]]) -> None:
    amounts, chances = [a for a, _ in lines], [p for _, p in lines]
    atoms = bill_distribution(base, amounts, chances)
    assert sum(m for _, m, _ in atoms) == pytest.approx(1.0, abs=PRUNE * 2 ** len(lines))
    for total, mass, subset in atoms:
        assert mass >= PRUNE
        chosen = [a for i, a in enumerate(amounts) if subset >> i & 1]
        assert total == pytest.approx(base + sum(chosen))
    totals, mass = by_total(atoms)
    assert totals == sorted(totals) and len(set(totals)) == len(totals)
    low, high = quantiles(totals, mass, (0.1, 0.9))
    assert low <= high
    best = best_total(totals, mass)
    assert best in totals
    assert mass[totals.index(best)] >= PLAUSIBLE * max(mass) - 1e-12


def _best_total_in_arrays(totals: list[float], mass: list[float]) -> float:
    """:func:`best_total` as it was written with numpy (what the scalar loops replace)."""
    if len(totals) == 1:
        return totals[0]
    log_grid, capped = np.asarray(bill_module._LOG_R), np.asarray(bill_module._CAPPED)
    t, m = np.maximum(np.asarray(totals), 0.01), np.asarray(mass)
    top = np.argsort(-m, kind="stable")[:CANDIDATES]
    top = top[m[top] >= PLAUSIBLE * m[top[0]]]
    log_r = np.log(t[top][:, None] / t[None, :])
    error = np.interp(log_r, log_grid, capped, left=TOLERANCE, right=TOLERANCE)
    return totals[int(top[int(np.argmin(error @ m))])]


def _expected_error(best: float, totals: list[float], mass: list[float]) -> float:
    t = [max(x, 0.01) for x in totals]
    b = max(best, 0.01)
    return sum(bill_module.capped_error(math.log(b / x)) * w for x, w in zip(t, mass, strict=True))


@given(
    st.floats(0.0, 500.0),
    st.lists(st.tuples(st.floats(0.0, 900.0), st.floats(0.0, 1.0)), max_size=7),
)
def test_the_scalar_choice_is_the_array_choice(
    base: float, lines: list[tuple[float, float]]
) -> None:
    """The bill's total, chosen in scalar loops, is numpy's choice (or, where two totals'
    expected errors tie to rounding, one as good)."""
    totals, mass = by_total(bill_distribution(base, [a for a, _ in lines], [p for _, p in lines]))
    mine, theirs = best_total(totals, mass), _best_total_in_arrays(totals, mass)
    if mine != theirs:
        assert _expected_error(mine, totals, mass) == pytest.approx(
            _expected_error(theirs, totals, mass), rel=1e-9, abs=1e-12
        )


@given(st.floats(-1.0, 1.0))
def test_the_error_table_is_read_as_numpy_interpolates_it(log_r: float) -> None:
    grid, capped = np.asarray(bill_module._LOG_R), np.asarray(bill_module._CAPPED)
    expected = float(np.interp(log_r, grid, capped, left=TOLERANCE, right=TOLERANCE))
    assert bill_module.capped_error(log_r) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_the_bill_is_the_set_most_often_near_the_invoice() -> None:
    # a 300 service; tyres at 750 are 45 % likely: without them the bill is right more often
    totals, mass = by_total(bill_distribution(300.0, [750.0], [0.45]))
    assert best_total(totals, mass) == 300.0
    totals, mass = by_total(bill_distribution(300.0, [750.0], [0.55]))
    assert best_total(totals, mass) == 1050.0
    # a 45 filter 60 % likely on a 300 service: either bill is within the tolerance of either
    # invoice, but with it the expected error is smaller
    totals, mass = by_total(bill_distribution(300.0, [45.0], [0.6]))
    assert best_total(totals, mass) == 345.0
    assert TOLERANCE > 45.0 / 345.0
    # a cheap part 90 % likely and a dear one 30 %: the cheap one only
    totals, mass = by_total(bill_distribution(300.0, [60.0, 700.0], [0.9, 0.3]))
    assert best_total(totals, mass) == 360.0


def test_one_total_has_the_price_spread_s_quantiles() -> None:
    low, high = quantiles([400.0], [1.0], (0.1, 0.9))
    assert low == pytest.approx(400.0 * math.exp(-1.2815516 * 0.10))
    assert high == pytest.approx(400.0 * math.exp(1.2815516 * 0.10))


def test_the_bill_says_whose_prices_it_is_at() -> None:
    from processors.signals.upkeep import Upkeep

    assert prices_reason(Upkeep()) == "at the catalog's prices (no invoice from this dealer yet)"
    own = Upkeep(price_factor=0.93, price_lines=6)
    assert prices_reason(own) == (
        "at this dealer's prices, 7 % below the catalog's (from 6 lines of this car's invoices)"
    )
    pooled = Upkeep(price_factor=1.121, price_lines=1_204, price_pooled=True)
    assert prices_reason(pooled) == (
        "at this dealer's prices, 12 % above the catalog's (from 1,204 lines of its customers'"
        " invoices)"
    )
    level = Upkeep(price_factor=1.004, price_lines=40, price_pooled=True)
    assert "level with the catalog's" in prices_reason(level)
