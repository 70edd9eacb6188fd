"""The decoder written out for telemetry_frame.avsc returns what fastavro's reading returns, and
fails with a CodecError where it fails."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import FrozenInstanceError, fields
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import fastavro
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas.avro_read import MAX_MS, MIN_MS
from schemas.codec import (
    EPOCH,
    FRAME_LAYOUT,
    CodecError,
    FrameCodec,
    FrameReadings,
    SampleValues,
    _long,
    _string,
    readings_of,
)
from schemas.records import Sample, TelemetryFrame
from tests.unit.schemas.decoder_kit import damaged, decoded_or_failed, key
from tests.unit.schemas.test_codec_encoder import frames

CODEC = FrameCodec()
LONG = (-(2**63), 2**63 - 1)


# --- frames -------------------------------------------------------------------------------------

texts = st.text(max_size=12) | st.text(min_size=60, max_size=200)  # one- and two-byte lengths
doubles = st.none() | st.floats(allow_nan=True, allow_infinity=True)
longs = st.none() | st.integers(*LONG)
moments_ms = st.integers(MIN_MS, MAX_MS) | st.integers(1_700_000_000_000, 1_900_000_000_000)


def moment(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@st.composite
def samples(draw: st.DrawFn, idx: int) -> Sample:
    return Sample(
        sample_idx=idx,
        event_ts=moment(draw(moments_ms)),
        odometer_m=draw(longs),
        speed_kmh=draw(doubles),
        fuel_level_pct=draw(doubles),
        soc_pct=draw(doubles),
        battery_12v_v=draw(doubles),
        engine_hours_h=draw(doubles),
        oil_life_remaining_s=draw(longs),
        dtcs=draw(st.none() | st.lists(texts, max_size=4).map(tuple)),
        latitude_deg=draw(doubles),
        longitude_deg=draw(doubles),
    )


@st.composite
def wide_frames(draw: st.DrawFn) -> TelemetryFrame:
    """Frames of up to a dozen samples, with every field's range: unicode text, NaN and
    infinities, the years 1 to 9999."""
    count = draw(st.integers(0, 3) | st.integers(4, 12))
    first = draw(st.integers(-(2**31), 2**31 - 13))
    return TelemetryFrame(
        vin=draw(texts),
        boot_id=draw(texts),
        seq=draw(st.integers(*LONG)),
        ingest_ts=moment(draw(moments_ms)),
        bridge_id=draw(texts),
        samples=tuple(draw(samples(first + i)) for i in range(count)),
    )


def outcome(decode: Any, data: bytes) -> Any:
    return decoded_or_failed(decode, data, "TelemetryFrame")


def fast(data: bytes) -> TelemetryFrame:
    return CODEC.decode(data)


def reference(data: bytes) -> TelemetryFrame:
    return CODEC.decode_fastavro(data)


# --- valid frames -------------------------------------------------------------------------------


@settings(max_examples=300)
@given(wide_frames())
def test_the_decoder_returns_what_fastavro_reads(frame: TelemetryFrame) -> None:
    data = CODEC.encode(frame)
    decoded = fast(data)
    assert key(decoded) == key(reference(data))
    assert type(decoded) is TelemetryFrame and type(decoded.samples) is tuple
    assert len(decoded.samples) == len(frame.samples)
    assert decoded.frame_id == frame.frame_id


@given(frames())
def test_the_encoder_tests_frames_decode_as_fastavro_reads_them(frame: TelemetryFrame) -> None:
    data = CODEC.encode(frame)
    assert key(fast(data)) == key(reference(data))


@given(st.integers(MIN_MS, MAX_MS), st.integers(MIN_MS, MAX_MS))
@example(MIN_MS, MAX_MS)
@example(-1, 0)
@example(-999, 1)
def test_timestamps_are_fastavros_datetimes_to_the_millisecond(ingest: int, event: int) -> None:
    sample: SampleValues = (0, event, None, None, None, None, None, None, None, None, None, None)
    data = CODEC.encode_values("v", "b", 1, ingest, "x", [sample])
    decoded = fast(data)
    schema = fastavro.parse_schema({"type": "long", "logicalType": "timestamp-millis"})
    for ms, ts in ((ingest, decoded.ingest_ts), (event, decoded.samples[0].event_ts)):
        expected = fastavro.schemaless_reader(io.BytesIO(_long(ms)), schema, None)
        assert key(ts) == key(expected) and ts.tzinfo is UTC
        assert (ts - EPOCH) // timedelta(milliseconds=1) == ms


def test_nan_infinities_and_extremes_are_kept() -> None:
    nan = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]  # a NaN with a payload
    sample = Sample(
        2**31 - 1,
        moment(MIN_MS),
        odometer_m=-(2**63),
        speed_kmh=nan,
        fuel_level_pct=float("inf"),
        soc_pct=float("-inf"),
        battery_12v_v=-0.0,
        oil_life_remaining_s=2**63 - 1,
        dtcs=("ä" * 70, ""),
    )
    frame = TelemetryFrame("Ö" * 40, "", -(2**63), moment(MAX_MS), "b", (sample,))
    decoded = fast(CODEC.encode(frame))
    assert key(decoded) == key(reference(CODEC.encode(frame))) == key(frame)
    assert struct.pack("<d", decoded.samples[0].speed_kmh or 0.0) == struct.pack("<d", nan)


def test_empty_and_null_dtcs_stay_apart() -> None:
    for dtcs in (None, (), ("P0300",), ("P0300", "U0100")):
        frame = TelemetryFrame("v", "b", 1, moment(0), "x", (Sample(0, moment(0), dtcs=dtcs),))
        decoded = fast(CODEC.encode(frame))
        assert decoded.samples[0].dtcs == dtcs and key(decoded) == key(frame)


# --- the decoder's layout is the schema's -------------------------------------------------------


def schema_layout() -> dict[str, tuple[tuple[str, str], ...]]:
    """The records' fields of telemetry_frame.avsc, in the decoder's notation."""
    text = resources.files("schemas").joinpath("telemetry_frame.avsc").read_text(encoding="utf-8")
    records: dict[str, tuple[tuple[str, str], ...]] = {}

    def notation(t: Any) -> str:
        if isinstance(t, str):
            return t
        if isinstance(t, list):
            return "|".join(notation(branch) for branch in t)
        if "logicalType" in t:
            return str(t["logicalType"])
        if t["type"] == "record":
            records[t["name"]] = tuple((f["name"], notation(f["type"])) for f in t["fields"])
            return str(t["name"])
        if t["type"] == "array":
            return f"array<{notation(t['items'])}>"
        return str(t["type"])

    notation(json.loads(text))
    return records


def test_the_decoder_reads_the_records_and_fields_of_the_schema_in_its_order() -> None:
    records = schema_layout()
    for name in records.keys() | FRAME_LAYOUT.keys():
        assert FRAME_LAYOUT.get(name) == records.get(name), (
            f"telemetry_frame.avsc's record {name} is not what schemas/codec.py's decoder reads: "
            f"change the decoder (_decode, _sample, _dtcs) and FRAME_LAYOUT with it"
        )


def test_the_records_fields_are_the_decoders() -> None:
    """The decoder sets the records' fields in their order: the schema's, the frame's id aside."""
    sample = [name for name, _ in FRAME_LAYOUT["Sample"]]
    assert [f.name for f in fields(Sample)] == sample
    frame = [name for name, _ in FRAME_LAYOUT["TelemetryFrame"] if name != "frame_id"]
    assert [f.name for f in fields(TelemetryFrame)] == frame


# --- records built without __init__ -------------------------------------------------------------


def test_records_built_without_init_are_the_dataclasses_records() -> None:
    """The decoder builds them with ``object.__new__`` and their slots' setters, not their
    ``__init__``: they are still the same records, equal, hashed alike and frozen."""
    t = moment(1_767_225_600_000)
    frame = TelemetryFrame("v", "b", 3, t, "x", (Sample(0, t, 5, 1.5, dtcs=("P1",)),))
    decoded = fast(CODEC.encode(frame))
    records: tuple[TelemetryFrame | Sample, ...] = (decoded, *decoded.samples)
    for record in records:
        cls = type(record)
        values = [getattr(record, f.name) for f in fields(record)]
        assert record == cls(*values) and hash(record) == hash(cls(*values))
        assert repr(record) == repr(cls(*values))
        with pytest.raises(FrozenInstanceError):
            record.__setattr__(fields(record)[0].name, None)
    assert decoded == frame


# --- damaged bytes ------------------------------------------------------------------------------

T0_MS = 1_767_225_600_000


def sample_values(idx: int = 0, **changes: Any) -> SampleValues:
    values: dict[str, Any] = {
        "sample_idx": idx,
        "event_ts": T0_MS,
        "odometer_m": 1_000_000,
        "speed_kmh": 50.0,
        "fuel_level_pct": 80.0,
        "soc_pct": None,
        "battery_12v_v": 12.5,
        "engine_hours_h": 500.0,
        "oil_life_remaining_s": 2_000_000,
        "dtcs": (),
        "latitude_deg": 48.0,
        "longitude_deg": 11.0,
    }
    values.update(changes)
    return tuple(values.values())


VALID = [
    CODEC.encode_values("WJGBNCH02R0000000", "0" * 16, 7, T0_MS, "bridge", [sample_values()]),
    CODEC.encode_values(
        "v",
        "b",
        1,
        T0_MS,
        "x",
        [sample_values(0, dtcs=("P0300", "U0100"), soc_pct=55.0), sample_values(1, dtcs=None)],
    ),
    CODEC.encode_values("v", "b", 1, T0_MS, "x", []),
]


@settings(max_examples=500)
@given(st.binary(max_size=200))
@example(b"")
def test_random_bytes_decode_as_in_fastavro_or_fail_in_both(data: bytes) -> None:
    assert outcome(fast, data) == outcome(reference, data)


def test_every_truncation_fails() -> None:
    for valid in VALID:
        for cut in range(len(valid)):
            assert outcome(fast, valid[:cut]) == outcome(reference, valid[:cut]) == CodecError


@settings(max_examples=1000)
@given(st.sampled_from(VALID), st.data())
def test_a_damaged_frame_decodes_as_in_fastavro_or_fails_in_both(
    valid: bytes, data: st.DataObject
) -> None:
    bad = damaged(valid, data)
    assert outcome(fast, bad) == outcome(reference, bad)


@given(st.sampled_from(VALID), st.binary(min_size=1, max_size=20))
def test_trailing_bytes_are_left_unread_as_by_fastavro(valid: bytes, trailing: bytes) -> None:
    assert outcome(fast, valid + trailing) == outcome(reference, valid + trailing)
    assert outcome(fast, valid + trailing) == outcome(fast, valid)


def frame_bytes(
    samples: bytes = b"",
    ingest: int = T0_MS,
    head: bytes = _string("v:b:1") + _string("v") + _string("b") + _long(1),
) -> bytes:
    """A frame's bytes around ``samples``, the bytes of its array's blocks and end."""
    return head + _long(ingest) + _string("x") + samples + b"\x00"


def sample_bytes(
    idx: bytes = b"\x00",
    event: int = T0_MS,
    odometer: bytes = b"\x02" + _long(5),
    speed: bytes = b"\x02" + struct.pack("<d", 1.5),
    dtcs: bytes = b"\x02\x00",
) -> bytes:
    """A sample's bytes: these fields, every other one null."""
    return idx + _long(event) + odometer + speed + b"\x00" * 5 + dtcs + b"\x00" * 2


ONE = b"\x02"  # an array block of one item


@pytest.mark.parametrize(
    ("data", "sample"),
    [
        (frame_bytes(ONE + sample_bytes()), Sample(0, moment(T0_MS), 5, 1.5, dtcs=())),
        # a union branch counts from the end when negative: -1 is the value, -2 null
        (
            frame_bytes(ONE + sample_bytes(odometer=b"\x01" + _long(5), speed=b"\x03")),
            Sample(0, moment(T0_MS), 5, None, dtcs=()),
        ),
        # varints that are not minimal, a sample index past 32 bits
        (
            frame_bytes(ONE + sample_bytes(idx=b"\x80\x80\x80\x80\x80\x01")),
            Sample(2**34, moment(T0_MS), 5, 1.5, dtcs=()),
        ),
        (
            frame_bytes(ONE + sample_bytes(odometer=b"\x02\x8a\x80\x00")),
            Sample(0, moment(T0_MS), 5, 1.5, dtcs=()),
        ),
        # a dtcs block of a negative count (-1), then its size in bytes
        (
            frame_bytes(ONE + sample_bytes(dtcs=b"\x02\x01\x06" + _string("P1") + b"\x00")),
            Sample(0, moment(T0_MS), 5, 1.5, dtcs=("P1",)),
        ),
    ],
)
def test_bytes_fastavro_reads_leniently_decode_alike(data: bytes, sample: Sample) -> None:
    assert outcome(fast, data) == outcome(reference, data)
    assert fast(data).samples == (sample,)


def test_arrays_in_blocks_decode_alike() -> None:
    dtcs = b"\x02\x02" + _string("P1") + b"\x01" + _long(4) + _string("P2") + b"\x00"
    two = sample_bytes(dtcs=dtcs)
    data = frame_bytes(ONE + two + b"\x01" + _long(len(two)) + two)  # blocks of 1 and of -1
    decoded = fast(data)
    assert key(decoded) == key(reference(data))
    assert [s.dtcs for s in decoded.samples] == [("P1", "P2"), ("P1", "P2")]


BAD = {
    "nothing": b"",
    "a frame id that is not UTF-8": frame_bytes(head=b"\x04\xff\xfe" + _string("v") * 2 + b"\x02"),
    "a negative string length": frame_bytes(head=b"\x01"),
    "an ingest time past 9999": frame_bytes(ingest=MAX_MS + 1),
    "an ingest time before year 1": frame_bytes(ingest=MIN_MS - 1),
    "an event time past 9999": frame_bytes(ONE + sample_bytes(event=MAX_MS + 1)),
    "an event time before year 1": frame_bytes(ONE + sample_bytes(event=MIN_MS - 1)),
    "a union branch out of range": frame_bytes(ONE + sample_bytes(odometer=b"\x04")),
    "a negative union branch out of range": frame_bytes(ONE + sample_bytes(speed=b"\x05")),
    "a dtcs branch out of range": frame_bytes(ONE + sample_bytes(dtcs=b"\x06")),
    "a dtc that is not UTF-8": frame_bytes(ONE + sample_bytes(dtcs=b"\x02\x02\x02\xff\x00")),
    "a sample more than the bytes": frame_bytes(b"\x04" + sample_bytes()),
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_bytes_fastavro_refuses_are_a_codec_error_naming_the_record(data: bytes) -> None:
    with pytest.raises(CodecError, match="TelemetryFrame"):
        reference(data)
    with pytest.raises(CodecError, match="TelemetryFrame"):
        fast(data)


# --- the signals processor's readings -----------------------------------------------------------


def readings_or_failed(data: bytes) -> Any:
    """What ``decode_readings`` makes of ``data``, or that it failed (with a CodecError)."""
    try:
        return CODEC.decode_readings(data)
    except CodecError as exc:
        assert "TelemetryFrame" in str(exc)
        return CodecError


def readings_of_decoded(data: bytes) -> Any:
    """The readings of the frame ``decode`` makes of ``data``, or that it failed."""
    try:
        return readings_of(CODEC.decode(data))
    except CodecError:
        return CodecError


@settings(max_examples=300)
@given(wide_frames())
def test_readings_are_those_of_the_decoded_frame(frame: TelemetryFrame) -> None:
    data = CODEC.encode(frame)
    readings = CODEC.decode_readings(data)
    assert readings == readings_of(CODEC.decode(data))
    assert type(readings) is FrameReadings and list(readings.ts_ms) == sorted(readings.ts_ms)


def test_readings_of_samples_out_of_order_are_in_time_order_equal_times_as_sent() -> None:
    at = EPOCH + timedelta(days=20_000)
    samples = (
        Sample(0, at + timedelta(seconds=2), 30, dtcs=("P0300",)),
        Sample(1, at, 10),
        Sample(2, at + timedelta(seconds=2), 20),
        Sample(3, at + timedelta(seconds=1), None, dtcs=()),
    )
    frame = TelemetryFrame("VIN", "boot", 1, at, "bridge", samples)
    readings = CODEC.decode_readings(CODEC.encode(frame))
    ms = 20_000 * 86_400_000
    assert readings == FrameReadings(
        "VIN",
        (ms, ms + 1000, ms + 2000, ms + 2000),
        (10, None, 30, 20),
        (None, (), ("P0300",), None),
    )
    assert readings == readings_of(frame)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_give_readings_where_they_give_a_frame(data: bytes) -> None:
    assert readings_or_failed(data) == readings_of_decoded(data)


@settings(max_examples=1000)
@given(st.sampled_from(VALID), st.data())
def test_a_damaged_frame_gives_readings_where_it_gives_a_frame(
    valid: bytes, data: st.DataObject
) -> None:
    bad = damaged(valid, data)
    assert readings_or_failed(bad) == readings_of_decoded(bad)


def test_every_truncation_fails_for_the_readings_too() -> None:
    for valid in VALID:
        for cut in range(len(valid)):
            assert readings_or_failed(valid[:cut]) is CodecError
