"""Inputs for the journey state machine's tests: signals, visits and consent changes as the
journey processor decodes them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from processors.journey.machine import VisitInput
from schemas.consent import KIND_SOLD, ConsentChange, consent_change
from schemas.signals import (
    EquityRecord,
    FaultRecord,
    ServiceRecord,
    SignalRecord,
    WarrantyRecord,
)

VIN = "1HGCM82633A004352"
DEALER = "dealer-7"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def _sig(kind: str, day: float, payload: object, subject: str = "") -> SignalRecord:
    ms = int(at(day).timestamp() * 1000)
    sid = f"{VIN}:{kind}{':' + subject if subject else ''}:{ms}"
    return SignalRecord(sid, VIN, DEALER, kind, ms, f"{kind} explained.", payload)  # type: ignore[arg-type]


def warranty(
    day: float, days_left: float, km_left: float = 9999.0, cov: str = "basic"
) -> SignalRecord:
    expiry = (at(day) + timedelta(days=days_left)).date()
    rec = WarrantyRecord(cov, expiry, "time", round(days_left), km_left, days_left < 0)
    return _sig("warranty", day, rec, cov)


def service(
    day: float,
    days_left: float,
    bill: float = 300.0,
    km_left: float = 9999.0,
    currency: str = "USD",
) -> SignalRecord:
    due: date = (at(day) + timedelta(days=days_left)).date()
    rec = ServiceRecord(
        due, 50_000_000, "time", days_left <= 30, days_left < 0, round(days_left), km_left,
        currency, bill * 0.8, bill, bill * 1.3, (),
    )  # fmt: skip
    return _sig("service", day, rec)


def equity(day: float, equity_amount: float, value: float = 20_000.0) -> SignalRecord:
    rec = EquityRecord("USD", value, value - equity_amount, equity_amount - 500, equity_amount,
                       equity_amount + 500, None)  # fmt: skip
    return _sig("equity", day, rec)


def fault(
    day: float, code: str = "P0420", event: str = "raised", severity: str = "high"
) -> SignalRecord:
    rec = FaultRecord(
        code, event, "catalyst", severity, "catalytic converter", "USD", 1304.0, "none"
    )
    return _sig("fault", day, rec, code)


def visit(day: float, n: int = 0) -> VisitInput:
    return VisitInput(f"INV-{n}", VIN, int(at(day).timestamp() * 1000), DEALER)


def consent(day: float, purpose: str, granted: bool) -> ConsentChange:
    return consent_change(VIN, purpose, granted, at(day), "test")


def sold(day: float) -> ConsentChange:
    return ConsentChange(VIN, KIND_SOLD, None, False, at(day), "test")


def granted_all(day: float = -400) -> list[ConsentChange]:
    return [consent(day, "service_reminders", True), consent(day, "marketing_offers", True)]
