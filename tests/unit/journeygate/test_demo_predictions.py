"""What the demo prints of a vehicle's next service."""

from __future__ import annotations

from journeygate.demo_predictions import service_cell

SERVICE = {
    "currency": "GBP",
    "due_p50": "2026-07-01",
    "overdue": False,
    "bill_expected": 412.4,
    "bill_low": 300.0,
    "bill_high": 655.5,
}


def test_a_service_ahead_shows_its_date_and_bill() -> None:
    assert service_cell(SERVICE) == "2026-07-01: 412 GBP (300 GBP-656 GBP)"


def test_an_overdue_service_says_since_when() -> None:
    late = {**SERVICE, "due_p50": "2026-02-20", "overdue": True}
    assert service_cell(late) == "overdue since 2026-02-20: 412 GBP (300 GBP-656 GBP)"
