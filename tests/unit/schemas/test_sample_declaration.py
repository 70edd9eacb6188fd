"""What is written out by hand agrees with the one declaration of a sample, ``schemas/sample.py``:
the Avro schema, ``schemas.records.Sample``, the codec's encoder and the normalizer's signal
table. Each failure names the part that disagrees and the field."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_type_hints

import fastavro
import pytest

from processors.normalize.vss import SIGNALS, Kind
from schemas.codec import FrameCodec, load_avro_schema
from schemas.records import Sample, TelemetryFrame
from schemas.sample import (
    DOUBLE,
    FRAME_COLUMNS,
    INT,
    LONG,
    SAMPLE,
    SAMPLE_KEY,
    SIGNAL_FIELDS,
    TELEMETRY_ROW,
    TEXT,
    TEXT_LIST,
    TIMESTAMP,
    Field,
    ValueType,
    double_runs,
)

AVSC = Path(__file__).parents[3] / "schemas" / "telemetry_frame.avsc"
CODEC = FrameCodec()
T0 = datetime(2025, 6, 15, 12, 30, 45, 123000, tzinfo=UTC)
SIGNAL_NAMES = [f.name for f in SIGNAL_FIELDS]
EXAMPLES: dict[ValueType, Any] = {
    INT: 7,
    LONG: 1_234_567_890_123,
    DOUBLE: 42.25,
    TIMESTAMP: T0,
    TEXT: "text",
    TEXT_LIST: ("P0300", "U0100"),
}
"""A value of each type (every field's type must have one here)."""


def by_field(fields: tuple[Field, ...]) -> Any:
    return pytest.mark.parametrize("field", fields, ids=[f.name for f in fields])


def avro_frame() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(AVSC.read_text(encoding="utf-8"))
    return schema


def avro_sample_fields() -> dict[str, dict[str, Any]]:
    samples = next(f for f in avro_frame()["fields"] if f["name"] == "samples")
    return {f["name"]: f for f in samples["type"]["items"]["fields"]}


# --- the declaration itself


def test_field_names_are_unique_and_each_is_a_telemetry_column() -> None:
    names = [f.name for f in (*FRAME_COLUMNS, *SAMPLE)]
    assert len(names) == len(set(names))
    assert sorted(c.name for c in TELEMETRY_ROW) == sorted(names)


def test_signals_have_a_vss_path_and_are_optional_and_the_key_fields_neither() -> None:
    assert all(f.vss_path and f.nullable for f in SIGNAL_FIELDS)
    assert all(f.vss_path is None and not f.nullable for f in (*SAMPLE_KEY, *FRAME_COLUMNS))
    assert SAMPLE == SAMPLE_KEY + SIGNAL_FIELDS


def test_every_declared_type_has_an_example_value() -> None:
    assert {f.type for f in (*SAMPLE, *FRAME_COLUMNS)} <= set(EXAMPLES)


def test_double_runs_are_the_runs_of_consecutive_doubles() -> None:
    def fields(*types: ValueType) -> tuple[Field, ...]:
        return tuple(Field(f"f{i}", None, t, None, True) for i, t in enumerate(types))

    assert double_runs(()) == ()
    assert double_runs(fields(LONG, INT)) == ()
    assert double_runs(fields(DOUBLE)) == ((0, 1),)
    assert double_runs(fields(LONG, DOUBLE, DOUBLE, LONG, DOUBLE)) == ((1, 2), (4, 1))
    assert double_runs(fields(DOUBLE, DOUBLE, TEXT_LIST, DOUBLE, DOUBLE)) == ((0, 2), (3, 2))


# --- schemas/telemetry_frame.avsc


def test_avro_sample_fields_are_the_declared_ones_in_order() -> None:
    assert list(avro_sample_fields()) == [f.name for f in SAMPLE], (
        "schemas/telemetry_frame.avsc: the Sample record's fields differ from schemas/sample.py"
    )


@by_field(SAMPLE)
def test_avro_sample_field_type(field: Field) -> None:
    avro = avro_sample_fields().get(field.name)
    assert avro is not None, f"schemas/telemetry_frame.avsc: Sample has no field {field.name}"
    assert avro["type"] == field.avro_type(), (
        f"schemas/telemetry_frame.avsc: Sample.{field.name} is not of the declared type"
    )
    if field.nullable:
        assert "default" in avro and avro["default"] is None, (
            f"schemas/telemetry_frame.avsc: Sample.{field.name} needs the default null"
        )
    else:
        assert "default" not in avro


@by_field(FRAME_COLUMNS)
def test_avro_frame_field_type(field: Field) -> None:
    avro = {f["name"]: f for f in avro_frame()["fields"]}
    assert field.name in avro, f"schemas/telemetry_frame.avsc: TelemetryFrame has no {field.name}"
    assert avro[field.name]["type"] == field.avro_type(), (
        f"schemas/telemetry_frame.avsc: TelemetryFrame.{field.name} is not of the declared type"
    )


# --- schemas.records.Sample


def test_record_fields_are_the_declared_ones_in_order() -> None:
    assert [f.name for f in dataclasses.fields(Sample)] == [f.name for f in SAMPLE], (
        "schemas/records.py: Sample's fields differ from schemas/sample.py"
    )


@by_field(SAMPLE)
def test_record_field_type_and_default(field: Field) -> None:
    hints = get_type_hints(Sample)
    assert field.name in hints, f"schemas/records.py: Sample has no field {field.name}"
    expected = field.type.python | None if field.nullable else field.type.python
    assert hints[field.name] == expected, (
        f"schemas/records.py: Sample.{field.name} is {hints[field.name]}, declared {expected}"
    )
    default = next(f.default for f in dataclasses.fields(Sample) if f.name == field.name)
    assert default is (None if field.nullable else dataclasses.MISSING), (
        f"schemas/records.py: Sample.{field.name} should "
        + ("default to None" if field.nullable else "have no default")
    )


@by_field(FRAME_COLUMNS)
def test_frame_record_field_type(field: Field) -> None:
    hints = get_type_hints(TelemetryFrame)
    assert hints.get(field.name) == field.type.python, (
        f"schemas/records.py: TelemetryFrame.{field.name} is not of the declared type"
    )


# --- schemas/codec.py (its generated-frame tests are in test_codec_encoder.py)


def fastavro_bytes(frame: TelemetryFrame) -> bytes:
    def sample_dict(s: Sample) -> dict[str, Any]:
        d = {f.name: getattr(s, f.name) for f in dataclasses.fields(Sample)}
        d["dtcs"] = list(s.dtcs) if s.dtcs is not None else None
        return d

    record = {
        "frame_id": frame.frame_id,
        "vin": frame.vin,
        "boot_id": frame.boot_id,
        "seq": frame.seq,
        "ingest_ts": frame.ingest_ts,
        "bridge_id": frame.bridge_id,
        "samples": [sample_dict(s) for s in frame.samples],
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, load_avro_schema("telemetry_frame"), record)
    return buf.getvalue()


@by_field(SIGNAL_FIELDS)
def test_codec_encodes_each_signal_in_its_place(field: Field) -> None:
    """A sample with only this signal set, between two bare samples: exactly fastavro's bytes."""
    sample = Sample(1, T0, **{field.name: EXAMPLES[field.type]})
    frame = TelemetryFrame("V", "b", 3, T0, "x", (Sample(0, T0), sample, Sample(2, T0)))
    assert CODEC.encode(frame) == fastavro_bytes(frame), (
        f"schemas/codec.py encodes a sample with {field.name} set unlike telemetry_frame.avsc"
    )
    assert CODEC.decode(CODEC.encode(frame)) == frame


# --- processors/normalize/vss.py

KINDS = {LONG: Kind.INTEGER, DOUBLE: Kind.NUMBER, TEXT_LIST: Kind.DTC_LIST}
"""The JSON kind of a signal of each type."""


def test_signal_table_has_the_declared_signals_in_order() -> None:
    assert [s.field for s in SIGNALS] == SIGNAL_NAMES, (
        "processors/normalize/vss.py: SIGNALS' fields differ from schemas/sample.py's signals"
    )


@by_field(SIGNAL_FIELDS)
def test_signal_table_row(field: Field) -> None:
    row = next((s for s in SIGNALS if s.field == field.name), None)
    where = f"processors/normalize/vss.py: the SIGNALS row of {field.name}"
    assert row is not None, f"{where} is missing"
    assert row.vss_path == field.vss_path, f"{where} has another VSS path"
    assert row.unit == field.unit, f"{where} has another unit"
    assert row.kind is KINDS.get(field.type), f"{where} has a kind unlike {field.type.name}"
