"""The decoder written out for vehicle_signal.avsc returns what fastavro's reading returns, and
fails with a CodecError where it fails."""

from __future__ import annotations

import json
import struct
from dataclasses import FrozenInstanceError, dataclass, fields
from datetime import date
from importlib import resources
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas.avro_read import MAX_DAYS, MAX_MS, MIN_DAYS, MIN_MS
from schemas.codec import CodecError, _long, _string
from schemas.signals import (
    _ENUMS,
    _LAYOUT,
    COVERAGES,
    FAULT_EVENTS,
    KINDS,
    LIMITS,
    LINE_KINDS,
    SignalCodec,
    SignalLike,
    SignalRecord,
)
from tests.unit.processors.signals.test_signals_codec import every_kind
from tests.unit.schemas.decoder_kit import damaged, decoded_or_failed, key

CODEC = SignalCodec()


# --- signals of every kind, shaped as the codec's *Like protocols --------------------------------


@dataclass(frozen=True)
class Usage:
    odometer_m: int
    km_per_day: float
    km_per_day_sd: float
    history_days: float


@dataclass(frozen=True)
class Warranty:
    coverage: str
    expiry_p10: date
    expiry_p50: date
    expiry_p90: date
    binds: str
    days_remaining: int
    km_remaining: float
    expired: bool


@dataclass(frozen=True)
class BillLine:
    kind: str
    code: str | None
    description: str
    low: float
    expected: float
    high: float
    covered: bool
    reason: str


@dataclass(frozen=True)
class Bill:
    currency: str
    low: float
    expected: float
    high: float
    lines: tuple[BillLine, ...]


@dataclass(frozen=True)
class Service:
    due_p10: date
    due_p50: date
    due_p90: date
    due_odometer_m: int
    binds: str
    due_soon: bool
    overdue: bool
    days_remaining: int
    km_remaining: float
    bill: Bill


@dataclass(frozen=True)
class Equity:
    currency: str
    value_low: float
    value_expected: float
    value_high: float
    payoff: float
    equity_low: float
    equity_expected: float
    equity_high: float
    positive_from: date | None


@dataclass(frozen=True)
class Fault:
    code: str
    description: str
    severity: str
    repair: str
    currency: str
    cost_low: float
    cost_expected: float
    cost_high: float
    coverage: str


@dataclass(frozen=True)
class FaultEvent:
    event: str
    fault: Fault


@dataclass(frozen=True)
class Quality:
    reason: str
    detail: str


@dataclass(frozen=True)
class Signal:
    signal_id: str
    vin: str
    dealer_id: str | None
    kind: str
    as_of_ms: int
    explanation: str
    payload: object


texts = st.text(max_size=12) | st.text(min_size=60, max_size=300)  # one- and two-byte lengths
doubles = st.floats(allow_nan=True, allow_infinity=True)
longs = st.integers(-(2**63), 2**63 - 1)
ints = st.integers(-(2**31), 2**31 - 1)
dates = st.dates()


def lines(text: st.SearchStrategy[str]) -> st.SearchStrategy[BillLine]:
    return st.builds(
        BillLine,
        st.sampled_from(LINE_KINDS),
        st.none() | text,
        text,
        doubles,
        doubles,
        doubles,
        st.booleans(),
        text,
    )


payloads: dict[str, st.SearchStrategy[Any]] = {
    "usage": st.builds(Usage, longs, doubles, doubles, doubles),
    "warranty": st.builds(
        Warranty,
        st.sampled_from(COVERAGES),
        dates,
        dates,
        dates,
        st.sampled_from(LIMITS),
        ints,
        doubles,
        st.booleans(),
    ),
    "service": st.builds(
        Service,
        dates,
        dates,
        dates,
        longs,
        st.sampled_from(LIMITS),
        st.booleans(),
        st.booleans(),
        ints,
        doubles,
        st.builds(
            Bill,
            texts,
            doubles,
            doubles,
            doubles,
            st.lists(lines(texts), max_size=3).map(tuple)
            | st.lists(lines(st.text(max_size=3)), min_size=20, max_size=70).map(tuple),
        ),
    ),
    "equity": st.builds(
        Equity,
        texts,
        doubles,
        doubles,
        doubles,
        doubles,
        doubles,
        doubles,
        doubles,
        st.none() | dates,
    ),
    "fault": st.builds(
        FaultEvent,
        st.sampled_from(FAULT_EVENTS),
        st.builds(Fault, texts, texts, texts, texts, texts, doubles, doubles, doubles, texts),
    ),
    "quality": st.builds(Quality, texts, texts),
}


ANY_KIND = st.sampled_from(KINDS)


@st.composite
def signals(draw: st.DrawFn, kinds: st.SearchStrategy[str] = ANY_KIND) -> Signal:
    kind = draw(kinds)
    return Signal(
        draw(texts),
        draw(texts),
        draw(st.none() | texts),
        kind,
        draw(st.integers(MIN_MS, MAX_MS)),
        draw(texts),
        draw(payloads[kind]),
    )


def outcome(decode: Any, data: bytes) -> Any:
    return decoded_or_failed(decode, data, "VehicleSignal")


def fast(data: bytes) -> SignalRecord:
    return CODEC.decode_signal(data)


def reference(data: bytes) -> SignalRecord:
    return CODEC.decode_signal_fastavro(data)


# --- valid signals ------------------------------------------------------------------------------


@settings(max_examples=400)
@given(signals())
def test_the_decoder_returns_what_fastavro_reads(signal: Signal) -> None:
    data = CODEC.encode(signal)
    decoded = fast(data)
    assert type(decoded) is SignalRecord and type(decoded.payload) is type(reference(data).payload)
    assert key(decoded) == key(reference(data))
    assert decoded.kind == signal.kind and decoded.as_of_ms == signal.as_of_ms


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60)
@given(data=st.data())
def test_every_kind_decodes_as_fastavro_reads_it(kind: str, data: st.DataObject) -> None:
    encoded = CODEC.encode(data.draw(signals(st.just(kind))))
    assert key(fast(encoded)) == key(reference(encoded))


def test_the_signals_processors_signals_decode_as_fastavro_reads_them() -> None:
    for signal in every_kind():
        data = CODEC.encode(signal)
        assert key(fast(data)) == key(reference(data))


def test_nan_infinities_and_extremes_are_kept() -> None:
    nan = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]  # a NaN with a payload
    signal = Signal(
        "ä" * 70,
        "",
        None,
        "usage",
        MIN_MS,
        "x",
        Usage(-(2**63), nan, float("-inf"), -0.0),
    )
    decoded = fast(CODEC.encode(signal))
    assert key(decoded) == key(reference(CODEC.encode(signal)))
    assert struct.pack("<d", decoded.payload.km_per_day) == struct.pack("<d", nan)  # type: ignore[union-attr]
    assert decoded.as_of_ms == MIN_MS and decoded.signal_id == "ä" * 70


# --- the decoder's layout is the schema's -------------------------------------------------------


def schema_layout() -> tuple[dict[str, tuple[tuple[str, str], ...]], dict[str, tuple[str, ...]]]:
    """The records' fields (in the decoder's notation) and the enums of vehicle_signal.avsc."""
    text = resources.files("schemas").joinpath("vehicle_signal.avsc").read_text(encoding="utf-8")
    records: dict[str, tuple[tuple[str, str], ...]] = {}
    enums: dict[str, tuple[str, ...]] = {}

    def notation(t: Any) -> str:
        if isinstance(t, str):
            return t
        if isinstance(t, list):
            return "|".join(notation(branch) for branch in t)
        if "logicalType" in t:
            return str(t["logicalType"])
        if t["type"] == "record":
            records[t["name"]] = tuple((f["name"], notation(f["type"])) for f in t["fields"])
        elif t["type"] == "enum":
            enums[t["name"]] = tuple(t["symbols"])
        elif t["type"] == "array":
            return f"array<{notation(t['items'])}>"
        else:
            return str(t["type"])
        return str(t["name"])

    notation(json.loads(text))
    return records, enums


def test_the_decoder_reads_the_records_and_fields_of_the_schema_in_its_order() -> None:
    records, enums = schema_layout()
    for name in records.keys() | _LAYOUT.keys():
        assert _LAYOUT.get(name) == records.get(name), (
            f"vehicle_signal.avsc's record {name} is not what schemas/signals.py's decoder reads: "
            f"change the decoder (_decode_signal, the _*_record readers) and _LAYOUT with it"
        )
    for name in enums.keys() | _ENUMS.keys():
        assert _ENUMS.get(name) == enums.get(name), (
            f"vehicle_signal.avsc's enum {name} is not what schemas/signals.py's decoder reads: "
            f"change its symbols there"
        )


def test_the_kinds_are_the_signals_union_fields_in_order() -> None:
    kinds = [name for name, t in _LAYOUT["VehicleSignal"] if t == f"null|{name.title()}"]
    assert tuple(kinds) == KINDS == _ENUMS["SignalKind"]


# --- records built without __init__ -------------------------------------------------------------


def test_records_built_without_init_are_the_dataclasses_records() -> None:
    """The decoder builds them with ``object.__new__`` and their slots' setters, not their
    ``__init__``: they are still the same records, equal, hashed alike and frozen."""
    equity = Equity("EUR", 1.0, 2.0, 3.0, 4.0, -5.0, 6.0, 7.0, date(2030, 1, 1))
    examples: list[SignalLike] = [*every_kind(), Signal("s", "v", "d", "equity", 0, "e", equity)]
    for signal in examples:
        decoded = fast(CODEC.encode(signal))
        payload = decoded.payload
        items = getattr(payload, "items", ())
        for record in (decoded, payload, *items):
            cls = type(record)
            values = [getattr(record, f.name) for f in fields(record)]
            assert record == cls(*values) and hash(record) == hash(cls(*values))
            assert repr(record) == repr(cls(*values))
            with pytest.raises(FrozenInstanceError):
                record.__setattr__(fields(record)[0].name, None)
        assert items or decoded.kind != "service"


# --- damaged bytes ------------------------------------------------------------------------------

T0_MS = 1_767_225_600_000
VALID = [CODEC.encode(s) for s in every_kind()] + [
    CODEC.encode(
        Signal(
            "s",
            "v",
            "d",
            "equity",
            T0_MS,
            "e",
            Equity("EUR", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, None),
        )
    ),
    CODEC.encode(Signal("s", "v", None, "quality", T0_MS, "e", Quality("rollback", "ä"))),
    CODEC.encode(Signal("s", "v", None, "usage", T0_MS, "e", Usage(5, 1.0, 2.0, 3.0))),
]


@settings(max_examples=500)
@given(st.binary(max_size=200))
@example(b"")
def test_random_bytes_decode_as_in_fastavro_or_fail_in_both(data: bytes) -> None:
    assert outcome(fast, data) == outcome(reference, data)


@given(st.sampled_from(VALID), st.data())
def test_a_truncated_signal_fails_as_in_fastavro(valid: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(valid) - 1))
    assert outcome(fast, valid[:cut]) == outcome(reference, valid[:cut]) == CodecError


def test_every_truncation_fails() -> None:
    for valid in VALID:
        for cut in range(len(valid)):
            assert outcome(fast, valid[:cut]) == outcome(reference, valid[:cut]) == CodecError


@settings(max_examples=500)
@given(st.sampled_from(VALID), st.data())
def test_a_damaged_signal_decodes_as_in_fastavro_or_fails_in_both(
    valid: bytes, data: st.DataObject
) -> None:
    bad = damaged(valid, data)
    assert outcome(fast, bad) == outcome(reference, bad)


@given(st.sampled_from(VALID), st.binary(min_size=1, max_size=20))
def test_trailing_bytes_are_left_unread_as_by_fastavro(valid: bytes, trailing: bytes) -> None:
    assert outcome(fast, valid + trailing) == outcome(reference, valid + trailing)
    assert outcome(fast, valid + trailing) == outcome(fast, valid)


def signal_bytes(
    kind: int | bytes = 5, as_of: int = T0_MS, bodies: bytes = b"\x00" * 5 + b"\x02\x02r\x02d"
) -> bytes:
    """A signal's bytes: ``kind`` an enum index (or its bytes), then the six union fields."""
    head = _string("s") + _string("v") + b"\x00"
    return (
        head + (kind if isinstance(kind, bytes) else _long(kind)) + _long(as_of) + b"\x02e" + bodies
    )


def service_body(p10: int, p50: int, p90: int) -> bytes:
    """The six union fields of a service signal with these dates (days since 1970)."""
    service = b"".join(
        (
            _long(p10),
            _long(p50),
            _long(p90),
            _long(10**9),  # due_odometer_m
            b"\x02",  # binds: distance
            b"\x01\x00",  # due_soon, overdue
            _long(-4),  # days_remaining
            struct.pack("<d", 1.5),
            _string("EUR"),
            struct.pack("<3d", 1.0, 2.0, 3.0),
            b"\x00",  # no items
        )
    )
    return b"\x00\x00\x02" + service + b"\x00\x00\x00"


def test_the_dates_at_the_ends_of_pythons_range_decode() -> None:
    data = signal_bytes(2, bodies=service_body(MIN_DAYS, MAX_DAYS, MAX_DAYS))
    assert fast(data).payload == reference(data).payload
    assert fast(data).payload.due_p50 == date.max  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        (signal_bytes(), ("quality", "r", "d")),
        (signal_bytes(-1), ("quality", "r", "d")),  # an enum index counts from the end
        (signal_bytes(b"\x8a\x00"), ("quality", "r", "d")),  # 5, not minimal
        (signal_bytes(bodies=b"\x00" * 5 + b"\x01\x02r\x02d"), ("quality", "r", "d")),
        (signal_bytes(bodies=b"\x03" * 5 + b"\x02\x02r\x02d"), ("quality", "r", "d")),
    ],
)
def test_bytes_fastavro_reads_leniently_decode_alike(data: bytes, decoded: Any) -> None:
    record = fast(data)
    assert (record.kind, record.payload.reason, record.payload.detail) == decoded  # type: ignore[union-attr]
    assert key(record) == key(reference(data))


BAD = {
    "an enum index out of range": signal_bytes(6),
    "a negative enum index out of range": signal_bytes(-7),
    "a union branch out of range": signal_bytes(bodies=b"\x00" * 5 + b"\x04\x02r\x02d"),
    "a negative union branch out of range": signal_bytes(bodies=b"\x05"),
    "a string that is not UTF-8": signal_bytes(bodies=b"\x00" * 5 + b"\x02\x02\xff\x02d"),
    "a negative string length": signal_bytes(bodies=b"\x00" * 5 + b"\x02\x01\x02d"),
    "a negative length at the end": signal_bytes(bodies=b"\x00" * 5 + b"\x02\x02r\x01"),
    "a string longer than the bytes": signal_bytes(bodies=b"\x00" * 5 + b"\x02\x02r\x04d"),
    "a timestamp past 9999": signal_bytes(as_of=MAX_MS + 1),
    "a timestamp before year 1": signal_bytes(as_of=MIN_MS - 1),
    "a date past 9999": signal_bytes(2, bodies=service_body(0, MAX_DAYS + 1, 0)),
    "a date not kept before year 1": signal_bytes(2, bodies=service_body(MIN_DAYS - 1, 0, 0)),
    "a date not kept past 9999": signal_bytes(2, bodies=service_body(0, 0, MAX_DAYS + 1)),
    "the kind's branch null": signal_bytes(4),
    "a branch after the kind's that is bad": signal_bytes(2, bodies=service_body(0, 0, 0)[:-1])
    + b"\x07",
    "another kind's record that is bad": signal_bytes(
        5, bodies=service_body(MIN_DAYS - 1, 0, 0)[:-1] + b"\x02\x02r\x02d"
    ),
    "nothing": b"",
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_bytes_fastavro_refuses_are_a_codec_error_naming_the_record(data: bytes) -> None:
    with pytest.raises(CodecError, match="VehicleSignal"):
        reference(data)
    with pytest.raises(CodecError, match="VehicleSignal"):
        fast(data)


def test_a_kind_without_its_record_is_refused_as_before() -> None:
    with pytest.raises(CodecError, match="VehicleSignal s of kind fault has no fault"):
        fast(signal_bytes(4))
