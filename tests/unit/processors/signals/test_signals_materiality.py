"""Materiality: what changed enough to be published, and what is remembered once it is."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from processors.signals.materiality import Published, material_changes
from processors.signals.views import (
    Bill,
    EquityView,
    Prediction,
    ServiceView,
    UsageView,
    WarrantyView,
)

DAY_MS = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
USAGE = UsageView(40_000_000, 40.0, 2.0, 20.0, 300.0, 60)
BASIC = WarrantyView(
    "basic",
    date(2027, 1, 1),
    date(2027, 3, 1),
    date(2027, 5, 1),
    "distance",
    424,
    17_000.0,
    False,
    date(2028, 1, 1),
    57_936.4,
)
SERVICE = ServiceView(
    date(2026, 3, 1),
    date(2026, 4, 1),
    date(2026, 5, 1),
    date(2026, 6, 1),
    56_000_000,
    "distance",
    False,
    False,
    90,
    3_600.0,
    56_000_000,
    Bill("USD", 300.0, 400.0, 600.0, ()),
)
EQUITY = EquityView("USD", 18_000.0, 20_000.0, 22_000.0, 19_000.0, -1_000.0, 1_000.0, 3_000.0, None)
FIRST = Prediction(T0, USAGE, (BASIC,), SERVICE, EQUITY, ())


def published_after_first() -> Published:
    return material_changes(FIRST, Published()).published


def later(days: int = 1, **changes: object) -> Prediction:
    return replace(FIRST, as_of_ms=T0 + days * DAY_MS, **changes)  # type: ignore[arg-type]


def test_the_first_prediction_publishes_every_kind() -> None:
    changes = material_changes(FIRST, Published())
    assert changes.usage == USAGE and changes.warranty == (BASIC,)
    assert changes.service == SERVICE and changes.equity == EQUITY
    assert changes.count == 4


def test_the_same_prediction_later_publishes_nothing() -> None:
    changes = material_changes(later(), published_after_first())
    assert changes.count == 0
    assert changes.published == published_after_first()


def test_a_p50_date_moving_three_days_is_material_two_is_not() -> None:
    pub = published_after_first()
    two = replace(SERVICE, due_p50=SERVICE.due_p50 + timedelta(days=2))
    three = replace(SERVICE, due_p50=SERVICE.due_p50 - timedelta(days=3))
    assert material_changes(later(service=two), pub).service is None
    assert material_changes(later(service=three), pub).service == three
    moved = replace(BASIC, expiry_p50=BASIC.expiry_p50 + timedelta(days=3))
    assert material_changes(later(warranty=(moved,)), pub).warranty == (moved,)


def test_the_bill_moving_five_percent_is_material() -> None:
    pub = published_after_first()
    small = replace(SERVICE, bill=replace(SERVICE.bill, expected=419.0))
    big = replace(SERVICE, bill=replace(SERVICE.bill, expected=420.0))
    assert material_changes(later(service=small), pub).service is None
    assert material_changes(later(service=big), pub).service == big


def test_flags_flipping_are_material() -> None:
    pub = published_after_first()
    soon = replace(SERVICE, due_soon=True)
    overdue = replace(SERVICE, overdue=True)
    expired = replace(BASIC, expired=True)
    assert material_changes(later(service=soon), pub).service == soon
    assert material_changes(later(service=overdue), pub).service == overdue
    assert material_changes(later(warranty=(expired,)), pub).warranty == (expired,)


def test_equity_sign_and_size() -> None:
    pub = published_after_first()  # equity 1,000 on a 20,000 value: floor 2,000, so 5 % = 100
    negative = replace(EQUITY, equity_expected=-1.0)
    small = replace(EQUITY, equity_expected=1_099.0)
    big = replace(EQUITY, equity_expected=1_100.0)
    assert material_changes(later(equity=negative), pub).equity == negative
    assert material_changes(later(equity=small), pub).equity is None
    assert material_changes(later(equity=big), pub).equity == big


def test_usage_moving_ten_percent_is_material() -> None:
    pub = published_after_first()
    assert material_changes(later(usage=replace(USAGE, km_per_day=43.9)), pub).usage is None
    assert material_changes(later(usage=replace(USAGE, km_per_day=44.0)), pub).usage is not None


def test_a_change_at_the_instant_of_the_last_publication_waits() -> None:
    pub = published_after_first()
    moved = replace(SERVICE, overdue=True)
    same_instant = replace(FIRST, service=moved)
    deferred = material_changes(same_instant, pub)
    assert deferred.service is None and deferred.published == pub
    assert material_changes(later(service=moved), pub).service == moved


def test_what_is_published_is_remembered() -> None:
    pub = published_after_first()
    moved = replace(SERVICE, due_p50=SERVICE.due_p50 + timedelta(days=10))
    after = material_changes(later(service=moved), pub).published
    assert after.service is not None and after.service.as_of_ms == T0 + DAY_MS
    # 2 days from the new P50 is not material against it, though 12 from the first.
    again = replace(SERVICE, due_p50=SERVICE.due_p50 + timedelta(days=12))
    assert material_changes(later(2, service=again), after).service is None
