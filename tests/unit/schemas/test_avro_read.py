"""The Avro value readers read what fastavro reads, and fail where it fails."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.avro_read import (
    MAX_DAYS,
    MAX_MS,
    MIN_DAYS,
    MIN_MS,
    READ_ERRORS,
    doubles,
    read_block_count,
    read_double,
    read_enum,
    read_long,
    read_optional_double,
    read_optional_long,
    read_optional_string,
    read_present,
    read_string,
    slot_setters,
)
from schemas.codec import _long, _string

SYMBOLS = ("a", "b", "c")
LONG = (-(1 << 63), (1 << 63) - 1)


def fastavro_read(schema: Any, data: bytes) -> tuple[str, Any, int]:
    """``("ok", value, bytes read)`` or ``("error", exception type, 0)``, from fastavro."""
    buf = io.BytesIO(data)
    try:
        value = fastavro.schemaless_reader(buf, fastavro.parse_schema(schema), None)
    except (*READ_ERRORS, StopIteration) as exc:
        return "error", type(exc), 0
    return "ok", value, buf.tell()


def ours(read: Callable[[bytes, int], tuple[Any, int]], data: bytes) -> tuple[str, Any, int]:
    try:
        value, end = read(data, 0)
    except READ_ERRORS as exc:
        return "error", type(exc), 0
    return "ok", value, end


def same(a: tuple[str, Any, int], b: tuple[str, Any, int]) -> bool:
    """Both read the same value to the same offset, or both failed."""
    return a[0] == b[0] == "error" or a == b


# bytes that are mostly varint continuation bytes, or not
varint_bytes = st.binary(max_size=24) | st.lists(
    st.sampled_from([0x80, 0xFF, 0x81, 0x00, 0x01, 0x7F, 0x02]), max_size=24
).map(bytes)


@given(varint_bytes)
def test_a_long_is_read_as_fastavro_reads_it_wrapped_to_64_bits(data: bytes) -> None:
    assert same(ours(read_long, data), fastavro_read("long", data))


@given(st.integers(*LONG))
def test_every_long_reads_back(n: int) -> None:
    assert read_long(_long(n) + b"\x00", 0) == (n, len(_long(n)))


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"\x80" * 9 + b"\x02", 0),  # the tenth byte's bit 64 is lost
        (b"\x80" * 10 + b"\x01", 32),  # an eleventh byte shifts by 70 mod 64
        (b"\xff" * 10 + b"\x7f", -(1 << 63)),
        (b"\x81\x80\x00", -1),  # not minimal, still read
    ],
)
def test_long_varints_wrap_as_in_fastavro(data: bytes, value: int) -> None:
    assert read_long(data, 0) == (value, len(data))
    assert fastavro_read("long", data)[1] == value


@given(st.text(max_size=80) | st.binary(max_size=80).map(lambda b: b.decode("latin-1")))
def test_a_string_is_read_as_fastavro_reads_it(text: str) -> None:
    data = _string(text)
    assert read_string(data, 0) == (text, len(data))


@given(st.binary(max_size=40))
def test_bad_strings_fail_as_in_fastavro(data: bytes) -> None:
    assert same(ours(read_string, data), fastavro_read("string", data))


@pytest.mark.parametrize(
    "data",
    [
        b"\x01",  # length -1
        b"\x03abc",  # length -2, with bytes after it
        b"\x06ab",  # 3 bytes announced, 2 there
        b"\x04\xff\xfe",  # not UTF-8
        b"\x04\xed\xa0",  # half a surrogate pair
        b"\x80",  # the length ends early
        b"",
    ],
)
def test_strings_fastavro_refuses_are_refused(data: bytes) -> None:
    assert fastavro_read("string", data)[0] == "error"
    with pytest.raises(READ_ERRORS):
        read_string(data, 0)


@given(st.binary(max_size=12))
def test_a_union_of_null_and_string_is_read_as_fastavro_reads_it(data: bytes) -> None:
    assert same(ours(read_optional_string, data), fastavro_read(["null", "string"], data))


@given(st.binary(max_size=12) | st.sampled_from([b"\x02\x8a\x80\x00", b"\x01\x7f", b"\x03"]))
def test_a_union_of_null_and_long_is_read_as_fastavro_reads_it(data: bytes) -> None:
    assert same(ours(read_optional_long, data), fastavro_read(["null", "long"], data))


@given(st.binary(max_size=12) | st.binary(min_size=8, max_size=8).map(lambda b: b"\x02" + b))
def test_a_union_of_null_and_double_is_read_as_fastavro_reads_it(data: bytes) -> None:
    def bits(read: tuple[str, Any, int]) -> tuple[str, Any, int]:
        kind, value, end = read
        return (kind, struct.pack("<d", value), end) if isinstance(value, float) else read

    expected = fastavro_read(["null", "double"], data)
    assert same(bits(ours(read_optional_double, data)), bits(expected))


@pytest.mark.parametrize(
    ("data", "present"),
    [(b"\x00", False), (b"\x02", True), (b"\x01", True), (b"\x03", False), (b"\x80\x00", False)],
)
def test_union_branches_count_from_the_end_when_negative(data: bytes, present: bool) -> None:
    assert read_present(data, 0) == (present, len(data))
    assert fastavro_read(["null", "long"], data + b"\x00")[1] == (0 if present else None)


@pytest.mark.parametrize("data", [b"\x04", b"\x05", b"\xff\x01", b"\xff\x80"])
def test_union_branches_out_of_range_are_refused(data: bytes) -> None:
    assert fastavro_read(["null", "long"], data + b"\x00")[0] == "error"
    with pytest.raises(READ_ERRORS):
        read_present(data + b"\x00", 0)


@given(st.binary(max_size=6))
def test_an_enum_is_read_as_fastavro_reads_it(data: bytes) -> None:
    schema = {"type": "enum", "name": "E", "symbols": list(SYMBOLS)}
    assert same(ours(lambda d, p: read_enum(d, p, SYMBOLS), data), fastavro_read(schema, data))


@given(st.binary(max_size=9))
def test_a_double_is_read_as_fastavro_reads_it(data: bytes) -> None:
    def double(d: bytes, p: int) -> tuple[float, int]:
        return read_double(d, p)[0], p + 8

    expected = fastavro_read("double", data)
    got = ours(double, data)
    assert got[0] == expected[0]
    if got[0] == "ok":
        assert struct.pack("<d", got[1]) == struct.pack("<d", expected[1])


def test_a_run_of_doubles_is_read_at_once() -> None:
    data = b"x" + struct.pack("<3d", 1.5, float("inf"), -0.0)
    assert doubles(3).unpack_from(data, 1) == (1.5, float("inf"), -0.0)
    with pytest.raises(READ_ERRORS):
        doubles(3).unpack_from(data, 2)


def read_longs(data: bytes, pos: int) -> tuple[list[int], int]:
    """An array of longs, read block by block."""
    items: list[int] = []
    count, pos = read_block_count(data, pos)
    while count:
        for _ in range(count):
            item, pos = read_long(data, pos)
            items.append(item)
        count, pos = read_block_count(data, pos)
    return items, pos


@given(st.binary(max_size=16))
def test_an_array_is_read_as_fastavro_reads_it(data: bytes) -> None:
    assert same(ours(read_longs, data), fastavro_read({"type": "array", "items": "long"}, data))


@pytest.mark.parametrize(
    ("data", "items"),
    [
        (b"\x00", []),
        (b"\x04\x02\x04\x00", [1, 2]),
        (b"\x02\x02\x02\x04\x00", [1, 2]),  # two blocks
        (b"\x03\x02\x02\x04\x00", [1, 2]),  # a count of -2, then the block's size
        (b"\xff" * 9 + b"\x01\x00\x02\x02\x00", [1]),  # -2**63: no items, not the end
    ],
)
def test_array_blocks(data: bytes, items: list[int]) -> None:
    assert read_longs(data, 0) == (items, len(data))
    assert fastavro_read({"type": "array", "items": "long"}, data)[1] == items


def test_the_ranges_of_dates_and_timestamps_are_fastavros() -> None:
    date_schema = {"type": "int", "logicalType": "date"}
    ts_schema = {"type": "long", "logicalType": "timestamp-millis"}
    for days, ok in (
        (MIN_DAYS, True),
        (MAX_DAYS, True),
        (MIN_DAYS - 1, False),
        (MAX_DAYS + 1, False),
    ):
        assert fastavro_read(date_schema, _long(days))[0] == ("ok" if ok else "error")
    for ms, ok in ((MIN_MS, True), (MAX_MS, True), (MIN_MS - 1, False), (MAX_MS + 1, False)):
        assert fastavro_read(ts_schema, _long(ms))[0] == ("ok" if ok else "error")


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    label: str | None


def test_records_built_with_slot_setters_are_the_dataclasses_records() -> None:
    set_x, set_label = slot_setters(Point)
    point = object.__new__(Point)
    set_x(point, 3)
    set_label(point, "a")
    assert point == Point(3, "a") and hash(point) == hash(Point(3, "a"))
    assert repr(point) == repr(Point(3, "a")) and type(point) is Point
    with pytest.raises(FrozenInstanceError):
        point.x = 4  # type: ignore[misc]
