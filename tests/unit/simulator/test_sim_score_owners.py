"""The alert score counts contacts per owner (all of an owner's vehicles together) and leaves out
of recall a vehicle whose owner's budget went to their other vehicles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from simulator.scoring.alerts import (
    AlertTruth,
    StoredAlert,
    _budget_spent_elsewhere,
    _contacts,
    _others_alerts,
    _Vehicle,
)

T0 = datetime(2026, 4, 1, tzinfo=UTC)
DAY = 86_400_000


def alert(vin: str, day: int) -> StoredAlert:
    return StoredAlert(
        f"{vin}:x:{day}", vin, "service_due", None, "service", T0 + timedelta(days=day)
    )


def fleet(owners: dict[str, str]) -> dict[str, _Vehicle]:
    return {vin: _Vehicle(vin, date(2024, 1, 1), owner_id=o) for vin, o in owners.items()}


def test_contacts_are_counted_across_an_owners_vehicles() -> None:
    cars = fleet({"A": "own-1", "B": "own-1", "C": "C"})
    by_vin = {"A": [alert("A", 0), alert("A", 10)], "B": [alert("B", 20)], "C": [alert("C", 0)]}
    truth = AlertTruth(T0, T0 + timedelta(days=60), 1.0, cars)
    c = _contacts(cars, by_vin, truth)
    assert c["max_in_any_window"] == 3 and c["owners_over_budget"] == 1
    assert c["mean_per_owner_per_month"] == round(4 / 2 / 2, 4)  # two owners, two months


def test_a_miss_is_left_out_when_the_owners_other_vehicles_took_the_budget() -> None:
    cars = fleet({"A": "own-1", "B": "own-1", "C": "C"})
    others = _others_alerts(cars, {"A": [alert("A", 0), alert("A", 10)], "C": [alert("C", 1)]})
    assert set(others) == {"A", "B"} and others["A"] == []
    opened = int((T0 + timedelta(days=5)).timestamp() * 1000)
    assert _budget_spent_elsewhere(others["B"], opened)
    assert not _budget_spent_elsewhere(others["B"], opened + 40 * DAY)
    assert not _budget_spent_elsewhere(others["A"], opened)
