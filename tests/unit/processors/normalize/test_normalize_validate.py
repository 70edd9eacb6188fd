"""Validation of raw records: acceptance and exact conversion, every rejection reason, limits."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import normalize_payloads as p
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.deadletters import Reason
from kernel.vin import check_digit_ok
from processors.normalize.reasons import CHECK_ORDER
from processors.normalize.validate import (
    Accepted,
    RawRecord,
    Rejected,
    Rules,
    validate,
)
from processors.normalize.vss import SIGNALS, Kind
from schemas.codec import FrameCodec, load_json_schema

RULES = Rules(future_tolerance_ms=p.TOLERANCE_MS)
NA_VIN = "1M8GDM9AXKP042788"  # check digit X, correct
EU_VIN = p.with_check_digit("WVWZZZ1JZXW000001")


def accepted(rec: RawRecord) -> Accepted:
    outcome = validate(rec, RULES)
    assert isinstance(outcome, Accepted), outcome
    return outcome


def reason_of(rec: RawRecord) -> Reason | None:
    outcome = validate(rec, RULES)
    return outcome.reason if isinstance(outcome, Rejected) else None


def ms(ts_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)


def test_signal_table_matches_the_json_schema() -> None:
    sample_schema = load_json_schema("telemetry-v1")["$defs"]["sample"]["properties"]
    assert {s.vss_path for s in SIGNALS} | {"ts_ms"} == set(sample_schema)
    for signal in SIGNALS:
        prop = sample_schema[signal.vss_path]
        if signal.kind is Kind.DTC_LIST:
            assert (prop["type"], prop["maxItems"]) == ("array", signal.max_value)
            continue
        assert prop["type"] == signal.kind.value
        assert (prop["minimum"], prop["maximum"]) == (signal.min_value, signal.max_value)
        assert p.NUMERIC[signal.vss_path][0] == signal.field


@settings(max_examples=150)
@given(payload=p.payloads(), ingest_ms=st.integers(p.INGEST_TS_MS, p.INGEST_TS_MS + 10**9))
def test_valid_payloads_are_accepted_and_converted_exactly(
    payload: dict[str, Any], ingest_ms: int
) -> None:
    rec = p.record(payload, hdrs=p.headers(ingest_ms, "bridge-7"), offset=12)
    outcome = accepted(rec)
    frame = outcome.frame
    assert (frame.vin, frame.boot_id, frame.seq) == (
        payload["vin"],
        payload["boot_id"],
        payload["seq"],
    )
    assert frame.ingest_ts == ms(ingest_ms)
    assert frame.bridge_id == "bridge-7"
    assert outcome.ingest_ts_ms == ingest_ms
    assert not outcome.check_digit_warning
    given_samples = payload["samples"] if "samples" in payload else [payload["sample"]]
    assert len(frame.samples) == len(given_samples)
    for idx, (sample, src) in enumerate(zip(frame.samples, given_samples, strict=True)):
        assert sample.sample_idx == idx
        assert sample.event_ts == ms(src["ts_ms"])
        assert sample.event_ts.tzinfo is UTC
        for path, (field, kind, _lo, _hi) in p.NUMERIC.items():
            got = getattr(sample, field)
            if path not in src:
                assert got is None
            elif kind == "integer":
                assert type(got) is int and got == src[path]
            else:
                assert type(got) is float and got == src[path]
        expected_dtcs = tuple(src[p.DTC_PATH]) if p.DTC_PATH in src else None
        assert sample.dtcs == expected_dtcs
    FrameCodec().decode(FrameCodec().encode(frame))  # every accepted frame is encodable


def _with(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(payload)
    for k, v in changes.items():
        if v is ...:
            out.pop(k, None)
        else:
            out[k] = v
    return out


BASE = p.simple_payload(NA_VIN, signals={"Vehicle.Speed": 50})
SAMPLE = BASE["sample"]


def _sig(**signals: Any) -> dict[str, Any]:
    """BASE with extra signals, given with ``_`` for ``.`` in their paths."""
    extra = {k.replace("_", "."): v for k, v in signals.items()}
    return _with(BASE, sample={**SAMPLE, **extra})


def _twice(key: str, first: str) -> bytes:
    """BASE as JSON with ``key`` written twice: first as ``first``, then with BASE's value."""
    return json.dumps(BASE).replace(f'"{key}"', f'"{key}": {first}, "{key}"', 1).encode()


EXAMPLES: list[tuple[str, RawRecord, Reason]] = [
    ("no headers", p.record(BASE, hdrs=()), Reason.MISSING_HEADERS),
    ("no ingest_ts_ms", p.record(BASE, hdrs=(("bridge_id", b"b"),)), Reason.MISSING_HEADERS),
    (
        "ingest_ts_ms not digits",
        p.record(BASE, hdrs=(("ingest_ts_ms", b"-5"), ("bridge_id", b"b"))),
        Reason.MISSING_HEADERS,
    ),
    (
        "ingest_ts_ms absurd",
        p.record(BASE, hdrs=(("ingest_ts_ms", b"1" * 14), ("bridge_id", b"b"))),
        Reason.MISSING_HEADERS,
    ),
    ("no bridge_id", p.record(BASE, hdrs=(("ingest_ts_ms", b"1"),)), Reason.MISSING_HEADERS),
    ("not JSON", p.record(BASE, value=b"{not json"), Reason.INVALID_JSON),
    ("truncated", p.record(BASE, value=json.dumps(BASE).encode()[:-3]), Reason.INVALID_JSON),
    ("not UTF-8", p.record(BASE, value=b'{"v": 1, "vin": "\xff"}'), Reason.INVALID_JSON),
    ("an array", p.record([BASE], key=NA_VIN), Reason.INVALID_JSON),
    ("a string", p.record("hello", key=NA_VIN), Reason.INVALID_JSON),
    ("empty value", p.record(BASE, value=b""), Reason.INVALID_JSON),
    ("deeply nested", p.record(BASE, value=b"[" * 100_000), Reason.INVALID_JSON),
    ("lone surrogate", p.record(BASE, value=b'{"v": 1, "vin": "\\ud800"}'), Reason.INVALID_JSON),
    ("NaN", p.record(BASE, value=b'{"v": 1, "x": NaN}'), Reason.NON_FINITE_NUMBER),
    ("Infinity", p.record(BASE, value=b'{"v": Infinity}'), Reason.NON_FINITE_NUMBER),
    ("-Infinity", p.record(BASE, value=b"[-Infinity]"), Reason.NON_FINITE_NUMBER),
    ("1e400", p.record(BASE, value=b'{"v": 1, "seq": 1e400}'), Reason.NON_FINITE_NUMBER),
    ("vin twice", p.record(BASE, value=_twice("vin", f'"{EU_VIN}"')), Reason.DUPLICATE_KEY),
    ("ts_ms twice", p.record(BASE, value=_twice("ts_ms", "1")), Reason.DUPLICATE_KEY),
    ("no v", p.record(_with(BASE, v=...)), Reason.UNSUPPORTED_VERSION),
    ("v 2", p.record(_with(BASE, v=2)), Reason.UNSUPPORTED_VERSION),
    ("v '1'", p.record(_with(BASE, v="1")), Reason.UNSUPPORTED_VERSION),
    ("v true", p.record(_with(BASE, v=True)), Reason.UNSUPPORTED_VERSION),
    ("extra field", p.record(_with(BASE, extra=1)), Reason.SCHEMA),
    ("no seq", p.record(_with(BASE, seq=...)), Reason.SCHEMA),
    ("no boot_id", p.record(_with(BASE, boot_id=...)), Reason.SCHEMA),
    ("no vin", p.record(_with(BASE, vin=...), key=NA_VIN), Reason.SCHEMA),
    ("vin a number", p.record(_with(BASE, vin=17), key=NA_VIN), Reason.SCHEMA),
    ("seq a string", p.record(_with(BASE, seq="1")), Reason.SCHEMA),
    ("seq negative", p.record(_with(BASE, seq=-1)), Reason.SCHEMA),
    ("seq fractional", p.record(_with(BASE, seq=1.5)), Reason.SCHEMA),
    ("seq a bool", p.record(_with(BASE, seq=True)), Reason.SCHEMA),
    ("boot_id bad chars", p.record(_with(BASE, boot_id="a b")), Reason.SCHEMA),
    ("boot_id empty", p.record(_with(BASE, boot_id="")), Reason.SCHEMA),
    ("neither sample", p.record(_with(BASE, sample=...)), Reason.SCHEMA),
    ("both samples", p.record(_with(BASE, samples=[SAMPLE])), Reason.SCHEMA),
    ("samples empty", p.record(_with(BASE, sample=..., samples=[])), Reason.SCHEMA),
    ("samples an object", p.record(_with(BASE, sample=..., samples=SAMPLE)), Reason.SCHEMA),
    ("sample a list", p.record(_with(BASE, sample=[SAMPLE])), Reason.SCHEMA),
    ("no ts_ms", p.record(_with(BASE, sample={"Vehicle.Speed": 1})), Reason.SCHEMA),
    ("unknown signal", p.record(_sig(Vehicle_Horn=True)), Reason.SCHEMA),
    ("speed a string", p.record(_sig(Vehicle_Speed="50")), Reason.SCHEMA),
    ("speed a bool", p.record(_sig(Vehicle_Speed=True)), Reason.SCHEMA),
    ("odometer fractional", p.record(_sig(Vehicle_TraveledDistance=1.5)), Reason.SCHEMA),
    ("DTCs a string", p.record(_sig(Vehicle_Diagnostics_DTCList="P0300")), Reason.SCHEMA),
    ("DTC a number", p.record(_sig(Vehicle_Diagnostics_DTCList=[300])), Reason.SCHEMA),
    ("65 DTCs", p.record(_sig(Vehicle_Diagnostics_DTCList=["P0300"] * 65)), Reason.SCHEMA),
    ("vin 16 chars", p.record(_with(BASE, vin=NA_VIN[:16])), Reason.BAD_VIN),
    ("vin with O", p.record(_with(BASE, vin="1M8GDM9AXKP04278O")), Reason.BAD_VIN),
    ("vin lower case", p.record(_with(BASE, vin=NA_VIN.lower())), Reason.BAD_VIN),
    ("vin newline", p.record(_with(BASE, vin=NA_VIN + "\n")), Reason.BAD_VIN),
    ("speed 400.1", p.record(_sig(Vehicle_Speed=400.1)), Reason.OUT_OF_RANGE),
    ("speed negative", p.record(_sig(Vehicle_Speed=-0.5)), Reason.OUT_OF_RANGE),
    ("latitude 91", p.record(_sig(Vehicle_CurrentLocation_Latitude=91)), Reason.OUT_OF_RANGE),
    ("ts_ms 1999", p.record(_with(BASE, sample={"ts_ms": p.TS_MIN_MS - 1})), Reason.OUT_OF_RANGE),
    ("bad DTC", p.record(_sig(Vehicle_Diagnostics_DTCList=["P0300", "X1234"])), Reason.BAD_DTC),
    ("DTC lower case", p.record(_sig(Vehicle_Diagnostics_DTCList=["p0300"])), Reason.BAD_DTC),
    ("DTC P4000", p.record(_sig(Vehicle_Diagnostics_DTCList=["P4000"])), Reason.BAD_DTC),
    ("key differs", p.record(BASE, key=EU_VIN), Reason.VIN_MISMATCH),
    (
        "NA check digit",
        p.record(_with(BASE, vin=p.with_wrong_check_digit(NA_VIN))),
        Reason.VIN_CHECK_DIGIT,
    ),
    (
        "future",
        p.record(_with(BASE, sample={"ts_ms": p.INGEST_TS_MS + p.TOLERANCE_MS + 1})),
        Reason.FUTURE_TIMESTAMP,
    ),
]


@pytest.mark.parametrize(
    ("rec", "reason"), [(r, x) for _, r, x in EXAMPLES], ids=[n for n, _, _ in EXAMPLES]
)
def test_each_example_is_rejected_with_exactly_its_reason(rec: RawRecord, reason: Reason) -> None:
    assert reason_of(rec) == reason


def test_every_reason_but_the_registrys_has_an_example_here() -> None:
    covered = {reason for _, _, reason in EXAMPLES}
    assert covered == set(CHECK_ORDER) - {Reason.UNKNOWN_VIN}  # unknown_vin: see the logic tests


@pytest.mark.parametrize(
    "literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, "1" * 5000]
)
def test_non_finite_numbers_anywhere_are_named(literal: str) -> None:
    text = json.dumps(_sig(Vehicle_Speed=12345.5)).replace("12345.5", literal)
    assert reason_of(p.record(BASE, value=text.encode())) == Reason.NON_FINITE_NUMBER


@pytest.mark.parametrize("path", sorted(p.NUMERIC))
def test_range_boundaries_are_inclusive(path: str) -> None:
    _field, kind, lo, hi = p.NUMERIC[path]
    below = lo - 1 if kind == "integer" else math.nextafter(lo, -math.inf)
    above = hi + 1 if kind == "integer" else math.nextafter(hi, math.inf)
    for value in (lo, hi):
        assert reason_of(p.record(_sig(**{path.replace(".", "_"): value}))) is None
    for value in (below, above):
        assert reason_of(p.record(_sig(**{path.replace(".", "_"): value}))) == Reason.OUT_OF_RANGE


def test_structural_limits() -> None:
    def samples(n: int) -> dict[str, Any]:
        return _with(BASE, sample=..., samples=[SAMPLE] * n)

    assert reason_of(p.record(samples(1000))) is None
    assert reason_of(p.record(samples(1001))) == Reason.SCHEMA
    assert reason_of(p.record(_sig(Vehicle_Diagnostics_DTCList=["U3FFF"] * 64))) is None
    assert reason_of(p.record(_sig(Vehicle_Diagnostics_DTCList=[]))) is None
    assert reason_of(p.record(_with(BASE, seq=2**53 - 1))) is None
    assert reason_of(p.record(_with(BASE, seq=2**53))) == Reason.SCHEMA
    assert reason_of(p.record(_with(BASE, boot_id="b" * 64))) is None
    assert reason_of(p.record(_with(BASE, boot_id="b" * 65))) == Reason.SCHEMA
    assert reason_of(p.record(_with(BASE, sample={"ts_ms": p.TS_MIN_MS}))) is None
    edge = p.INGEST_TS_MS + p.TOLERANCE_MS
    assert reason_of(p.record(_with(BASE, sample={"ts_ms": edge}))) is None


def test_old_samples_are_accepted_and_any_future_sample_rejects_the_message() -> None:
    old = {"ts_ms": p.TS_MIN_MS + 1}
    future = {"ts_ms": p.INGEST_TS_MS + p.TOLERANCE_MS + 1}
    assert reason_of(p.record(_with(BASE, sample=..., samples=[old, SAMPLE]))) is None
    rec = p.record(_with(BASE, sample=..., samples=[old, future, SAMPLE]))
    assert reason_of(rec) == Reason.FUTURE_TIMESTAMP


def test_integral_floats_are_json_schema_integers() -> None:
    payload = _with(_sig(Vehicle_TraveledDistance=1234.0), v=1.0, seq=7.0)
    payload["sample"]["ts_ms"] = float(p.INGEST_TS_MS)
    frame = accepted(p.record(payload)).frame
    assert frame.seq == 7 and type(frame.seq) is int
    assert frame.samples[0].odometer_m == 1234 and type(frame.samples[0].odometer_m) is int


def test_shape_errors_win_over_value_errors_and_vin_format() -> None:
    bad_value_then_bad_shape = _with(
        BASE,
        vin="bad",
        sample=...,
        samples=[
            {**SAMPLE, "Vehicle.Speed": 999},
            {"Vehicle.Speed": 1},
        ],
    )
    assert reason_of(p.record(bad_value_then_bad_shape, key="bad")) == Reason.SCHEMA
    bad_vin_and_value = _with(_sig(Vehicle_Speed=999), vin="bad")
    assert reason_of(p.record(bad_vin_and_value, key="bad")) == Reason.BAD_VIN


def test_check_digit_failure_outside_north_america_is_only_a_warning() -> None:
    vin = p.with_wrong_check_digit(EU_VIN)
    outcome = accepted(p.record(_with(BASE, vin=vin)))
    assert outcome.check_digit_warning
    assert not accepted(p.record(_with(BASE, vin=EU_VIN))).check_digit_warning


@given(raw=st.text(p.VIN_CHARS, min_size=17, max_size=17))
def test_check_digit_agrees_with_iso_3779(raw: str) -> None:
    no_check_digit = raw.startswith("6FP")  # Ford Australia: position 9 is a model code
    assert check_digit_ok(raw) == (raw[8] == p.iso3779_check_digit(raw) or no_check_digit)


def test_check_digit_is_not_judged_where_the_maker_puts_something_else_there() -> None:
    ford_australia = p.with_wrong_check_digit("6FPAAAJGCM0000001")
    assert check_digit_ok(ford_australia)
