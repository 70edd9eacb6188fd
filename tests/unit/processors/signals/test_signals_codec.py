"""vehicle.signals Avro of every kind, and the batch decoder's rejects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from database.vehicle_facts import VehicleFacts
from processors.signals.logic import decode_batch
from processors.signals.records import Signal
from processors.signals.vehicle import VehicleRun
from reference.catalog import default_catalog
from schemas.codec import CodecError, FrameCodec, readings_of
from schemas.records import Sample, TelemetryFrame
from schemas.services import ServiceItem, ServiceVisitCodec, ServiceVisitRecord
from schemas.signals import SignalCodec

VIN = "1HGCM82633A004352"
T0 = datetime(2025, 3, 1, 8, tzinfo=UTC)
FACTS = VehicleFacts(
    VIN, "Nissan", "Leaf", 2023, "ev", date(2023, 3, 1), 0, "dealer-1", "DE", "EUR", None
)


def every_kind() -> list[Signal]:
    frames = [
        TelemetryFrame(
            VIN,
            "b",
            n,
            T0,
            "br",
            (Sample(0, T0 + timedelta(hours=n), odometer_m=1_000_000 + 30_000 * n, dtcs=codes),),
        )
        for n, codes in enumerate([("P0A80",), (), ("P0A80",)])
    ]
    frames[1] = TelemetryFrame(
        VIN, "b", 1, T0, "br", (Sample(0, T0 + timedelta(hours=1), odometer_m=5),)
    )
    vehicle = VehicleRun(VIN, None, FACTS, default_catalog())
    vehicle.run([], [readings_of(f) for f in frames])
    return vehicle.signals


def test_every_kind_round_trips_through_the_schema() -> None:
    codec = SignalCodec()
    signals = every_kind()
    assert {s.kind for s in signals} == {"usage", "warranty", "service", "fault", "quality"}
    for signal in signals:
        record = codec.decode(codec.encode(signal))
        assert record["signal_id"] == signal.signal_id and record["kind"] == signal.kind
        assert record["as_of_ts"] == datetime.fromtimestamp(signal.as_of_ms / 1000, UTC)
        assert record["explanation"] == signal.explanation
        assert [
            k for k in ("usage", "warranty", "service", "equity", "fault", "quality") if record[k]
        ] == [signal.kind]
    service = next(s for s in signals if s.kind == "service")
    body = codec.decode(codec.encode(service))["service"]
    assert body["currency"] == "EUR" and body["items"][0]["kind"] == "scheduled"
    assert isinstance(body["due_p50"], date)
    warranty = [
        codec.decode(codec.encode(s))["warranty"]["coverage"]
        for s in signals
        if s.kind == "warranty"
    ]
    assert warranty == ["basic", "powertrain", "traction_battery"]


def test_a_signal_whose_kind_differs_from_its_payload_is_refused() -> None:
    signal = every_kind()[0]
    wrong = Signal(signal.signal_id, signal.vin, None, "equity", 1, "x", signal.payload)
    with pytest.raises(ValueError):
        SignalCodec().encode(wrong)


def test_bytes_that_are_not_a_signal_are_a_codec_error() -> None:
    with pytest.raises(CodecError):
        SignalCodec().decode(b"\xff\xff\xff")


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def test_decode_batch_splits_frames_visits_and_rejects() -> None:
    frame = TelemetryFrame(VIN, "b", 1, T0, "br", (Sample(0, T0, odometer_m=1),))
    visit = ServiceVisitRecord(
        "v-1", VIN, T0, 1, "d", "EUR", (ServiceItem("scheduled", None, "s", 1.0),)
    )
    records = [
        Rec("frames", 0, 7, b"k", FrameCodec().encode(frame)),
        Rec("services", 0, 3, b"k", ServiceVisitCodec().encode(visit)),
        Rec("services", 0, 4, b"k", b"\x01garbage"),
        Rec("frames", 1, 2, b"k", None),
    ]
    decoded = decode_batch(
        records, "frames", FrameCodec().decode_readings, ServiceVisitCodec().decode
    )
    assert decoded.frames == (readings_of(frame),) and decoded.visits == (visit,)
    assert [(r.record.offset, r.reason) for r in decoded.rejected] == [
        (4, "undecodable"),
        (2, "undecodable"),
    ]
    assert dict(decoded.next_offsets) == {("frames", 0): 8, ("services", 0): 5, ("frames", 1): 3}
    assert decoded.vins == (VIN,)
