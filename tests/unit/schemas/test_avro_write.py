"""The compiled Avro writer writes exactly fastavro's bytes, for every schema of the project."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.alerts import AlertCodec, AlertDetail, AlertMessage, Figure
from schemas.avro_write import UnsupportedSchema, compile_writer
from schemas.codec import CodecError, load_avro_schema
from schemas.signals import SignalCodec
from tests.unit.processors.signals.test_signals_codec import every_kind

SCHEMAS = ("vehicle_signal", "dealer_alert", "telemetry_frame", "service_visit", "consent_change")
INT = (-(1 << 31), (1 << 31) - 1)
LONG = (-(1 << 63), (1 << 63) - 1)


def strategy(schema: Any, named: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Any value fastavro writes for ``schema`` (the subset the project's schemas use)."""
    if isinstance(schema, str):
        primitive = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(*INT),
            "long": st.integers(*LONG),
            "double": st.floats(allow_nan=True, allow_infinity=True),
            "string": st.text(),
        }
        return primitive[schema] if schema in primitive else named[schema]
    if isinstance(schema, list):
        return st.one_of(*(strategy(s, named) for s in schema))
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "date":
        return st.dates(date(1, 1, 1), date(9999, 12, 31)) | st.integers(*INT)
    if logical == "timestamp-millis":
        aware = st.datetimes(
            min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis attaches the zone
            max_value=datetime(9999, 12, 30),  # noqa: DTZ001
            timezones=st.just(UTC),
        )
        return aware | st.integers(-(10**15), 10**15)
    if kind == "record":
        fields = {f["name"]: strategy(f["type"], named) for f in schema["fields"]}
        found = st.fixed_dictionaries(fields)
        named[schema["name"]] = found
        return found
    if kind == "enum":
        found = st.sampled_from(schema["symbols"])
        named[schema["name"]] = found
        return found
    if kind == "array":
        return st.lists(strategy(schema["items"], named), max_size=4)
    return strategy(kind, named)


def fastavro_bytes(schema: Any, record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


@pytest.mark.parametrize("name", SCHEMAS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_compiled_writer_writes_fastavros_bytes(name: str, data: st.DataObject) -> None:
    schema = load_avro_schema(name)
    record = data.draw(strategy(schema, {}))
    assert compile_writer(schema)(record) == fastavro_bytes(schema, record)


def test_every_kind_of_signal_is_written_as_fastavro_writes_it() -> None:
    codec = SignalCodec()
    schema = load_avro_schema("vehicle_signal")
    for signal in every_kind():
        assert codec.encode(signal) == fastavro_bytes(schema, codec.record(signal))


def test_alerts_raised_and_changed_are_written_as_fastavro_writes_them() -> None:
    codec = AlertCodec()
    schema = load_avro_schema("dealer_alert")
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    detail = AlertDetail(
        reason="Basic warranty ends on 14 Mar 2026 (in 13 days): the time limit binds.",
        action="Offer an extended warranty.",
        expires_at=datetime(2026, 3, 31, 9, 30, tzinfo=UTC),
        episode_id="VIN:warranty_ending:basic:1",
        cause_signal_id=None,
        figures=(
            Figure("days_remaining", 13.0, "days", "13 days"),
            Figure("binds", None, "text", "time"),
        ),
    )
    raised = AlertMessage(
        "VIN:warranty_ending:basic:1:near", "raised", "WJGBNCH00R0000013", "D013",
        "warranty_ending", "near", "marketing", "high", 80, at, detail,
    )  # fmt: skip
    hidden = AlertMessage(
        raised.alert_id, "hidden", raised.vin, raised.dealer_id, raised.alert_type, raised.stage,
        raised.purpose, raised.severity, raised.priority, at, None,
    )  # fmt: skip
    for message in (raised, hidden):
        encoded = codec.encode(message)
        assert encoded == fastavro_bytes(schema, codec.record(message))
        assert codec.decode(encoded) == message


def test_a_missing_field_takes_its_default_and_one_without_is_refused() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "a", "type": "long"},
            {"name": "b", "type": ["null", "string"], "default": None},
        ],
    }
    write = compile_writer(schema)
    assert write({"a": 3}) == fastavro_bytes(fastavro.parse_schema(schema), {"a": 3})
    with pytest.raises(ValueError, match="no value for field 'a'"):
        write({"b": "x"})


def test_values_that_do_not_fit_are_refused() -> None:
    schema = load_avro_schema("vehicle_signal")
    write = compile_writer(schema)
    with pytest.raises(ValueError, match="not a symbol"):
        write({"kind": "nonsense"} | {"signal_id": "s", "vin": "v", "dealer_id": None})
    with pytest.raises(OverflowError):
        compile_writer({"type": "record", "name": "I", "fields": [{"name": "i", "type": "int"}]})(
            {"i": 1 << 31}
        )


def test_a_signal_that_does_not_fit_its_schema_is_a_codec_error() -> None:
    signal = every_kind()[0]
    # what a signal from elsewhere could be (the processor's own Signal checks its field types
    # when its core runs compiled)
    bad = SimpleNamespace(
        signal_id=signal.signal_id,
        vin=signal.vin,
        dealer_id=None,
        kind=signal.kind,
        as_of_ms=1,
        explanation=42,
        payload=signal.payload,
    )
    with pytest.raises(CodecError, match=f"cannot encode signal {signal.signal_id}"):
        SignalCodec().encode(bad)


def test_unions_other_than_null_and_one_type_are_not_compiled() -> None:
    with pytest.raises(UnsupportedSchema):
        compile_writer(
            {"type": "record", "name": "U", "fields": [{"name": "u", "type": ["int", "string"]}]}
        )
