"""The store agrees with the declaration of a sample, ``schemas/sample.py``: the typed row, the
``telemetry`` table of the migrations, and the binary COPY walks of ``copybin`` and ``copybatch``
(written out by hand for speed), each signal checked in its column. Each failure names the part
that disagrees and the field."""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from processors.store.copybatch import batch_copy
from processors.store.copybin import frame_copy, row_copy
from processors.store.logic import COLUMNS, PG_TYPES, TelemetryRow, frame_rows
from schemas.codec import CodecError, FrameCodec
from schemas.records import Sample, TelemetryFrame
from schemas.sample import (
    DOUBLE,
    INT,
    LONG,
    SIGNAL_FIELDS,
    TELEMETRY_ROW,
    TEXT,
    TEXT_LIST,
    TIMESTAMP,
    Field,
    ValueType,
)

MIGRATIONS = Path(__file__).parents[4] / "database" / "migrations"
CODEC = FrameCodec()
T0 = datetime(2025, 6, 15, 12, 30, 45, 123000, tzinfo=UTC)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
EXAMPLES: dict[ValueType, Any] = {
    INT: 7,
    LONG: 1_234_567_890_123,
    DOUBLE: 42.25,
    TIMESTAMP: T0,
    TEXT: "text",
    TEXT_LIST: ("P0300", "U0100"),
}
"""A value of each type; the batch decoder takes only empty DTC lists, so it gets ``()``."""
ROW_PYTHON = {TEXT_LIST: list[str]}
"""Where a :class:`TelemetryRow` holds another Python type than the record (for psycopg)."""
CANONICAL = {"integer": "int4", "bigint": "int8", "double precision": "float8"}
"""PostgreSQL's names of the migrations' column types for a binary COPY."""
STOPWORDS = {"NOT", "NULL", "DEFAULT", "PRIMARY", "CHECK", "REFERENCES", "UNIQUE", "CONSTRAINT"}


def by_field(fields: tuple[Field, ...]) -> Any:
    return pytest.mark.parametrize("field", fields, ids=[f.name for f in fields])


# --- processors/store/logic.py


def test_row_fields_are_the_declared_columns() -> None:
    assert TelemetryRow._fields == COLUMNS == tuple(c.name for c in TELEMETRY_ROW), (
        "processors/store/logic.py: TelemetryRow's fields differ from schemas/sample.py"
    )
    assert tuple(c.type.pg_copy for c in TELEMETRY_ROW) == PG_TYPES


@by_field(TELEMETRY_ROW)
def test_row_field_type(field: Field) -> None:
    hints = get_type_hints(TelemetryRow)
    python = ROW_PYTHON.get(field.type, field.type.python)
    expected = python | None if field.nullable else python
    assert hints.get(field.name) == expected, (
        f"processors/store/logic.py: TelemetryRow.{field.name} is {hints.get(field.name)}, "
        f"declared {expected}"
    )


# --- database/migrations


def column_type(definition: str) -> tuple[str, str, bool]:
    """``name type ... [NOT NULL] ...`` as (name, type, not null)."""
    words = definition.split()
    type_words = []
    for word in words[1:]:
        if word.upper() in STOPWORDS:
            break
        type_words.append(word.lower())
    return words[0], " ".join(type_words), "NOT NULL" in definition.upper()


def migrated_telemetry_columns() -> dict[str, tuple[str, bool]]:
    """The ``telemetry`` table after every migration: column, type and NOT NULL."""
    columns: dict[str, tuple[str, bool]] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
        create = re.search(r"CREATE TABLE (?:IF NOT EXISTS )?telemetry \((.*?)\n\);", text, re.S)
        if create is not None:
            for line in create.group(1).splitlines():
                line = line.strip().rstrip(",")
                if line and line.split()[0].upper() not in {"PRIMARY", "UNIQUE", "CONSTRAINT"}:
                    name, kind, not_null = column_type(line)
                    columns[name] = (kind, not_null)
        for added in re.finditer(
            r"ALTER TABLE (?:IF EXISTS )?telemetry\s+ADD COLUMN (?:IF NOT EXISTS )?([^;,]+)",
            text,
            re.I,
        ):
            name, kind, not_null = column_type(added.group(1))
            columns[name] = (kind, not_null)
    columns.pop("stored_at")
    return columns


def test_the_migrated_telemetry_table_has_the_store_columns() -> None:
    table = migrated_telemetry_columns()
    assert sorted(table) == sorted(COLUMNS), (
        "database/migrations: the telemetry table's columns differ from the store's COLUMNS "
        "(schemas/sample.py TELEMETRY_ROW)"
    )


@by_field(TELEMETRY_ROW)
def test_migrated_column_type(field: Field) -> None:
    table = migrated_telemetry_columns()
    where = f"database/migrations: telemetry.{field.name}"
    assert field.name in table, f"{where} is missing"
    kind, not_null = table[field.name]
    assert kind == field.type.pg_column, f"{where} is {kind}, declared {field.type.pg_column}"
    assert not_null is not field.nullable, f"{where} should {'' if not_null else 'not '}be null"
    copy_type = PG_TYPES[COLUMNS.index(field.name)]
    assert CANONICAL.get(kind, kind) == copy_type, f"{where} is {kind}, COPY writes {copy_type}"


# --- processors/store/copybin.py and copybatch.py


def copy_tuples(data: bytes) -> list[list[bytes | None]]:
    """Binary COPY tuples (without signature and trailer) as their fields (None: NULL)."""
    rows: list[list[bytes | None]] = []
    pos = 0
    while pos < len(data):
        (count,) = struct.unpack_from(">h", data, pos)
        pos += 2
        fields: list[bytes | None] = []
        for _ in range(count):
            (size,) = struct.unpack_from(">i", data, pos)
            pos += 4
            fields.append(None if size < 0 else data[pos : pos + size])
            pos += max(size, 0)
        rows.append(fields)
    return rows


def pg_value(copy_type: str, raw: bytes) -> Any:
    """A binary COPY field of one of the store's types as a Python value (a list as a tuple)."""
    if copy_type in {"int4", "int8", "float8"}:
        return struct.unpack({"int4": ">i", "int8": ">q", "float8": ">d"}[copy_type], raw)[0]
    if copy_type == "timestamptz":
        return PG_EPOCH + timedelta(microseconds=struct.unpack(">q", raw)[0])
    if copy_type == "text":
        return raw.decode()
    assert copy_type == "text[]"
    dims, _, _ = struct.unpack_from(">iiI", raw)
    if dims == 0:
        return ()
    count, pos, items = struct.unpack_from(">i", raw, 12)[0], 20, []
    for _ in range(count):
        (size,) = struct.unpack_from(">i", raw, pos)
        items.append(raw[pos + 4 : pos + 4 + size].decode())
        pos += 4 + size
    return tuple(items)


def decoded_row(fields: list[bytes | None]) -> dict[str, Any]:
    assert len(fields) == len(COLUMNS), f"{len(fields)} fields for {len(COLUMNS)} columns"
    return {
        name: None if raw is None else pg_value(kind, raw)
        for name, kind, raw in zip(COLUMNS, PG_TYPES, fields, strict=True)
    }


def frame_with(field: Field, value: Any) -> TelemetryFrame:
    """A frame whose middle sample has only ``field`` set, between two bare samples."""
    sample = Sample(1, T0, **{field.name: value})
    return TelemetryFrame("1HGCM82633A004352", "b0", 42, T0, "x", (Sample(0, T0), sample))


def expected_row(frame: TelemetryFrame, field: Field, value: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(vin=frame.vin, boot_id=frame.boot_id, seq=frame.seq, ingest_ts=frame.ingest_ts)
    row.update(sample_idx=1, event_ts=T0, **{field.name: value})
    return row


@by_field(SIGNAL_FIELDS)
def test_copybin_writes_each_signal_in_its_column(field: Field) -> None:
    value = EXAMPLES[field.type]
    frame = frame_with(field, value)
    try:
        rows = frame_copy(CODEC.encode(frame))
    except CodecError as exc:
        pytest.fail(
            f"processors/store/copybin.py: frame_copy cannot read a sample with {field.name} set "
            f"({exc!r}): does its sample walk follow schemas/sample.py?"
        )
    got = [decoded_row(fields) for fields in copy_tuples(rows.data)]
    assert got[1] == expected_row(frame, field, value), (
        f"processors/store/copybin.py: frame_copy misplaces {field.name} (or another field)"
    )
    assert rows.data == b"".join(row_copy(r) for r in frame_rows(frame))


@by_field(SIGNAL_FIELDS)
def test_copybatch_writes_each_signal_in_its_column(field: Field) -> None:
    value = () if field.type is TEXT_LIST else EXAMPLES[field.type]
    frame = frame_with(field, value)
    result = batch_copy([CODEC.encode(frame)] * 2)
    assert result.rest == (), (
        f"processors/store/copybatch.py: batch_copy leaves a sample with {field.name} set to "
        "frame_copy: does its sample walk follow schemas/sample.py?"
    )
    got = [decoded_row(fields) for fields in copy_tuples(result.rows.data)]
    assert len(got) == 4
    assert got[1] == got[3] == expected_row(frame, field, value), (
        f"processors/store/copybatch.py: batch_copy misplaces {field.name} (or another field)"
    )
