"""The Avro codec: parses ``schemas/*.avsc`` once and turns fastavro errors into our own.

Encoding a :class:`TelemetryFrame` is on the normalizer's hot path, so it is written out by hand
for ``telemetry_frame.avsc`` (a few microseconds instead of fastavro's dictionary walk); the
bytes are exactly fastavro's (the unit tests compare the two on generated frames, and on a sample
with each signal of :data:`schemas.sample.SIGNAL_FIELDS` set in turn).

The signals processor decodes every frame of the topic, so :meth:`FrameCodec.decode` is written
out by hand for the schema as well (built of :mod:`schemas.avro_read`): about half the time of
fastavro's reader and the records built from its dictionary, which
:meth:`FrameCodec.decode_fastavro` still does. The two return the same frames and fail on the same
bytes: the unit tests compare them on generated frames and on damaged bytes, and check the
decoder's layout (:data:`FRAME_LAYOUT`) against the schema file. What the signals processor uses
of a frame (its samples' times, odometers and codes) it reads by :meth:`FrameCodec.
decode_readings`, which parses the same bytes without building the records (tested to give the
readings of the decoded frame, and to refuse what :meth:`FrameCodec.decode` refuses).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

import fastavro
from fastavro.types import Schema

from kernel.errors import DataError
from schemas.avro_read import (
    MAX_MS,
    MIN_MS,
    READ_ERRORS,
    ZIGZAG,
    read_block_count,
    read_long,
    read_optional_double,
    read_optional_long,
    read_present,
    read_string,
    slot_setters,
)
from schemas.records import Sample, TelemetryFrame, frame_id

SampleValues = tuple[Any, ...]
"""A sample's fields in the order of :data:`schemas.sample.SAMPLE` (the schema's), ``event_ts``
as ms since the epoch (see ``encode_values``)."""


class CodecError(DataError):
    """Bytes that are not a valid record of the expected schema."""

    def __init__(self, detail: str) -> None:
        super().__init__("undecodable", detail)


@cache
def load_avro_schema(name: str) -> Schema:
    """Parse ``schemas/{name}.avsc`` (once per process)."""
    text = resources.files("schemas").joinpath(f"{name}.avsc").read_text(encoding="utf-8")
    return fastavro.parse_schema(json.loads(text))


# What fastavro raises for bytes that are not a record of the schema: a short read, a bad union
# branch or enum index, text that is not UTF-8, a timestamp outside Python's years 1-9999.
_READ_ERRORS = (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError, OverflowError)


def read_avro(data: bytes, schema: Schema, what: str) -> Any:
    """Schemaless Avro ``data`` read with ``schema``; :class:`CodecError` naming ``what`` if the
    bytes are not such a record."""
    try:
        return fastavro.schemaless_reader(io.BytesIO(data), schema, None)
    except _READ_ERRORS as exc:
        raise CodecError(f"not a {what}: {exc!r}") from exc


@cache
def load_json_schema(name: str) -> dict[str, Any]:
    """Load ``schemas/{name}.schema.json`` (the device payload contract)."""
    text = resources.files("schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


class FrameReadings(NamedTuple):
    """What the signals processor reads of a frame: its vehicle, and its samples' event times
    (ms since the epoch), odometers (m) and active codes, the samples in time order (a stable
    sort). A tuple: :meth:`FrameCodec.decode_readings` makes one without the frame's records
    (their datetimes and a dozen fields a sample)."""

    vin: str
    ts_ms: tuple[int, ...]
    odometer_m: tuple[int | None, ...]
    dtcs: tuple[tuple[str, ...] | None, ...]


def _readings(
    vin: str,
    ts_ms: tuple[int, ...],
    odometer_m: tuple[int | None, ...],
    dtcs: tuple[tuple[str, ...] | None, ...],
) -> FrameReadings:
    # tuple.__new__ directly: a named tuple's own __new__ is interpreted
    return tuple.__new__(FrameReadings, (vin, ts_ms, odometer_m, dtcs))


def readings_of(frame: TelemetryFrame) -> FrameReadings:
    """The :class:`FrameReadings` of a decoded frame."""
    samples = sorted(frame.samples, key=lambda s: s.event_ts)
    return _readings(
        frame.vin,
        tuple(_ms(s.event_ts) for s in samples),
        tuple(s.odometer_m for s in samples),
        tuple(s.dtcs for s in samples),
    )


class FrameCodec:
    """Encodes and decodes :class:`TelemetryFrame` records as schemaless Avro."""

    def __init__(self) -> None:
        self._schema = load_avro_schema("telemetry_frame")

    def encode(self, frame: TelemetryFrame) -> bytes:
        """Schemaless Avro of ``frame``; :class:`CodecError` if a value does not fit the schema."""
        try:
            ingest_ms = _ms(frame.ingest_ts)
            samples = [
                (
                    s.sample_idx,
                    _ms(s.event_ts),
                    s.odometer_m,
                    s.speed_kmh,
                    s.fuel_level_pct,
                    s.soc_pct,
                    s.battery_12v_v,
                    s.engine_hours_h,
                    s.oil_life_remaining_s,
                    s.dtcs,
                    s.latitude_deg,
                    s.longitude_deg,
                )
                for s in frame.samples
            ]
        except (TypeError, AttributeError) as exc:
            raise CodecError(f"cannot encode frame {frame.frame_id}: {exc}") from exc
        return self.encode_values(
            frame.vin, frame.boot_id, frame.seq, ingest_ms, frame.bridge_id, samples
        )

    def encode_values(
        self,
        vin: str,
        boot_id: str,
        seq: int,
        ingest_ts_ms: int,
        bridge_id: str,
        samples: Sequence[SampleValues],
    ) -> bytes:
        """The Avro of the frame with these values, built without the record objects.

        Each sample is ``(sample_idx, event_ts_ms, odometer_m, speed_kmh, fuel_level_pct,
        soc_pct, battery_12v_v, engine_hours_h, oil_life_remaining_s, dtcs, latitude_deg,
        longitude_deg)``: the fields of :class:`Sample`, times in ms since the epoch.
        """
        fid = frame_id(vin, boot_id, seq)
        try:
            return _encode(fid, vin, boot_id, seq, ingest_ts_ms, bridge_id, samples)
        except (ValueError, TypeError, OverflowError, struct.error) as exc:
            raise CodecError(f"cannot encode frame {fid}: {exc}") from exc

    def decode(self, data: bytes) -> TelemetryFrame:
        """The frame of ``data``, read by the decoder written for the schema; :class:`CodecError`
        for bytes that are not a ``TelemetryFrame``."""
        try:
            return _decode(data)
        except READ_ERRORS as exc:
            raise CodecError(f"not a TelemetryFrame: {exc!r}") from exc

    def decode_readings(self, data: bytes) -> FrameReadings:
        """``readings_of(decode(data))``, read without the frame's records (the signals
        processor's decoder); :class:`CodecError` for the bytes :meth:`decode` refuses."""
        try:
            return _decode_readings(data)
        except READ_ERRORS as exc:
            raise CodecError(f"not a TelemetryFrame: {exc!r}") from exc

    def decode_fastavro(self, data: bytes) -> TelemetryFrame:
        """:meth:`decode` by way of fastavro's dictionary: slower, the reference the unit tests
        compare the decoder with."""
        rec: Any = read_avro(data, self._schema, "TelemetryFrame")
        samples = tuple(
            Sample(**{**s, "dtcs": tuple(s["dtcs"]) if s["dtcs"] is not None else None})
            for s in rec["samples"]
        )
        return TelemetryFrame(
            vin=rec["vin"],
            boot_id=rec["boot_id"],
            seq=rec["seq"],
            ingest_ts=rec["ingest_ts"],
            bridge_id=rec["bridge_id"],
            samples=samples,
        )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
_NULL = b"\x00"
_PRESENT = b"\x02"  # union branch 1 (the value), written as a zig-zag long
_END = b"\x00"  # end of an array's blocks
# Base-128 groups of 14 bits: every byte flagged "more follows", or the last group, minimal.
_MORE14 = tuple(bytes([(c & 0x7F) | 0x80, (c >> 7) | 0x80]) for c in range(1 << 14))
_LAST14 = tuple(
    bytes([c]) if c < 0x80 else bytes([(c & 0x7F) | 0x80, c >> 7]) for c in range(1 << 14)
)
_pack_double: Callable[[float], bytes] = struct.Struct("<d").pack


def _long(n: int) -> bytes:
    """Avro ``long``: zig-zag, then little-endian base-128."""
    z = (n << 1) ^ (n >> 63)
    if z < 1 << 14:
        if n < LONG_MIN:
            raise OverflowError(f"{n} does not fit a long")
        return _LAST14[z]
    if z < 1 << 28:
        return _MORE14[z & 0x3FFF] + _LAST14[z >> 14]
    if z < 1 << 42:
        return _MORE14[z & 0x3FFF] + _MORE14[(z >> 14) & 0x3FFF] + _LAST14[z >> 28]
    if not LONG_MIN <= n <= LONG_MAX:
        raise OverflowError(f"{n} does not fit a long")
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return _long(len(data)) + data


def _ms(moment: datetime) -> int:
    """``timestamp-millis`` of an aware datetime, truncated as fastavro does."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _strings(values: tuple[str, ...]) -> bytes:
    if not values:
        return _PRESENT + _END
    return b"".join((_PRESENT, _long(len(values)), *map(_string, values), _END))


def _encode_sample(values: SampleValues) -> bytes:
    """One ``Sample`` record; optional fields are ``["null", T]`` unions (branch 0 or 1)."""
    index, event_ms, odometer, speed, fuel, soc, volts, hours, oil, dtcs, lat, lon = values
    if not INT_MIN <= index <= INT_MAX:
        raise OverflowError(f"sample_idx {index} does not fit an int")
    d = _pack_double
    return b"".join(
        (
            _long(index),
            _long(event_ms),
            _NULL if odometer is None else _PRESENT + _long(odometer),
            _NULL if speed is None else _PRESENT + d(speed),
            _NULL if fuel is None else _PRESENT + d(fuel),
            _NULL if soc is None else _PRESENT + d(soc),
            _NULL if volts is None else _PRESENT + d(volts),
            _NULL if hours is None else _PRESENT + d(hours),
            _NULL if oil is None else _PRESENT + _long(oil),
            _NULL if dtcs is None else _strings(dtcs),
            _NULL if lat is None else _PRESENT + d(lat),
            _NULL if lon is None else _PRESENT + d(lon),
        )
    )


def _encode(
    fid: str,
    vin: str,
    boot_id: str,
    seq: int,
    ingest_ts_ms: int,
    bridge_id: str,
    samples: Sequence[SampleValues],
) -> bytes:
    """``telemetry_frame.avsc`` field by field, arrays as one block (fastavro's layout)."""
    return b"".join(
        (
            _string(fid),
            _string(vin),
            _string(boot_id),
            _long(seq),
            _long(ingest_ts_ms),
            _string(bridge_id),
            *((_long(len(samples)), *map(_encode_sample, samples)) if samples else ()),
            _END,
        )
    )


# --- the decoder, written out for telemetry_frame.avsc ------------------------------------------

FRAME_LAYOUT: dict[str, tuple[tuple[str, str], ...]] = {
    "TelemetryFrame": (
        ("frame_id", "string"),
        ("vin", "string"),
        ("boot_id", "string"),
        ("seq", "long"),
        ("ingest_ts", "timestamp-millis"),
        ("bridge_id", "string"),
        ("samples", "array<Sample>"),
    ),
    "Sample": (
        ("sample_idx", "int"),
        ("event_ts", "timestamp-millis"),
        ("odometer_m", "null|long"),
        ("speed_kmh", "null|double"),
        ("fuel_level_pct", "null|double"),
        ("soc_pct", "null|double"),
        ("battery_12v_v", "null|double"),
        ("engine_hours_h", "null|double"),
        ("oil_life_remaining_s", "null|long"),
        ("dtcs", "null|array<string>"),
        ("latitude_deg", "null|double"),
        ("longitude_deg", "null|double"),
    ),
}
"""The records and fields the decoder reads, in the schema's order: a type is a primitive, a
logical type, a record, ``null|T`` for a union of null and T, ``array<T>``."""

_new = object.__new__
_FRAME_SETTERS = slot_setters(TelemetryFrame)
_SAMPLE_SETTERS = slot_setters(Sample)


def _dtcs(data: bytes, pos: int) -> tuple[tuple[str, ...] | None, int]:
    """``["null", {"type": "array", "items": "string"}]``, the array as a tuple."""
    b = data[pos]
    if b == 0:
        return None, pos + 1
    present, pos = (True, pos + 1) if b == 2 else read_present(data, pos)
    if not present:
        return None, pos
    if data[pos] == 0:
        return (), pos + 1
    codes: list[str] = []
    count, pos = read_block_count(data, pos)
    while count:
        for _ in range(count):
            code, pos = read_string(data, pos)
            codes.append(code)
        count, pos = read_block_count(data, pos)
    return tuple(codes), pos


_SampleRead = tuple[
    int,  # sample_idx
    int,  # event_ts, ms since the epoch
    int | None,  # odometer_m
    float | None,  # speed_kmh
    float | None,  # fuel_level_pct
    float | None,  # soc_pct
    float | None,  # battery_12v_v
    float | None,  # engine_hours_h
    int | None,  # oil_life_remaining_s
    tuple[str, ...] | None,  # dtcs
    float | None,  # latitude_deg
    float | None,  # longitude_deg
    int,  # the position after the sample
]


def _sample_fields(data: bytes, pos: int) -> _SampleRead:
    """A sample's fields in the schema's order, and the position after it."""
    b = data[pos]
    if b < 0x80:
        index, pos = ZIGZAG[b], pos + 1
    else:
        index, pos = read_long(data, pos)
    event_ms, pos = read_long(data, pos)
    if not MIN_MS <= event_ms <= MAX_MS:
        raise OverflowError(f"event_ts {event_ms} ms is out of range")
    odometer, pos = read_optional_long(data, pos)
    speed, pos = read_optional_double(data, pos)
    fuel, pos = read_optional_double(data, pos)
    soc, pos = read_optional_double(data, pos)
    volts, pos = read_optional_double(data, pos)
    hours, pos = read_optional_double(data, pos)
    oil, pos = read_optional_long(data, pos)
    dtcs, pos = _dtcs(data, pos)
    lat, pos = read_optional_double(data, pos)
    lon, pos = read_optional_double(data, pos)
    return index, event_ms, odometer, speed, fuel, soc, volts, hours, oil, dtcs, lat, lon, pos


def _sample(data: bytes, pos: int) -> tuple[Sample, int]:
    (index, event_ms, odometer, speed, fuel, soc, volts, hours, oil, dtcs, lat, lon, pos) = (
        _sample_fields(data, pos)
    )
    (
        set_index,
        set_event_ts,
        set_odometer,
        set_speed,
        set_fuel,
        set_soc,
        set_volts,
        set_hours,
        set_oil,
        set_dtcs,
        set_lat,
        set_lon,
    ) = _SAMPLE_SETTERS
    s = _new(Sample)
    set_index(s, index)
    set_event_ts(s, EPOCH + timedelta(0, 0, 0, event_ms))
    set_odometer(s, odometer)
    set_speed(s, speed)
    set_fuel(s, fuel)
    set_soc(s, soc)
    set_volts(s, volts)
    set_hours(s, hours)
    set_oil(s, oil)
    set_dtcs(s, dtcs)
    set_lat(s, lat)
    set_lon(s, lon)
    return s, pos


def _header(data: bytes) -> tuple[str, str, int, int, str, int]:
    """``(vin, boot_id, seq, ingest_ts ms, bridge_id)`` and the position of the samples."""
    _frame_id, pos = read_string(data, 0)  # not kept (the frame's id is derived), but UTF-8
    vin, pos = read_string(data, pos)
    boot_id, pos = read_string(data, pos)
    seq, pos = read_long(data, pos)
    ingest_ms, pos = read_long(data, pos)
    if not MIN_MS <= ingest_ms <= MAX_MS:
        raise OverflowError(f"ingest_ts {ingest_ms} ms is out of range")
    bridge_id, pos = read_string(data, pos)
    return vin, boot_id, seq, ingest_ms, bridge_id, pos


def _decode_readings(data: bytes) -> FrameReadings:
    """:func:`readings_of` the frame of ``data``, read without its records: the same bytes
    accepted and refused as by :func:`_decode`."""
    vin, _boot_id, _seq, _ingest_ms, _bridge_id, pos = _header(data)
    ts: list[int] = []
    odometers: list[int | None] = []
    codes: list[tuple[str, ...] | None] = []
    ordered = True
    count, pos = read_block_count(data, pos)
    while count:
        for _ in range(count):
            _, event_ms, odometer, _, _, _, _, _, _, dtcs, _, _, pos = _sample_fields(data, pos)
            if ts and event_ms < ts[-1]:
                ordered = False
            ts.append(event_ms)
            odometers.append(odometer)
            codes.append(dtcs)
        count, pos = read_block_count(data, pos)
    if ordered:
        return _readings(vin, tuple(ts), tuple(odometers), tuple(codes))
    order = sorted(range(len(ts)), key=ts.__getitem__)  # stable, as samples sorted by time
    return _readings(
        vin,
        tuple(ts[i] for i in order),
        tuple(odometers[i] for i in order),
        tuple(codes[i] for i in order),
    )


def _decode(data: bytes) -> TelemetryFrame:
    """The :class:`TelemetryFrame` of a ``TelemetryFrame``'s bytes; :data:`READ_ERRORS` if they
    are none. Trailing bytes are left unread, as fastavro leaves them."""
    vin, boot_id, seq, ingest_ms, bridge_id, pos = _header(data)
    samples: list[Sample] = []
    count, pos = read_block_count(data, pos)
    while count:
        for _ in range(count):
            sample, pos = _sample(data, pos)
            samples.append(sample)
        count, pos = read_block_count(data, pos)
    set_vin, set_boot_id, set_seq, set_ingest_ts, set_bridge_id, set_samples = _FRAME_SETTERS
    frame = _new(TelemetryFrame)
    set_vin(frame, vin)
    set_boot_id(frame, boot_id)
    set_seq(frame, seq)
    set_ingest_ts(frame, EPOCH + timedelta(0, 0, 0, ingest_ms))
    set_bridge_id(frame, bridge_id)
    set_samples(frame, tuple(samples))
    return frame
