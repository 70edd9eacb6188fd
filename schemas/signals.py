"""Avro of ``vehicle.signals`` (``schemas/vehicle_signal.avsc``): :class:`SignalCodec`, and the
typed records a reader decodes (:class:`SignalRecord`).

The signals processor writes signals, the journey processor reads them: the contract lives here,
below both. The writer's side takes any object shaped like the signals processor's ``Signal``
(:class:`SignalLike`) and its payload views (the ``*Like`` protocols), read field by field and
dispatched on ``kind``; this module imports no stage. A new vehicle publishes five or six signals
at once, so they are written by a writer compiled from the schema (:mod:`schemas.avro_write`,
fastavro's bytes in about half its time) and read by fastavro.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, cast

from schemas.avro_write import compile_writer
from schemas.codec import CodecError, load_avro_schema, read_avro

KINDS = ("usage", "warranty", "service", "equity", "fault", "quality")


class UsageLike(Protocol):
    @property
    def odometer_m(self) -> int: ...
    @property
    def km_per_day(self) -> float: ...
    @property
    def km_per_day_sd(self) -> float: ...
    @property
    def history_days(self) -> float: ...


class WarrantyLike(Protocol):
    @property
    def coverage(self) -> str: ...
    @property
    def expiry_p10(self) -> date: ...
    @property
    def expiry_p50(self) -> date: ...
    @property
    def expiry_p90(self) -> date: ...
    @property
    def binds(self) -> str: ...
    @property
    def days_remaining(self) -> int: ...
    @property
    def km_remaining(self) -> float: ...
    @property
    def expired(self) -> bool: ...


class BillLineLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def code(self) -> str | None: ...
    @property
    def description(self) -> str: ...
    @property
    def low(self) -> float: ...
    @property
    def expected(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def covered(self) -> bool: ...
    @property
    def reason(self) -> str: ...


class BillLike(Protocol):
    @property
    def currency(self) -> str: ...
    @property
    def low(self) -> float: ...
    @property
    def expected(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def lines(self) -> Sequence[BillLineLike]: ...


class ServiceLike(Protocol):
    @property
    def due_p10(self) -> date: ...
    @property
    def due_p50(self) -> date: ...
    @property
    def due_p90(self) -> date: ...
    @property
    def due_odometer_m(self) -> int: ...
    @property
    def binds(self) -> str: ...
    @property
    def due_soon(self) -> bool: ...
    @property
    def overdue(self) -> bool: ...
    @property
    def days_remaining(self) -> int: ...
    @property
    def km_remaining(self) -> float: ...
    @property
    def bill(self) -> BillLike: ...


class EquityLike(Protocol):
    @property
    def currency(self) -> str: ...
    @property
    def value_low(self) -> float: ...
    @property
    def value_expected(self) -> float: ...
    @property
    def value_high(self) -> float: ...
    @property
    def payoff(self) -> float: ...
    @property
    def equity_low(self) -> float: ...
    @property
    def equity_expected(self) -> float: ...
    @property
    def equity_high(self) -> float: ...
    @property
    def positive_from(self) -> date | None: ...


class FaultLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def repair(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def cost_low(self) -> float: ...
    @property
    def cost_expected(self) -> float: ...
    @property
    def cost_high(self) -> float: ...
    @property
    def coverage(self) -> str: ...


class FaultEventLike(Protocol):
    @property
    def event(self) -> str: ...
    @property
    def fault(self) -> FaultLike: ...


class QualityLike(Protocol):
    @property
    def reason(self) -> str: ...
    @property
    def detail(self) -> str: ...


class SignalLike(Protocol):
    """What the codec reads of a signal; ``payload`` is the view named by ``kind``."""

    @property
    def signal_id(self) -> str: ...
    @property
    def vin(self) -> str: ...
    @property
    def dealer_id(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def as_of_ms(self) -> int: ...
    @property
    def explanation(self) -> str: ...
    @property
    def payload(self) -> object: ...


def ms_to_datetime(ts_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ts_ms))


def _usage(v: UsageLike) -> dict[str, Any]:
    return {
        "odometer_m": v.odometer_m,
        "km_per_day": v.km_per_day,
        "km_per_day_sd": v.km_per_day_sd,
        "history_days": v.history_days,
    }


def _warranty(v: WarrantyLike) -> dict[str, Any]:
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


def _service(v: ServiceLike) -> dict[str, Any]:
    return {
        "due_p10": v.due_p10,
        "due_p50": v.due_p50,
        "due_p90": v.due_p90,
        "due_odometer_m": v.due_odometer_m,
        "binds": v.binds,
        "due_soon": v.due_soon,
        "overdue": v.overdue,
        "days_remaining": v.days_remaining,
        "km_remaining": v.km_remaining,
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


def _equity(v: EquityLike) -> dict[str, Any]:
    return {
        "currency": v.currency,
        "value_low": v.value_low,
        "value_expected": v.value_expected,
        "value_high": v.value_high,
        "payoff": v.payoff,
        "equity_low": v.equity_low,
        "equity_expected": v.equity_expected,
        "equity_high": v.equity_high,
        "positive_from": v.positive_from,
    }


def _fault(e: FaultEventLike) -> dict[str, Any]:
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


def _quality(q: QualityLike) -> dict[str, Any]:
    return {"reason": q.reason, "detail": q.detail}


def _body(kind: str, payload: object) -> dict[str, Any]:
    if kind == "usage":
        return _usage(cast(UsageLike, payload))
    if kind == "warranty":
        return _warranty(cast(WarrantyLike, payload))
    if kind == "service":
        return _service(cast(ServiceLike, payload))
    if kind == "equity":
        return _equity(cast(EquityLike, payload))
    if kind == "fault":
        return _fault(cast(FaultEventLike, payload))
    if kind == "quality":
        return _quality(cast(QualityLike, payload))
    raise ValueError(f"unknown signal kind {kind!r}")


# --- what a reader gets ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageRecord:
    odometer_m: int
    km_per_day: float


@dataclass(frozen=True, slots=True)
class WarrantyRecord:
    coverage: str
    expiry_p50: date
    binds: str
    days_remaining: int
    km_remaining: float
    expired: bool


@dataclass(frozen=True, slots=True)
class BillLineRecord:
    kind: str
    code: str | None
    description: str
    expected: float
    covered: bool


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    due_p50: date
    due_odometer_m: int
    binds: str
    due_soon: bool
    overdue: bool
    days_remaining: int
    km_remaining: float
    currency: str
    bill_low: float
    bill_expected: float
    bill_high: float
    items: tuple[BillLineRecord, ...]


@dataclass(frozen=True, slots=True)
class EquityRecord:
    currency: str
    value_expected: float
    payoff: float
    equity_low: float
    equity_expected: float
    equity_high: float
    positive_from: date | None


@dataclass(frozen=True, slots=True)
class FaultRecord:
    code: str
    event: str
    description: str
    severity: str
    repair: str
    currency: str
    cost_expected: float
    coverage: str


@dataclass(frozen=True, slots=True)
class QualityRecord:
    reason: str
    detail: str


PayloadRecord = (
    UsageRecord | WarrantyRecord | ServiceRecord | EquityRecord | FaultRecord | QualityRecord
)


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """One decoded ``VehicleSignal``; ``payload`` is the record named by ``kind``."""

    signal_id: str
    vin: str
    dealer_id: str | None
    kind: str
    as_of: datetime
    explanation: str
    payload: PayloadRecord


def _payload(kind: str, b: dict[str, Any]) -> PayloadRecord:
    if kind == "usage":
        return UsageRecord(b["odometer_m"], b["km_per_day"])
    if kind == "warranty":
        return WarrantyRecord(
            b["coverage"],
            b["expiry_p50"],
            b["binds"],
            b["days_remaining"],
            b["km_remaining"],
            b["expired"],
        )
    if kind == "service":
        return ServiceRecord(
            b["due_p50"],
            b["due_odometer_m"],
            b["binds"],
            b["due_soon"],
            b["overdue"],
            b["days_remaining"],
            b["km_remaining"],
            b["currency"],
            b["bill_low"],
            b["bill_expected"],
            b["bill_high"],
            tuple(
                BillLineRecord(i["kind"], i["code"], i["description"], i["expected"], i["covered"])
                for i in b["items"]
            ),
        )
    if kind == "equity":
        return EquityRecord(
            b["currency"],
            b["value_expected"],
            b["payoff"],
            b["equity_low"],
            b["equity_expected"],
            b["equity_high"],
            b["positive_from"],
        )
    if kind == "fault":
        return FaultRecord(
            b["code"],
            b["event"],
            b["description"],
            b["severity"],
            b["repair"],
            b["currency"],
            b["cost_expected"],
            b["coverage"],
        )
    return QualityRecord(b["reason"], b["detail"])


class SignalCodec:
    """Schemaless Avro of a signal. :meth:`decode` gives fastavro's dictionary (for tests and
    tools), :meth:`decode_signal` the typed :class:`SignalRecord`. :class:`CodecError` for
    bytes or values that do not fit the schema."""

    def __init__(self) -> None:
        self._schema = load_avro_schema("vehicle_signal")
        self._write = compile_writer(self._schema)

    def record(self, signal: SignalLike) -> dict[str, Any]:
        """The Avro record of ``signal`` as a dictionary."""
        body = _body(signal.kind, signal.payload)
        record: dict[str, Any] = {
            "signal_id": signal.signal_id,
            "vin": signal.vin,
            "dealer_id": signal.dealer_id,
            "kind": signal.kind,
            "as_of_ts": ms_to_datetime(signal.as_of_ms),
            "explanation": signal.explanation,
        }
        for kind in KINDS:
            record[kind] = body if kind == signal.kind else None
        return record

    def encode(self, signal: SignalLike) -> bytes:
        try:
            record = self.record(signal)
        except AttributeError as exc:
            raise ValueError(
                f"signal {signal.signal_id} of kind {signal.kind} carries another payload"
            ) from exc
        try:
            return self._write(record)
        except (ValueError, TypeError, AttributeError, OverflowError, struct.error) as exc:
            raise CodecError(f"cannot encode signal {signal.signal_id}: {exc}") from exc

    def decode(self, data: bytes) -> dict[str, Any]:
        rec: Any = read_avro(data, self._schema, "VehicleSignal")
        if not isinstance(rec, dict):
            raise CodecError("not a VehicleSignal record")
        return rec

    def decode_signal(self, data: bytes) -> SignalRecord:
        rec = self.decode(data)
        kind = str(rec["kind"])
        body = rec.get(kind)
        if not isinstance(body, dict):
            raise CodecError(f"VehicleSignal {rec['signal_id']} of kind {kind} has no {kind}")
        return SignalRecord(
            signal_id=rec["signal_id"],
            vin=rec["vin"],
            dealer_id=rec["dealer_id"],
            kind=kind,
            as_of=rec["as_of_ts"],
            explanation=rec["explanation"],
            payload=_payload(kind, body),
        )
