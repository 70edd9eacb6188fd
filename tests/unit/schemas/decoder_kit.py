"""What the tests of the decoders written out for a schema compare: decoded records made
comparable (floats by their bits, every value with its type), and a decode's outcome."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from schemas.codec import CodecError


def key(value: Any) -> Any:
    """``value`` made comparable: a float by its bits (NaN is then equal to itself), a datetime
    with its zone, every value with its type."""
    if isinstance(value, float):
        return float, struct.pack("<d", value)
    if isinstance(value, datetime):
        return datetime, value, value.tzinfo
    if isinstance(value, tuple):
        return tuple, tuple(key(v) for v in value)
    if is_dataclass(value):
        return type(value), tuple(key(getattr(value, f.name)) for f in fields(value))
    return type(value), value


def decoded_or_failed(decode: Callable[[bytes], Any], data: bytes, record: str) -> Any:
    """The key of what ``decode`` returns, or that it failed: only ever with a CodecError
    naming ``record``."""
    try:
        return key(decode(data))
    except CodecError as exc:
        assert record in str(exc)
        return CodecError


def damaged(valid: bytes, data: st.DataObject) -> bytes:
    """``valid`` with one to three bytes overwritten (Avro's small varints, their continuation
    bit, or any byte)."""
    out = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 3))):
        out[data.draw(st.integers(0, len(valid) - 1))] = data.draw(
            st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x0C, 0x7F, 0x80, 0xFF])
            | st.integers(0, 255)
        )
    return bytes(out)
