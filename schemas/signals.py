"""Avro of ``vehicle.signals`` (``schemas/vehicle_signal.avsc``): :class:`SignalCodec`, and the
typed records a reader decodes (:class:`SignalRecord`).

The signals processor writes signals, the journey processor reads them: the contract lives here,
below both. The writer's side takes any object shaped like the signals processor's ``Signal``
(:class:`SignalLike`) and its payload views (the ``*Like`` protocols), read field by field and
dispatched on ``kind``; this module imports no stage. A new vehicle publishes five or six signals
at once, so they are written by a writer compiled from the schema (:mod:`schemas.avro_write`,
fastavro's bytes in about half its time).

The journey processor decodes every signal of the topic, so :meth:`SignalCodec.decode_signal`
reads the bytes with a decoder written out by hand for ``vehicle_signal.avsc`` (built of
:mod:`schemas.avro_read`): about a third of the time of fastavro's reader and the typed records
built from its dictionary, which :meth:`SignalCodec.decode_signal_fastavro` still does. The two
return the same records, and fail on the same bytes: the unit tests compare them on generated
signals of every kind and on damaged bytes, and check the decoder's layout (:data:`_LAYOUT`)
against the schema file, so a change of the schema fails a test until the decoder follows.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, cast

from schemas.avro_read import (
    EPOCH_ORDINAL,
    MAX_DAYS,
    MAX_MS,
    MIN_DAYS,
    MIN_MS,
    READ_ERRORS,
    ZIGZAG,
    doubles,
    read_block_count,
    read_double,
    read_enum,
    read_long,
    read_optional_string,
    read_present,
    read_string,
    slot_setters,
)
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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_ms(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(milliseconds=1)


def ms_to_datetime(ts_ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=int(ts_ms))


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
    as_of_ms: int
    """The evaluation's event time, epoch ms (``as_of_ts``)."""
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


# --- the reader's decoder, written out for vehicle_signal.avsc ----------------------------------

COVERAGES = ("basic", "powertrain", "traction_battery")
LIMITS = ("time", "distance")
LINE_KINDS = ("scheduled", "wear", "repair")
FAULT_EVENTS = ("raised", "cleared")

_LAYOUT: dict[str, tuple[tuple[str, str], ...]] = {
    "VehicleSignal": (
        ("signal_id", "string"),
        ("vin", "string"),
        ("dealer_id", "null|string"),
        ("kind", "SignalKind"),
        ("as_of_ts", "timestamp-millis"),
        ("explanation", "string"),
        ("usage", "null|Usage"),
        ("warranty", "null|Warranty"),
        ("service", "null|Service"),
        ("equity", "null|Equity"),
        ("fault", "null|Fault"),
        ("quality", "null|Quality"),
    ),
    "Usage": (
        ("odometer_m", "long"),
        ("km_per_day", "double"),
        ("km_per_day_sd", "double"),
        ("history_days", "double"),
    ),
    "Warranty": (
        ("coverage", "Coverage"),
        ("expiry_p10", "date"),
        ("expiry_p50", "date"),
        ("expiry_p90", "date"),
        ("binds", "Limit"),
        ("days_remaining", "int"),
        ("km_remaining", "double"),
        ("expired", "boolean"),
    ),
    "Service": (
        ("due_p10", "date"),
        ("due_p50", "date"),
        ("due_p90", "date"),
        ("due_odometer_m", "long"),
        ("binds", "Limit"),
        ("due_soon", "boolean"),
        ("overdue", "boolean"),
        ("days_remaining", "int"),
        ("km_remaining", "double"),
        ("currency", "string"),
        ("bill_low", "double"),
        ("bill_expected", "double"),
        ("bill_high", "double"),
        ("items", "array<BillLine>"),
    ),
    "BillLine": (
        ("kind", "LineKind"),
        ("code", "null|string"),
        ("description", "string"),
        ("low", "double"),
        ("expected", "double"),
        ("high", "double"),
        ("covered", "boolean"),
        ("reason", "string"),
    ),
    "Equity": (
        ("currency", "string"),
        ("value_low", "double"),
        ("value_expected", "double"),
        ("value_high", "double"),
        ("payoff", "double"),
        ("equity_low", "double"),
        ("equity_expected", "double"),
        ("equity_high", "double"),
        ("positive_from", "null|date"),
    ),
    "Fault": (
        ("code", "string"),
        ("event", "FaultEvent"),
        ("description", "string"),
        ("severity", "string"),
        ("repair", "string"),
        ("currency", "string"),
        ("cost_low", "double"),
        ("cost_expected", "double"),
        ("cost_high", "double"),
        ("coverage", "string"),
    ),
    "Quality": (("reason", "string"), ("detail", "string")),
}
"""The records and fields the decoder reads, in the schema's order: a type is a primitive, a
logical type, a named type, ``null|T`` for a union of null and T, ``array<T>``."""

_ENUMS: dict[str, tuple[str, ...]] = {
    "SignalKind": KINDS,
    "Coverage": COVERAGES,
    "Limit": LIMITS,
    "LineKind": LINE_KINDS,
    "FaultEvent": FAULT_EVENTS,
}
"""The symbols of each enum the decoder reads, in the schema's order."""

_three_doubles = doubles(3).unpack_from
_seven_doubles = doubles(7).unpack_from
_double_and_boolean = struct.Struct("<d?").unpack_from  # '?' is true for any byte but 0
_two_booleans = struct.Struct("<??").unpack_from
_line_amounts = struct.Struct("<3d?").unpack_from  # low, expected, high, covered

Reader = Callable[[bytes, int], tuple[PayloadRecord, int]]
_new = object.__new__

# The records every signal has (the signal, the kinds published daily, bill lines) are built with
# object.__new__ and their slots' setters, in about half the time of their __init__.
_SIGNAL_SETTERS = slot_setters(SignalRecord)
_WARRANTY_SETTERS = slot_setters(WarrantyRecord)
_SERVICE_SETTERS = slot_setters(ServiceRecord)
_BILL_LINE_SETTERS = slot_setters(BillLineRecord)
_EQUITY_SETTERS = slot_setters(EquityRecord)


def _usage_record(data: bytes, pos: int) -> tuple[UsageRecord, int]:
    odometer_m, pos = read_long(data, pos)
    km_per_day, _sd, _history = _three_doubles(data, pos)
    return UsageRecord(odometer_m, km_per_day), pos + 24


def _warranty_record(data: bytes, pos: int) -> tuple[WarrantyRecord, int]:
    b = data[pos]
    if b < 0x80:
        coverage, pos = COVERAGES[ZIGZAG[b]], pos + 1
    else:
        coverage, pos = read_enum(data, pos, COVERAGES)
    p10, pos = read_long(data, pos)
    p50, pos = read_long(data, pos)
    p90, pos = read_long(data, pos)
    if not (MIN_DAYS <= p10 <= MAX_DAYS and MIN_DAYS <= p90 <= MAX_DAYS):
        raise ValueError(f"warranty expiry {p10} or {p90} days from 1970-01-01 is out of range")
    b = data[pos]
    if b < 0x80:
        binds, pos = LIMITS[ZIGZAG[b]], pos + 1
    else:
        binds, pos = read_enum(data, pos, LIMITS)
    days_remaining, pos = read_long(data, pos)
    km_remaining, expired = _double_and_boolean(data, pos)
    set_coverage, set_p50, set_binds, set_days, set_km, set_expired = _WARRANTY_SETTERS
    r = _new(WarrantyRecord)
    set_coverage(r, coverage)
    set_p50(r, date.fromordinal(p50 + EPOCH_ORDINAL))
    set_binds(r, binds)
    set_days(r, days_remaining)
    set_km(r, km_remaining)
    set_expired(r, expired)
    return r, pos + 9


def _bill_lines(data: bytes, pos: int) -> tuple[tuple[BillLineRecord, ...], int]:
    set_kind, set_code, set_description, set_expected, set_covered = _BILL_LINE_SETTERS
    lines: list[BillLineRecord] = []
    count, pos = read_block_count(data, pos)
    while count:
        for _ in range(count):
            kind, pos = read_enum(data, pos, LINE_KINDS)
            code, pos = read_optional_string(data, pos)
            description, pos = read_string(data, pos)
            _low, expected, _high, covered = _line_amounts(data, pos)
            _reason, pos = read_string(data, pos + 25)
            r = _new(BillLineRecord)
            set_kind(r, kind)
            set_code(r, code)
            set_description(r, description)
            set_expected(r, expected)
            set_covered(r, covered)
            lines.append(r)
        count, pos = read_block_count(data, pos)
    return tuple(lines), pos


def _service_record(data: bytes, pos: int) -> tuple[ServiceRecord, int]:
    p10, pos = read_long(data, pos)
    p50, pos = read_long(data, pos)
    p90, pos = read_long(data, pos)
    if not (MIN_DAYS <= p10 <= MAX_DAYS and MIN_DAYS <= p90 <= MAX_DAYS):
        raise ValueError(f"service due {p10} or {p90} days from 1970-01-01 is out of range")
    due_odometer_m, pos = read_long(data, pos)
    b = data[pos]
    if b < 0x80:
        binds, pos = LIMITS[ZIGZAG[b]], pos + 1
    else:
        binds, pos = read_enum(data, pos, LIMITS)
    due_soon, overdue = _two_booleans(data, pos)
    days_remaining, pos = read_long(data, pos + 2)
    (km_remaining,) = read_double(data, pos)
    pos += 8
    size = data[pos]
    if size & 0x81:  # a currency code has a one-byte length (see _decode_signal)
        currency, pos = read_string(data, pos)
    else:
        end = pos + 1 + (size >> 1)
        if end > len(data):
            raise EOFError(f"a string of {size >> 1} bytes at byte {pos + 1} of {len(data)}")
        currency, pos = data[pos + 1 : end].decode(), end
    low, expected, high = _three_doubles(data, pos)
    pos += 24
    if data[pos] == 0:
        items: tuple[BillLineRecord, ...] = ()
        pos += 1
    else:
        items, pos = _bill_lines(data, pos)
    (
        set_p50,
        set_odometer,
        set_binds,
        set_due_soon,
        set_overdue,
        set_days,
        set_km,
        set_currency,
        set_low,
        set_expected,
        set_high,
        set_items,
    ) = _SERVICE_SETTERS
    r = _new(ServiceRecord)
    set_p50(r, date.fromordinal(p50 + EPOCH_ORDINAL))
    set_odometer(r, due_odometer_m)
    set_binds(r, binds)
    set_due_soon(r, due_soon)
    set_overdue(r, overdue)
    set_days(r, days_remaining)
    set_km(r, km_remaining)
    set_currency(r, currency)
    set_low(r, low)
    set_expected(r, expected)
    set_high(r, high)
    set_items(r, items)
    return r, pos


def _equity_record(data: bytes, pos: int) -> tuple[EquityRecord, int]:
    currency, pos = read_string(data, pos)
    _vlow, value, _vhigh, payoff, low, expected, high = _seven_doubles(data, pos)
    pos += 56
    positive_from = None
    b = data[pos]
    if b == 0:
        pos += 1
    else:
        present, pos = (True, pos + 1) if b == 2 else read_present(data, pos)
        if present:
            days, pos = read_long(data, pos)
            positive_from = date.fromordinal(days + EPOCH_ORDINAL)
    set_currency, set_value, set_payoff, set_low, set_expected, set_high, set_from = _EQUITY_SETTERS
    r = _new(EquityRecord)
    set_currency(r, currency)
    set_value(r, value)
    set_payoff(r, payoff)
    set_low(r, low)
    set_expected(r, expected)
    set_high(r, high)
    set_from(r, positive_from)
    return r, pos


def _fault_record(data: bytes, pos: int) -> tuple[FaultRecord, int]:
    code, pos = read_string(data, pos)
    event, pos = read_enum(data, pos, FAULT_EVENTS)
    description, pos = read_string(data, pos)
    severity, pos = read_string(data, pos)
    repair, pos = read_string(data, pos)
    currency, pos = read_string(data, pos)
    _low, expected, _high = _three_doubles(data, pos)
    coverage, pos = read_string(data, pos + 24)
    record = FaultRecord(code, event, description, severity, repair, currency, expected, coverage)
    return record, pos


def _quality_record(data: bytes, pos: int) -> tuple[QualityRecord, int]:
    reason, pos = read_string(data, pos)
    detail, pos = read_string(data, pos)
    return QualityRecord(reason, detail), pos


_READERS: tuple[Reader, ...] = (
    _usage_record,
    _warranty_record,
    _service_record,
    _equity_record,
    _fault_record,
    _quality_record,
)
"""The reader of each kind's record, in the order of :data:`KINDS` (the schema's fields)."""
_KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}
_BEFORE = tuple(b"\x00" * i + b"\x02" for i in range(len(KINDS)))
"""The union branches up to a signal's own: null for each kind before it, then its record."""
_AFTER = tuple(b"\x00" * (len(KINDS) - 1 - i) for i in range(len(KINDS)))
"""The union branches after a signal's own: null for each."""


def _bodies(data: bytes, pos: int, first: int) -> list[PayloadRecord | None]:
    """The kinds' union fields from ``first`` on, each read (to fail where fastavro fails)."""
    bodies: list[PayloadRecord | None] = [None] * len(KINDS)
    for i in range(first, len(KINDS)):
        present, pos = read_present(data, pos)
        if present:
            bodies[i], pos = _READERS[i](data, pos)
    return bodies


def _decode_signal(data: bytes) -> SignalRecord:
    """The :class:`SignalRecord` of a ``VehicleSignal``; :data:`READ_ERRORS` if it is none."""
    # Strings whose length is one byte (under 64 bytes of UTF-8) are read here rather than by
    # read_string, a call less each: ``size & 0x81`` is 0 for such a length, not negative.
    size = data[0]
    if size & 0x81:
        signal_id, pos = read_string(data, 0)
    else:
        pos = 1 + (size >> 1)
        if pos > len(data):
            raise EOFError(f"a string of {size >> 1} bytes at byte 1 of {len(data)}")
        signal_id = data[1:pos].decode()
    size = data[pos]
    if size & 0x81:
        vin, pos = read_string(data, pos)
    else:
        end = pos + 1 + (size >> 1)
        if end > len(data):
            raise EOFError(f"a string of {size >> 1} bytes at byte {pos + 1} of {len(data)}")
        vin, pos = data[pos + 1 : end].decode(), end
    dealer_id: str | None = None
    b = data[pos]
    if b == 2:
        size = data[pos + 1]
        if size & 0x81:
            dealer_id, pos = read_string(data, pos + 1)
        else:
            end = pos + 2 + (size >> 1)
            if end > len(data):
                raise EOFError(f"a string of {size >> 1} bytes at byte {pos + 2} of {len(data)}")
            dealer_id, pos = data[pos + 2 : end].decode(), end
    elif b == 0:
        pos += 1
    else:
        dealer_id, pos = read_optional_string(data, pos)
    b = data[pos]
    if b < 0x80:
        kind, pos = KINDS[ZIGZAG[b]], pos + 1
    else:
        kind, pos = read_enum(data, pos, KINDS)
    as_of_ms, pos = read_long(data, pos)
    if not MIN_MS <= as_of_ms <= MAX_MS:
        raise OverflowError(f"as_of_ts {as_of_ms} ms is out of range")
    size = data[pos]
    if size & 0x81:
        explanation, pos = read_string(data, pos)
    else:
        end = pos + 1 + (size >> 1)
        if end > len(data):
            raise EOFError(f"a string of {size >> 1} bytes at byte {pos + 1} of {len(data)}")
        explanation, pos = data[pos + 1 : end].decode(), end
    k = _KIND_INDEX[kind]
    # A signal's bytes hold null for every other kind: read the own record between them. Anything
    # else (another kind's record, a branch index written differently) is read field by field.
    before = _BEFORE[k]
    payload: PayloadRecord | None
    if data.startswith(before, pos):
        payload, pos = _READERS[k](data, pos + len(before))
        if not data.startswith(_AFTER[k], pos):
            _bodies(data, pos, k + 1)
    else:
        payload = _bodies(data, pos, 0)[k]
    if payload is None:
        raise CodecError(f"VehicleSignal {signal_id} of kind {kind} has no {kind}")
    set_id, set_vin, set_dealer, set_kind, set_as_of, set_explanation, set_payload = _SIGNAL_SETTERS
    r: SignalRecord = _new(SignalRecord)
    set_id(r, signal_id)
    set_vin(r, vin)
    set_dealer(r, dealer_id)
    set_kind(r, kind)
    set_as_of(r, as_of_ms)
    set_explanation(r, explanation)
    set_payload(r, payload)
    return r


class SignalCodec:
    """Schemaless Avro of a signal. :meth:`decode` gives fastavro's dictionary (for tests and
    tools), :meth:`decode_signal` the typed :class:`SignalRecord` (and
    :meth:`decode_signal_fastavro` the same, read by fastavro). :class:`CodecError` for bytes or
    values that do not fit the schema."""

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
        """The typed record of ``data``, read by the decoder written for the schema."""
        try:
            return _decode_signal(data)
        except READ_ERRORS as exc:
            raise CodecError(f"not a VehicleSignal: {exc!r}") from exc

    def decode_signal_fastavro(self, data: bytes) -> SignalRecord:
        """:meth:`decode_signal` by way of fastavro's dictionary (:meth:`decode`): slower, the
        reference the unit tests compare the decoder with."""
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
            as_of_ms=_epoch_ms(rec["as_of_ts"]),
            explanation=rec["explanation"],
            payload=_payload(kind, body),
        )
