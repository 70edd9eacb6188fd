"""The hand-written Avro encoder writes exactly what fastavro writes, and decodes back."""

from __future__ import annotations

import io
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import CodecError, FrameCodec, load_avro_schema
from schemas.records import Sample, TelemetryFrame

CODEC = FrameCodec()
SCHEMA = load_avro_schema("telemetry_frame")
SAMPLE_FIELDS = [f.name for f in fields(Sample)]

# hypothesis takes naive bounds and attaches the time zone itself.
moments = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)
doubles = st.none() | st.floats(allow_nan=False, width=64)
longs = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
texts = st.text(max_size=30)


@st.composite
def samples(draw: st.DrawFn, idx: int) -> Sample:
    return Sample(
        sample_idx=idx,
        event_ts=draw(moments),
        odometer_m=draw(longs),
        speed_kmh=draw(doubles),
        fuel_level_pct=draw(doubles),
        soc_pct=draw(doubles),
        battery_12v_v=draw(doubles),
        engine_hours_h=draw(doubles),
        oil_life_remaining_s=draw(longs),
        dtcs=draw(st.none() | st.lists(texts, max_size=5).map(tuple)),
        latitude_deg=draw(doubles),
        longitude_deg=draw(doubles),
    )


@st.composite
def frames(draw: st.DrawFn) -> TelemetryFrame:
    count = draw(st.integers(min_value=0, max_value=5))
    return TelemetryFrame(
        vin=draw(texts),
        boot_id=draw(texts),
        seq=draw(st.integers(min_value=-(2**63), max_value=2**63 - 1)),
        ingest_ts=draw(moments),
        bridge_id=draw(texts),
        samples=tuple(draw(samples(i)) for i in range(count)),
    )


def fastavro_bytes(frame: TelemetryFrame) -> bytes:
    def sample_dict(s: Sample) -> dict[str, Any]:
        d = {name: getattr(s, name) for name in SAMPLE_FIELDS}
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
    fastavro.schemaless_writer(buf, SCHEMA, record)
    return buf.getvalue()


@given(frames())
def test_encoding_is_byte_for_byte_fastavros(frame: TelemetryFrame) -> None:
    assert CODEC.encode(frame) == fastavro_bytes(frame)


@given(frames())
def test_an_encoded_frame_decodes_to_itself_at_millisecond_precision(
    frame: TelemetryFrame,
) -> None:
    def to_ms(t: datetime) -> datetime:
        return t.replace(microsecond=t.microsecond // 1000 * 1000)

    expected = TelemetryFrame(
        frame.vin,
        frame.boot_id,
        frame.seq,
        to_ms(frame.ingest_ts),
        frame.bridge_id,
        tuple(
            Sample(**{**{n: getattr(s, n) for n in SAMPLE_FIELDS}, "event_ts": to_ms(s.event_ts)})
            for s in frame.samples
        ),
    )
    assert CODEC.decode(CODEC.encode(frame)) == expected


T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "frame",
    [
        TelemetryFrame("V", "b", 2**63, T0, "x"),
        TelemetryFrame("V", "b", 1, T0, "x", (Sample(2**31, T0),)),
        TelemetryFrame("V", "b", 1, T0, "x", (Sample(0, T0, odometer_m=-(2**63) - 1),)),
        TelemetryFrame("V", "b", 1, T0, "x", (Sample(0, T0, speed_kmh="fast"),)),  # type: ignore[arg-type]
        TelemetryFrame("V", "b", 1, T0.replace(tzinfo=None), "x"),
        TelemetryFrame("V", "b", 1, T0, "x", (Sample(0, T0 + timedelta(1), odometer_m=1.5),)),  # type: ignore[arg-type]
    ],
)
def test_values_the_schema_cannot_hold_are_codec_errors(frame: TelemetryFrame) -> None:
    with pytest.raises(CodecError):
        CODEC.encode(frame)
