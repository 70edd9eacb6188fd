"""Rows of the ``telemetry`` table in PostgreSQL's binary COPY format, straight from Avro. Pure.

The store writer needs no Python objects for a sample: :func:`frame_copy` walks a schemaless Avro
``TelemetryFrame`` (``schemas/telemetry_frame.avsc``) once and writes each sample as one binary
COPY tuple in the order of :data:`processors.store.logic.COLUMNS`: varints become big-endian
integers, Avro's little-endian doubles are byte-reversed, ``timestamp-millis`` become
microseconds since 2000-01-01, strings are copied after a UTF-8 check. Anything malformed raises
:class:`~schemas.codec.CodecError` (the record is dead-lettered), including values PostgreSQL
would refuse (a NUL in text, a time outside years 1-9999), which would otherwise fail a whole
batch.

The sample walk is written out field by field for speed, in the order of
:data:`schemas.sample.SAMPLE`; the lengths of its runs of doubles are derived from that
declaration at import time, and the unit tests check the rest of it against the declaration.
:func:`row_copy` writes a :class:`TelemetryRow` the same way, column by column as
:data:`schemas.sample.TELEMETRY_ROW` declares them (the reference the tests hold the walk to).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processors.store.logic import COLUMNS, TelemetryRow
from schemas.codec import CodecError
from schemas.sample import (
    DOUBLE,
    INT,
    LONG,
    SAMPLE,
    TELEMETRY_ROW,
    TEXT,
    TEXT_LIST,
    TIMESTAMP,
    ValueType,
    double_runs,
)

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
TRAILER = b"\xff\xff"
TUPLE_HEAD = struct.pack(">h", len(COLUMNS))  # each tuple starts with its field count
_NULL = b"\xff\xff\xff\xff"
_LEN8 = b"\x00\x00\x00\x08"
_pack_q = struct.Struct(">q").pack
_pack_i = struct.Struct(">i").pack
_pack_d = struct.Struct(">d").pack
_pack_len = struct.Struct(">i").pack
TEXT_OID = 25
PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z, PostgreSQL's epoch for timestamps
MS_MIN = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MS_MAX = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CopyRows:
    """Binary COPY tuples (no signature or trailer) and how many rows they hold."""

    data: bytes
    rows: int

    @staticmethod
    def join(parts: Iterable[CopyRows]) -> CopyRows:
        items = list(parts)
        return CopyRows(b"".join(p.data for p in items), sum(p.rows for p in items))

    def stream(self) -> bytes:
        """A complete binary COPY stream of these rows."""
        return SIGNATURE + self.data + TRAILER


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag long at ``pos`` and the position after it."""
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (value >> 1) ^ -(value & 1), pos + 1
        shift += 7
        if shift > 63:
            raise CodecError("varint longer than 10 bytes")


def _chunk(data: bytes, pos: int) -> tuple[bytes, int]:
    """The length-prefixed bytes (string) at ``pos`` and the position after them."""
    size, pos = _varint(data, pos)
    end = pos + size
    if size < 0 or end > len(data):
        raise CodecError("truncated string")
    return data[pos:end], end


def _text(data: bytes, pos: int) -> tuple[bytes, int]:
    """A string as a PostgreSQL ``text`` field: checked to be UTF-8 without NUL."""
    chunk, pos = _chunk(data, pos)
    try:
        chunk.decode()
    except UnicodeDecodeError:
        raise CodecError("a string is not UTF-8") from None
    if b"\x00" in chunk:
        raise CodecError("a string holds a NUL character")
    return _pack_len(len(chunk)) + chunk, pos


def _opt_bigint(data: bytes, pos: int) -> tuple[bytes, int]:
    branch = data[pos]
    if branch == 0:
        return _NULL, pos + 1
    if branch != 2:
        raise CodecError(f"union branch byte {branch} out of range")
    value, pos = _varint(data, pos + 1)
    return _bigint(value), pos


def _block_count(data: bytes, pos: int) -> tuple[int, int]:
    """The item count of the next array block (a negative count is followed by a size)."""
    count, pos = _varint(data, pos)
    if count < 0:
        _, pos = _varint(data, pos)
        count = -count
    return count, pos


def _opt_codes(data: bytes, pos: int) -> tuple[bytes, int]:
    branch = data[pos]
    if branch == 0:
        return _NULL, pos + 1
    if branch != 2:
        raise CodecError(f"union branch byte {branch} out of range")
    codes: list[bytes] = []
    count, pos = _block_count(data, pos + 1)
    while count:
        for _ in range(count):
            code, pos = _text(data, pos)
            codes.append(code)
        count, pos = _block_count(data, pos)
    return _text_array_of_fields(codes), pos


def _text_field(chunk: bytes) -> bytes:
    return _pack_len(len(chunk)) + chunk


def _bigint(value: int) -> bytes:
    if not LONG_MIN <= value <= LONG_MAX:
        raise CodecError(f"{value} does not fit a bigint")
    return _LEN8 + _pack_q(value)


def _timestamp(ms: int) -> bytes:
    if not MS_MIN <= ms <= MS_MAX:
        raise CodecError(f"timestamp {ms} ms is outside years 1-9999")
    return _LEN8 + _pack_q((ms - PG_EPOCH_MS) * 1000)


def _text_array_of_fields(fields: Sequence[bytes]) -> bytes:
    """A one-dimensional ``text[]`` of elements already prefixed with their length (an empty
    array has no dimension)."""
    if not fields:
        return EMPTY_TEXT_ARRAY
    body = struct.pack(">iiIii", 1, 0, TEXT_OID, len(fields), 1) + b"".join(fields)
    return _text_field(body)


EMPTY_TEXT_ARRAY = _text_field(struct.pack(">iiI", 0, 0, TEXT_OID))


_INT4_LEN = b"\x00\x00\x00\x04"
_DOUBLE_RUNS = double_runs(SAMPLE)
DOUBLES_MID = _DOUBLE_RUNS[0][1]
"""The doubles after the odometer (speed, fuel level, state of charge, 12 V battery, engine
hours): the length of the sample's first run of doubles."""
DOUBLES_END = _DOUBLE_RUNS[-1][1]
"""The doubles that end a sample (latitude, longitude): the length of its last run of doubles."""


def _opt_doubles(data: bytes, pos: int, count: int, append: Callable[[bytes], None]) -> int:
    """Append ``count`` consecutive optional doubles as fields; return the position after them
    (past the end of ``data`` if it was cut short: the caller checks)."""
    for _ in range(count):
        branch = data[pos]
        if branch == 2:
            append(_LEN8 + data[pos + 8 : pos : -1])  # the 8 bytes reversed: big-endian
            pos += 9
        elif branch == 0:
            append(_NULL)
            pos += 1
        else:
            raise CodecError(f"union branch byte {branch} out of range")
    return pos


def _sample(data: bytes, pos: int, out: list[bytes], head: bytes, ingest_ts: bytes) -> int:
    """Append one ``Sample`` record's tuple to ``out`` (as parts); return the position after it.

    ``head`` holds the field count and the frame's ``vin, boot_id, seq`` fields, ``ingest_ts``
    its ingest time field. Written out field by field in the order of
    :data:`schemas.sample.SAMPLE`: it runs once per row.
    """
    append = out.append
    index, pos = _varint(data, pos)
    if not INT_MIN <= index <= INT_MAX:
        raise CodecError(f"sample_idx {index} does not fit an int")
    event_ms, pos = _varint(data, pos)
    if not MS_MIN <= event_ms <= MS_MAX:
        raise CodecError(f"timestamp {event_ms} ms is outside years 1-9999")
    append(head)
    append(_INT4_LEN + _pack_i(index) + _LEN8 + _pack_q((event_ms - PG_EPOCH_MS) * 1000))
    append(ingest_ts)
    odometer, pos = _opt_bigint(data, pos)
    append(odometer)
    pos = _opt_doubles(data, pos, DOUBLES_MID, append)
    oil, pos = _opt_bigint(data, pos)
    append(oil)
    codes, pos = _opt_codes(data, pos)
    append(codes)
    pos = _opt_doubles(data, pos, DOUBLES_END, append)
    if pos > len(data):
        raise CodecError("truncated double")
    return pos


def frame_copy(data: bytes) -> CopyRows:
    """The samples of one Avro ``TelemetryFrame`` as binary COPY tuples."""
    try:
        _, pos = _chunk(data, 0)  # frame_id: not a column
        vin, pos = _text(data, pos)
        boot_id, pos = _text(data, pos)
        seq, pos = _varint(data, pos)
        ingest_ms, pos = _varint(data, pos)
        _, pos = _chunk(data, pos)  # bridge_id: not a column
        head = TUPLE_HEAD + vin + boot_id + _bigint(seq)
        ingest_ts = _timestamp(ingest_ms)
        parts: list[bytes] = []
        rows = 0
        count, pos = _block_count(data, pos)
        while count:
            for _ in range(count):
                pos = _sample(data, pos, parts, head, ingest_ts)
            rows += count
            count, pos = _block_count(data, pos)
    except IndexError:
        raise CodecError("truncated record") from None
    return CopyRows(b"".join(parts), rows)


def _ms(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _int4(value: int) -> bytes:
    return _INT4_LEN + _pack_i(value)


def _float8(value: float) -> bytes:
    return _LEN8 + _pack_d(value)


def _time(moment: datetime) -> bytes:
    return _timestamp(_ms(moment))


def _text_value(value: str) -> bytes:
    return _text_field(value.encode())


def _codes(codes: Sequence[str]) -> bytes:
    return _text_array_of_fields([_text_field(c.encode()) for c in codes])


_ENCODERS: dict[ValueType, Callable[[Any], bytes]] = {
    INT: _int4,
    LONG: _bigint,
    DOUBLE: _float8,
    TIMESTAMP: _time,
    TEXT: _text_value,
    TEXT_LIST: _codes,
}


def _or_null(encode: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def encode_optional(value: Any) -> bytes:
        return _NULL if value is None else encode(value)

    return encode_optional


_ROW_ENCODERS = tuple(
    _or_null(_ENCODERS[c.type]) if c.nullable else _ENCODERS[c.type] for c in TELEMETRY_ROW
)


def row_copy(row: TelemetryRow) -> bytes:
    """One :class:`TelemetryRow` as a binary COPY tuple (times at millisecond precision)."""
    fields = [encode(value) for encode, value in zip(_ROW_ENCODERS, row, strict=True)]
    return TUPLE_HEAD + b"".join(fields)


def rows_copy(rows: Iterable[TelemetryRow]) -> CopyRows:
    encoded = [row_copy(row) for row in rows]
    return CopyRows(b"".join(encoded), len(encoded))
