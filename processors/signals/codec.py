"""Avro of ``vehicle.signals`` (``schemas/vehicle_signal.avsc``): :class:`SignalCodec`.

Signals are few (material changes only), so fastavro writes them from dictionaries built here
field by field from the typed views; the JSON shapes of the store (``as_json``) carry a few more
fields than the Avro records (e.g. a bill line's paying coverage).
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import fastavro

from processors.signals.dates import ms_to_datetime
from processors.signals.records import FaultEvent, Payload, QualityNote, Signal
from processors.signals.views import EquityView, ServiceView, UsageView, WarrantyView
from schemas.codec import CodecError, load_avro_schema


def _usage(v: UsageView) -> dict[str, Any]:
    return {
        "odometer_m": v.odometer_m,
        "km_per_day": v.km_per_day,
        "km_per_day_sd": v.km_per_day_sd,
        "history_days": v.history_days,
    }


def _warranty(v: WarrantyView) -> dict[str, Any]:
    return {
        "coverage": v.coverage,
        "expiry_p10": v.expiry_p10,
        "expiry_p50": v.expiry_p50,
        "expiry_p90": v.expiry_p90,
        "binds": v.binds,
        "days_remaining": v.days_remaining,
        "km_remaining": v.km_remaining,
        "expired": v.expired,
    }


def _service(v: ServiceView) -> dict[str, Any]:
    return {
        "due_p10": v.due_p10,
        "due_p50": v.due_p50,
        "due_p90": v.due_p90,
        "due_odometer_m": v.due_odometer_m,
        "binds": v.binds,
        "due_soon": v.due_soon,
        "overdue": v.overdue,
        "currency": v.bill.currency,
        "bill_low": v.bill.low,
        "bill_expected": v.bill.expected,
        "bill_high": v.bill.high,
        "items": [
            {
                "kind": line.kind,
                "code": line.code,
                "description": line.description,
                "low": line.low,
                "expected": line.expected,
                "high": line.high,
                "covered": line.covered,
                "reason": line.reason,
            }
            for line in v.bill.lines
        ],
    }


def _equity(v: EquityView) -> dict[str, Any]:
    positive: date | None = v.positive_from
    return {
        "currency": v.currency,
        "value_low": v.value_low,
        "value_expected": v.value_expected,
        "value_high": v.value_high,
        "payoff": v.payoff,
        "equity_low": v.equity_low,
        "equity_expected": v.equity_expected,
        "equity_high": v.equity_high,
        "positive_from": positive,
    }


def _fault(e: FaultEvent) -> dict[str, Any]:
    f = e.fault
    return {
        "code": f.code,
        "event": e.event,
        "description": f.description,
        "severity": f.severity,
        "repair": f.repair,
        "currency": f.currency,
        "cost_low": f.cost_low,
        "cost_expected": f.cost_expected,
        "cost_high": f.cost_high,
        "coverage": f.coverage,
    }


def _quality(q: QualityNote) -> dict[str, Any]:
    return {"reason": q.reason, "detail": q.detail}


def _payload_field(payload: Payload) -> tuple[str, dict[str, Any]]:
    if isinstance(payload, UsageView):
        return "usage", _usage(payload)
    if isinstance(payload, WarrantyView):
        return "warranty", _warranty(payload)
    if isinstance(payload, ServiceView):
        return "service", _service(payload)
    if isinstance(payload, EquityView):
        return "equity", _equity(payload)
    if isinstance(payload, FaultEvent):
        return "fault", _fault(payload)
    return "quality", _quality(payload)


class SignalCodec:
    """Schemaless Avro of :class:`Signal`; decoding gives fastavro's dictionary (for readers
    and tests). :class:`CodecError` for bytes or values that do not fit the schema."""

    def __init__(self) -> None:
        self._schema = load_avro_schema("vehicle_signal")

    def record(self, signal: Signal) -> dict[str, Any]:
        """The Avro record of ``signal`` as a dictionary."""
        name, body = _payload_field(signal.payload)
        if name != signal.kind:
            raise ValueError(f"signal {signal.signal_id} of kind {signal.kind} carries {name}")
        record: dict[str, Any] = {
            "signal_id": signal.signal_id,
            "vin": signal.vin,
            "dealer_id": signal.dealer_id,
            "kind": signal.kind,
            "as_of_ts": ms_to_datetime(signal.as_of_ms),
            "explanation": signal.explanation,
        }
        for kind in ("usage", "warranty", "service", "equity", "fault", "quality"):
            record[kind] = body if kind == name else None
        return record

    def encode(self, signal: Signal) -> bytes:
        record = self.record(signal)
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, self._schema, record)
        except (ValueError, TypeError, AttributeError) as exc:
            raise CodecError(f"cannot encode signal {signal.signal_id}: {exc}") from exc
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        try:
            rec: Any = fastavro.schemaless_reader(io.BytesIO(data), self._schema, None)
        except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise CodecError(f"not a VehicleSignal: {exc!r}") from exc
        if not isinstance(rec, dict):
            raise CodecError("not a VehicleSignal record")
        return rec
