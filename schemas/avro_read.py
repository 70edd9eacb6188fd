"""Readers of schemaless Avro values at an offset of a byte string, for decoders written out by
hand for one schema, and the setters those decoders build frozen records with (pure).

Each reader takes the bytes and an offset and returns the value and the offset after it. They
read as fastavro's ``schemaless_reader`` does, its leniencies included, so that a decoder built
of them returns fastavro's values for any bytes fastavro reads, and fails where fastavro fails:

- a ``long`` (or ``int``) is read into 64 bits as fastavro's C code reads it: a varint longer
  than ten bytes wraps instead of failing, and an ``int`` is not checked against 32 bits;
- a union branch or an enum index counts from the end when negative (fastavro indexes a list);
- a ``boolean`` is true for any byte but 0 (``struct``'s ``?`` reads them so);
- an array block with a negative count is followed by its size in bytes, which is skipped;
- trailing bytes after a record are the caller's concern (fastavro leaves them unread).

A reader raises one of :data:`READ_ERRORS` for bytes that are not a value of the type: the
decoder turns them into its own error.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import fields
from datetime import date
from typing import Any

READ_ERRORS = (EOFError, IndexError, ValueError, OverflowError, UnicodeDecodeError, struct.error)
"""What the readers raise for bytes that are not a value (``struct.error`` for a short double;
``UnicodeDecodeError`` is a ``ValueError``, named for the reader)."""

_MASK64 = (1 << 64) - 1
_LONG_MIN = -(1 << 63)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
"""The ``date`` logical type's day 0: ``date.fromordinal(days + EPOCH_ORDINAL)``."""
MIN_DAYS, MAX_DAYS = 1 - EPOCH_ORDINAL, date.max.toordinal() - EPOCH_ORDINAL
MIN_MS, MAX_MS = -62_135_596_800_000, 253_402_300_799_999
"""``timestamp-millis`` of 0001-01-01 and of 9999-12-31 23:59:59.999 UTC: Python's range."""

ZIGZAG = tuple((b >> 1) ^ -(b & 1) for b in range(0x80))
"""The ``long`` of a one-byte varint, by the byte."""

read_double = struct.Struct("<d").unpack_from
"""``(value,)`` of the little-endian double at an offset; ``struct.error`` if the bytes end."""


def doubles(count: int) -> struct.Struct:
    """The ``unpack_from`` of ``count`` consecutive doubles (one call for a record's run)."""
    return struct.Struct(f"<{count}d")


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """Avro ``long``: base-128 little-endian, zig-zag; wrapped to 64 bits as fastavro does.

    Written out for up to six bytes (a timestamp in milliseconds), then a loop."""
    b = data[pos]
    if b < 0x80:
        return ZIGZAG[b], pos + 1
    n = b & 0x7F
    b = data[pos + 1]
    if b < 0x80:
        n |= b << 7
        return (n >> 1) ^ -(n & 1), pos + 2
    n |= (b & 0x7F) << 7
    b = data[pos + 2]
    if b < 0x80:
        n |= b << 14
        return (n >> 1) ^ -(n & 1), pos + 3
    n |= (b & 0x7F) << 14
    b = data[pos + 3]
    if b < 0x80:
        n |= b << 21
        return (n >> 1) ^ -(n & 1), pos + 4
    n |= (b & 0x7F) << 21
    b = data[pos + 4]
    if b < 0x80:
        n |= b << 28
        return (n >> 1) ^ -(n & 1), pos + 5
    n |= (b & 0x7F) << 28
    b = data[pos + 5]
    if b < 0x80:
        n |= b << 35
        return (n >> 1) ^ -(n & 1), pos + 6
    n |= (b & 0x7F) << 35
    pos += 6
    shift = 42
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << (shift & 63)  # fastavro's C shift of 64 bits: the count taken mod 64
        shift += 7
        if b < 0x80:
            n &= _MASK64
            return (n >> 1) ^ -(n & 1), pos


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    """Avro ``string``: a ``long`` byte count, then UTF-8."""
    b = data[pos]
    if b < 0x80:
        size = ZIGZAG[b]
        pos += 1
    else:
        size, pos = read_long(data, pos)
    end = pos + size
    if size < 0 or end > len(data):
        raise EOFError(f"a string of {size} bytes at byte {pos} of {len(data)}")
    return data[pos:end].decode(), end


def read_optional_string(data: bytes, pos: int) -> tuple[str | None, int]:
    """Avro ``["null", "string"]``."""
    b = data[pos]
    if b == 2:
        return read_string(data, pos + 1)
    if b == 0:
        return None, pos + 1
    present, pos = read_present(data, pos)
    return read_string(data, pos) if present else (None, pos)


def read_optional_long(data: bytes, pos: int) -> tuple[int | None, int]:
    """Avro ``["null", "long"]``."""
    b = data[pos]
    if b == 2:
        b = data[pos + 1]
        if b < 0x80:
            return ZIGZAG[b], pos + 2
        return read_long(data, pos + 1)
    if b == 0:
        return None, pos + 1
    present, pos = read_present(data, pos)
    return read_long(data, pos) if present else (None, pos)


def read_optional_double(data: bytes, pos: int) -> tuple[float | None, int]:
    """Avro ``["null", "double"]``."""
    b = data[pos]
    if b == 2:
        return read_double(data, pos + 1)[0], pos + 9
    if b == 0:
        return None, pos + 1
    present, pos = read_present(data, pos)
    return (read_double(data, pos)[0], pos + 8) if present else (None, pos)


def read_present(data: bytes, pos: int) -> tuple[bool, int]:
    """The branch of a ``["null", T]`` union: whether the value (branch 1) follows."""
    index, pos = read_long(data, pos)
    if not -2 <= index <= 1:
        raise IndexError(f"union branch {index} of 2")
    return index in (1, -1), pos


def read_enum(data: bytes, pos: int, symbols: tuple[str, ...]) -> tuple[str, int]:
    """Avro ``enum``: the symbol at the ``int`` index (``IndexError`` past either end)."""
    b = data[pos]
    if b < 0x80:
        return symbols[ZIGZAG[b]], pos + 1
    index, pos = read_long(data, pos)
    return symbols[index], pos


def read_block_count(data: bytes, pos: int) -> tuple[int, int]:
    """The item count of an array block, 0 for the end. A negative count is followed by the
    block's size, skipped; it stays negative only for -2**63, whose negation wraps in fastavro's
    C code: a block of no items (``range`` of it is empty), not the end."""
    count, pos = read_long(data, pos)
    if count < 0:
        _, pos = read_long(data, pos)
        if count != _LONG_MIN:
            count = -count
    return count, pos


Setter = Callable[[Any, Any], None]
"""Stores a value in one field of a record: ``setter(record, value)``."""


def slot_setters(cls: type) -> tuple[Setter, ...]:
    """The ``__set__`` of each field's slot of the frozen dataclass ``cls``, in field order.

    A decoder builds its records with ``object.__new__(cls)`` and these, which store a slot
    directly: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    about twice the time. The object is the one ``cls(...)`` builds (the decoders' unit tests
    compare them, hash and freezing included); every field must be set."""
    return tuple(vars(cls)[f.name].__set__ for f in fields(cls))
