"""Avro writers compiled from a schema, for the records published on hot paths (pure).

fastavro's ``schemaless_writer`` walks the schema for every record it writes and, for a union of
records, validates the value against the branch to choose it: 15-50 µs a signal (a record with a
union field per kind), and a new vehicle publishes five or six, which made the encoding about a
sixth of the signals processor's CPU on a fleet new to it (profiled in the 1,000,000-vehicle
run). :func:`compile_writer` walks the schema once and returns a function of closures that
writes a record in a single pass, to exactly fastavro's bytes (the unit tests compare the two on
every kind of signal and alert, and on generated values).

Supported: records, enums, arrays, ``boolean``, ``int``, ``long``, ``double``, ``string``,
``null``, the logical types ``date`` and ``timestamp-millis``, named-type references, and unions
of ``null`` and one other type (the only unions the project's schemas have). A union's value may
be given in fastavro's tuple notation ``(type name, value)``. A missing record field takes its
default, as in fastavro. Anything else in a schema is refused when it is compiled.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from schemas.codec import EPOCH, INT_MAX, INT_MIN, _long, _ms, _string

Out = list[bytes]
Writer = Callable[[Any, Out], None]

_EPOCH_DAY = date(1970, 1, 1)
_NULL, _PRESENT, _END = b"\x00", b"\x02", b"\x00"
_TRUE, _FALSE = b"\x01", b"\x00"
_pack_double: Callable[[float], bytes] = struct.Struct("<d").pack
_MISSING = object()
_STRING, _DOUBLE = 1, 2


class UnsupportedSchema(ValueError):
    """A schema with a construct :func:`compile_writer` does not write."""


def compile_writer(schema: Any) -> Callable[[Mapping[str, Any]], bytes]:
    """A function writing a record of ``schema`` (a JSON schema as read from an ``.avsc``, or
    fastavro's parsed form) as schemaless Avro."""
    named: dict[str, Writer] = {}
    write = _compile(schema, named, "")

    def encode(record: Mapping[str, Any]) -> bytes:
        out: Out = []
        write(record, out)
        return b"".join(out)

    return encode


def _full(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _compile(schema: Any, named: dict[str, Writer], namespace: str) -> Writer:
    if isinstance(schema, str):
        return _primitive(schema, named, namespace)
    if isinstance(schema, list):
        return _union(schema, named, namespace)
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "date" and kind == "int":
        return _write_date
    if logical == "timestamp-millis" and kind == "long":
        return _write_timestamp_ms
    if logical is not None:
        raise UnsupportedSchema(f"logical type {logical} of {kind}")
    if kind == "record":
        return _record(schema, named, namespace)
    if kind == "enum":
        return _enum(schema, named, namespace)
    if kind == "array":
        return _array(_compile(schema["items"], named, namespace))
    return _primitive(kind, named, namespace)


def _primitive(name: str, named: dict[str, Writer], namespace: str) -> Writer:
    simple = {
        "null": _write_null,
        "boolean": _write_boolean,
        "int": _write_int,
        "long": _write_long,
        "double": _write_double,
        "string": _write_string,
    }.get(name)
    if simple is not None:
        return simple
    for key in (_full(name, namespace), name):
        if key in named:  # a named type defined earlier (a record's is there before its fields)
            return named[key]
    raise UnsupportedSchema(f"type {name!r}")


def _record(schema: Mapping[str, Any], named: dict[str, Writer], namespace: str) -> Writer:
    full = _full(schema["name"], schema.get("namespace", namespace))
    inner = full.rpartition(".")[0]
    fields: list[tuple[str, int, Writer, Any]] = []
    append_string, append_double = _STRING, _DOUBLE

    def write(record: Any, out: Out) -> None:
        append = out.append
        for name, inline, field_writer, default in fields:
            value = record.get(name, _MISSING)
            if value is _MISSING:
                if default is _MISSING:
                    raise ValueError(f"{full}: no value for field {name!r}")
                value = default
            # the commonest types written here, saving a call each (a third of a record's time)
            if inline == append_string:
                append(_string(value))
            elif inline == append_double:
                append(_pack_double(value))
            else:
                field_writer(value, out)

    named[full] = write
    for f in schema["fields"]:
        writer = _compile(f["type"], named, inner)
        inline = _INLINED.get(writer, 0)
        fields.append((f["name"], inline, writer, f.get("default", _MISSING)))
    return write


def _enum(schema: Mapping[str, Any], named: dict[str, Writer], namespace: str) -> Writer:
    full = _full(schema["name"], schema.get("namespace", namespace))
    index = {symbol: _long(i) for i, symbol in enumerate(schema["symbols"])}

    def write(symbol: Any, out: Out) -> None:
        try:
            out.append(index[symbol])
        except (KeyError, TypeError):
            raise ValueError(f"{symbol!r} is not a symbol of {full}") from None

    named[full] = write
    return write


def _array(items: Writer) -> Writer:
    def write(values: Any, out: Out) -> None:
        if values:
            out.append(_long(len(values)))
            for value in values:
                items(value, out)
        out.append(_END)

    return write


def _union(branches: list[Any], named: dict[str, Writer], namespace: str) -> Writer:
    if len(branches) != 2 or branches[0] != "null":
        raise UnsupportedSchema(f"union {branches!r}: only [null, T] is written")
    other = _compile(branches[1], named, namespace)

    def write(value: Any, out: Out) -> None:
        if value is None:
            out.append(_NULL)
            return
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
            value = value[1]  # fastavro's tuple notation: (branch name, value)
        out.append(_PRESENT)
        other(value, out)

    return write


def _write_null(value: Any, out: Out) -> None:
    if value is not None:
        raise ValueError(f"{value!r} is not null")


def _write_boolean(value: Any, out: Out) -> None:
    out.append(_TRUE if value else _FALSE)


def _write_int(value: Any, out: Out) -> None:
    if not INT_MIN <= value <= INT_MAX:
        raise OverflowError(f"{value} does not fit an int")
    out.append(_long(value))


def _write_long(value: Any, out: Out) -> None:
    out.append(_long(value))


def _write_double(value: Any, out: Out) -> None:
    out.append(_pack_double(value))


def _write_string(value: Any, out: Out) -> None:
    out.append(_string(value))


def _write_date(value: Any, out: Out) -> None:
    days = (value - _EPOCH_DAY).days if isinstance(value, date) else value
    _write_int(days, out)


def _write_timestamp_ms(value: Any, out: Out) -> None:
    if isinstance(value, datetime):
        # truncated to the millisecond, a naive datetime read as UTC: as fastavro does
        value = _ms(value if value.tzinfo is not None else value.replace(tzinfo=EPOCH.tzinfo))
    out.append(_long(value))


_INLINED: dict[Writer, int] = {_write_string: _STRING, _write_double: _DOUBLE}
"""Field writers a record writes itself instead of calling them."""
