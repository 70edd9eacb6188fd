"""The journey processor's benchmark input: ``vehicle.signals`` records of a registered fleet,
and the fleet's consent.

Each vehicle is evaluated once a day, as the signals processor does at least, for as many days
as the record count asks: a warranty coverage counting down to its end, a service falling due
and done every 100 days (some bills big), equity every third day (positive for some owners,
turning), a fault raised and cleared now and then. So the gates open, stage and close, alerts
compete for the contact budget and expire, and time-driven evaluations (ticks) happen between
a vehicle's signals, as in production. The last day ends now. Pure; no I/O.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fastavro

from journeygate.bench.payloads import Fleet
from processors.signals.runner import HEADER_SIGNAL_ID
from schemas.codec import load_avro_schema

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]
SIGNALS_PER_DAY = 2 + 1 / 3 + 1 / 20
"""Mean signals per vehicle and day: warranty, service, equity every third day, a fault code
raised or cleared on two days in forty."""
PURPOSES = ("service_reminders", "marketing_offers")


def dealer_of(index: int) -> str:
    """The dealer of vehicle ``index`` (as :func:`journeygate.bench.lab.fleet_row` registers)."""
    return f"D{index % 50:03d}"


def days_for(fleet: Fleet, count: int) -> int:
    """Days of daily evaluations that give about ``count`` signals for the fleet."""
    return max(1, round(count / (fleet.size * SIGNALS_PER_DAY)))


CONSENT_GIVEN = datetime(2020, 1, 1, tzinfo=UTC)


def consent_rows(fleet: Fleet, given: datetime = CONSENT_GIVEN) -> Iterator[tuple[object, ...]]:
    """``consent_changes`` rows: service reminders for 9 owners in 10, marketing for 1 in 2."""
    for i in range(fleet.size):
        vin = fleet.vin(i)
        yield vin, PURPOSES[0], i % 10 != 0, given, "bench"
        yield vin, PURPOSES[1], i % 2 == 0, given, "bench"


def signal_records(fleet: Fleet, count: int, now: datetime | None = None) -> Iterator[Record]:
    """The fleet's signals in event-time order (day by day, vehicle by vehicle), keyed by VIN."""
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    days = days_for(fleet, count)
    start = end - timedelta(days=days)
    writer = _Writer()
    for day in range(days):
        base = start + timedelta(days=day)
        for i in range(fleet.size):
            vin, dealer = fleet.vin(i), dealer_of(i)
            at = base + timedelta(seconds=i * 86_400 // fleet.size // 8)
            for kind, subject, body in _evaluation(i, day, start, at):
                yield writer.record(vin, dealer, kind, subject, at, body)


def _evaluation(i: int, day: int, start: datetime, at: datetime) -> list[tuple[str, str, Any]]:
    expiry = (start + timedelta(days=40 + i % 200)).date()
    km_left = 8_000.0 - 60.0 * day * (1 + i % 3)
    last_visit = day - (day + 7 * i) % 100
    due = (start + timedelta(days=last_visit + 100)).date()
    out: list[tuple[str, str, Any]] = [
        ("warranty", "basic", warranty_body(expiry, at, km_left)),
        ("service", "", service_body(due, at, 300.0 + 40.0 * (i % 30))),
    ]
    if day % 3 == 0:
        equity = 2_000.0 * (1 + i % 4) * (1 if (day // (30 + i % 40)) % 2 else -0.2)
        out.append(("equity", "", equity_body(equity)))
    phase = (day + 5 * i) % 40
    if phase in (10, 18):
        out.append(("fault", "P0420", fault_body("raised" if phase == 10 else "cleared")))
    return out


class _Writer:
    def __init__(self) -> None:
        self._schema = load_avro_schema("vehicle_signal")
        self._none = {k: None for k in ("usage", "warranty", "service", "equity", "fault")}

    def record(
        self, vin: str, dealer: str, kind: str, subject: str, at: datetime, body: Any
    ) -> Record:
        ms = int(at.timestamp() * 1000)
        signal_id = f"{vin}:{kind}{':' + subject if subject else ''}:{ms}"
        rec = {
            "signal_id": signal_id,
            "vin": vin,
            "dealer_id": dealer,
            "kind": kind,
            "as_of_ts": at,
            "explanation": f"{kind} as forecast.",
            **self._none,
            "quality": None,
            kind: body,
        }
        out = io.BytesIO()
        fastavro.schemaless_writer(out, self._schema, rec)
        return vin.encode(), out.getvalue(), [(HEADER_SIGNAL_ID, signal_id.encode())]


def warranty_body(expiry: date, at: datetime, km_left: float) -> dict[str, Any]:
    days = (expiry - at.date()).days
    return {
        "coverage": "basic", "expiry_p10": expiry, "expiry_p50": expiry, "expiry_p90": expiry,
        "binds": "time", "days_remaining": days, "km_remaining": km_left, "expired": days < 0,
    }  # fmt: skip


def service_body(due: date, at: datetime, bill: float) -> dict[str, Any]:
    """A service forecast with its bill as the signals processor explains it: the scheduled
    service, a wear item due, and a repair for one bill in three (the bill's size picks it)."""
    days = (due - at.date()).days
    return {
        "due_p10": due, "due_p50": due, "due_p90": due, "due_odometer_m": 60_000_000,
        "binds": "time", "due_soon": days <= 30, "overdue": days < 0, "days_remaining": days,
        "km_remaining": 9_000.0, "currency": "USD", "bill_low": 0.8 * bill,
        "bill_expected": bill, "bill_high": 1.3 * bill, "items": bill_lines(bill),
    }  # fmt: skip


def _line(kind: str, code: str | None, what: str, amount: float, reason: str) -> dict[str, Any]:
    return {
        "kind": kind, "code": code, "description": what, "low": 0.8 * amount,
        "expected": amount, "high": 1.3 * amount, "covered": False, "reason": reason,
    }  # fmt: skip


def bill_lines(bill: float) -> list[dict[str, Any]]:
    """The lines of a bill of ``bill``: scheduled service and front brake pads, and a catalytic
    converter for one bill in three."""
    repair = round(bill) % 3 == 0
    share = 0.4 if repair else 0.7
    lines = [
        _line("scheduled", None, "60,000 km service", share * bill,
              "Due at 60,000 km or 48 months, whichever first: oil and filter, inspection."),
        _line("wear", "brake_pads_front", "Front brake pads", 0.3 * bill,
              "About 52,000 km on the current pads; they last about 55,000 km here."),
    ]  # fmt: skip
    if repair:
        lines.append(
            _line("repair", "P0420", "Catalytic converter", 0.3 * bill,
                  "Code P0420 (catalyst below threshold) active since the last visit.")
        )  # fmt: skip
    return lines


def equity_body(equity: float) -> dict[str, Any]:
    value = 20_000.0
    return {
        "currency": "USD", "value_low": value - 2000, "value_expected": value,
        "value_high": value + 2000, "payoff": value - equity, "equity_low": equity - 1500,
        "equity_expected": equity, "equity_high": equity + 1500, "positive_from": None,
    }  # fmt: skip


def fault_body(event: str) -> dict[str, Any]:
    return {
        "code": "P0420", "event": event, "description": "catalyst below threshold",
        "severity": "high", "repair": "catalytic converter", "currency": "USD",
        "cost_low": 900.0, "cost_expected": 1304.0, "cost_high": 2000.0, "coverage": "none",
    }  # fmt: skip
