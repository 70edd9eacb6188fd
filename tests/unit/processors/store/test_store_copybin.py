"""Avro frames straight to binary COPY rows: the same bytes as the typed-row path, and every
malformed input a codec error (never a batch PostgreSQL would refuse)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.store.copybin import SIGNATURE, TRAILER, CopyRows, frame_copy, rows_copy
from processors.store.logic import frame_rows
from schemas.codec import CodecError, FrameCodec
from schemas.records import Sample, TelemetryFrame
from schemas.sample import SIGNAL_FIELDS

CODEC = FrameCodec()
moments = st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999).map(
    lambda ms: datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
)
doubles = st.none() | st.floats(width=64)
longs = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20)


@st.composite
def samples(draw: st.DrawFn, idx: int) -> Sample:
    return Sample(
        idx,
        draw(moments),
        draw(longs),
        draw(doubles),
        draw(doubles),
        draw(doubles),
        draw(doubles),
        draw(doubles),
        draw(longs),
        draw(st.none() | st.lists(texts, max_size=4).map(tuple)),
        draw(doubles),
        draw(doubles),
    )


@st.composite
def frames(draw: st.DrawFn) -> TelemetryFrame:
    count = draw(st.integers(min_value=0, max_value=4))
    return TelemetryFrame(
        draw(texts),
        draw(texts),
        draw(st.integers(min_value=-(2**63), max_value=2**63 - 1)),
        draw(moments),
        draw(st.text(max_size=10)),
        tuple(draw(samples(i)) for i in range(count)),
    )


@given(frames())
def test_avro_to_copy_equals_the_rows_of_the_decoded_frame(frame: TelemetryFrame) -> None:
    data = CODEC.encode(frame)
    assert frame_copy(data) == rows_copy(frame_rows(CODEC.decode(data)))


@given(st.lists(frames(), max_size=5))
def test_a_batch_is_its_frames_rows_between_signature_and_trailer(
    batch: list[TelemetryFrame],
) -> None:
    joined = CopyRows.join(frame_copy(CODEC.encode(f)) for f in batch)
    assert joined.rows == sum(len(f.samples) for f in batch)
    stream = joined.stream()
    assert stream.startswith(SIGNATURE) and stream.endswith(TRAILER)


@given(frames().filter(lambda f: bool(f.samples)), st.data())
def test_every_truncation_is_a_codec_error(frame: TelemetryFrame, data: st.DataObject) -> None:
    full = CODEC.encode(frame)
    cut = data.draw(st.integers(min_value=0, max_value=len(full) - 1))
    with pytest.raises(CodecError):
        frame_copy(full[:cut])


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def encoded(**changes: object) -> bytes:
    base = {
        "vin": "WVWZZZ1KZ8W000001",
        "boot_id": "b",
        "seq": 1,
        "ingest_ts": T0,
        "bridge_id": "x",
        "samples": (Sample(0, T0),),
    }
    base.update(changes)
    return CODEC.encode(TelemetryFrame(**base))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (encoded(vin="WVW\x00"), "NUL in text"),
        (encoded(boot_id="b").replace(b"\x02b", b"\x02\xff", 1), "not UTF-8"),
        (encoded(samples=(Sample(0, T0, dtcs=("P0\x00",)),)), "NUL in an array element"),
        (
            encoded(samples=(Sample(0, T0, speed_kmh=1.0),)).replace(
                b"\x02\x00\x00\x00\x00\x00\x00\xf0?", b"\x04\x00\x00\x00\x00\x00\x00\xf0?"
            ),
            "union branch 2",
        ),
        (b"\x02a" + b"\xff" * 11, "varint longer than 10 bytes"),
    ],
)
def test_malformed_frames_are_codec_errors(data: bytes, why: str) -> None:
    with pytest.raises(CodecError):
        frame_copy(data)


@pytest.mark.parametrize("ingest_ms", [253_402_300_800_000, -62_135_596_800_001, 2**62])
def test_times_outside_years_1_to_9999_are_codec_errors(ingest_ms: int) -> None:
    data = CODEC.encode_values("V", "b", 1, ingest_ms, "x", [(0, 0, *[None] * len(SIGNAL_FIELDS))])
    with pytest.raises(CodecError, match="outside years"):
        frame_copy(data)


def test_a_sample_index_beyond_an_int_is_a_codec_error() -> None:
    data = encoded().replace(b"\x02\x00", b"\x02\x80\x80\x80\x80\x10", 1)
    with pytest.raises(CodecError, match="sample_idx"):
        frame_copy(data)
