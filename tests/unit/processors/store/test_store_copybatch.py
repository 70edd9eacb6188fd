"""A batch decoded with numpy is byte for byte what the per-frame decoder writes, takes the
common shape of frame, and leaves every other frame (malformed ones included) to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.store.copybatch import MAX_SAMPLES, batch_copy
from processors.store.copybin import frame_copy
from schemas.codec import CodecError, FrameCodec
from schemas.records import Sample, TelemetryFrame

CODEC = FrameCodec()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"

moments = st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999).map(
    lambda ms: datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
)
recent = st.integers(min_value=-(10**10), max_value=10**9).map(
    lambda ms: NOW + timedelta(milliseconds=ms)
)
doubles = st.none() | st.floats(width=64)
longs = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
small_longs = st.none() | st.integers(min_value=0, max_value=10**9)
any_text = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20
)
codes = (
    st.none() | st.just(()) | st.lists(st.sampled_from(["P0301", "U0100"]), max_size=3).map(tuple)
)


@st.composite
def samples(draw: st.DrawFn, idx: int, typical: bool) -> Sample:
    when = recent if typical else moments
    long = small_longs if typical else longs
    return Sample(
        idx,
        draw(when),
        draw(long),
        draw(doubles),
        draw(doubles),
        draw(doubles),
        draw(doubles),
        draw(doubles),
        draw(long),
        draw(st.none() | st.just(())) if typical else draw(codes),
        draw(doubles),
        draw(doubles),
    )


@st.composite
def frames(draw: st.DrawFn, typical: bool = False) -> TelemetryFrame:
    count = draw(st.integers(min_value=1 if typical else 0, max_value=4))
    vin = draw(st.text(VIN_CHARS, min_size=17, max_size=17)) if typical else draw(any_text)
    boot = draw(st.text("0123456789abcdef", min_size=1, max_size=16)) if typical else draw(any_text)
    seq = (
        draw(st.integers(min_value=0, max_value=10**12))
        if typical
        else draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    )
    return TelemetryFrame(
        vin,
        boot,
        seq,
        draw(recent if typical else moments),
        draw(st.text(max_size=10)),
        tuple(draw(samples(i, typical)) for i in range(count)),
    )


def per_frame(values: list[bytes], indexes: list[int]) -> bytes:
    return b"".join(frame_copy(values[i]).data for i in indexes)


@given(st.lists(frames(typical=True), max_size=12))
def test_the_common_shape_is_decoded_here_exactly_as_frame_by_frame(
    batch: list[TelemetryFrame],
) -> None:
    values = [CODEC.encode(f) for f in batch]
    result = batch_copy(values)
    assert result.rest == ()
    assert result.rows.data == per_frame(values, list(range(len(values))))
    assert result.rows.rows == sum(len(f.samples) for f in batch)


@given(st.lists(frames() | frames(typical=True), max_size=12))
def test_what_is_decoded_here_is_what_the_per_frame_decoder_writes(
    batch: list[TelemetryFrame],
) -> None:
    values = [CODEC.encode(f) for f in batch]
    result = batch_copy(values)
    here = [i for i in range(len(values)) if i not in result.rest]
    assert result.rows.data == per_frame(values, here)
    assert result.rows.rows == sum(len(batch[i].samples) for i in here)


@given(st.lists(frames(typical=True), min_size=1, max_size=6), st.data())
def test_malformed_frames_are_left_to_the_per_frame_decoder_and_the_rest_still_decode(
    batch: list[TelemetryFrame], data: st.DataObject
) -> None:
    values = [CODEC.encode(f) for f in batch]
    broken = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    how = data.draw(st.sampled_from(["truncate", "garbage", "branch"]))
    original = values[broken]
    if how == "truncate":
        values[broken] = original[: data.draw(st.integers(0, len(original) - 1))]
    elif how == "garbage":
        values[broken] = data.draw(st.binary(max_size=80))
    else:  # a union branch byte out of range, where the first sample's odometer starts
        cut = data.draw(st.integers(0, len(original) - 1))
        values[broken] = original[:cut] + b"\x07" + original[cut + 1 :]
    result = batch_copy(values)
    good = [i for i in range(len(values)) if i != broken]
    assert set(result.rest) <= {broken}
    here = [i for i in range(len(values)) if i not in result.rest]
    assert result.rows.data == per_frame(values, here)
    assert set(good) <= set(here)


def test_dtcs_and_long_bursts_go_the_per_frame_way() -> None:
    sample = Sample(0, NOW, 1, None, None, None, None, None, None, ("P0301",), None, None)
    with_codes = TelemetryFrame("WJGBNCH05RA012345", "b", 1, NOW, "x", (sample,))
    burst = TelemetryFrame(
        "WJGBNCH05RA012345",
        "b",
        2,
        NOW,
        "x",
        tuple(Sample(i, NOW, 1, *([None] * 7), None, None) for i in range(MAX_SAMPLES + 1)),
    )
    values = [CODEC.encode(with_codes), CODEC.encode(burst)]
    assert batch_copy(values).rest == (0, 1)


def test_nothing_in_nothing_out() -> None:
    result = batch_copy([])
    assert result.rows.rows == 0 and result.rest == ()


def test_malformed_frames_are_left_for_the_per_frame_decoder_to_reject() -> None:
    sample = Sample(0, NOW, 1, None, None, None, None, None, None, None, None, None)
    whole = CODEC.encode(TelemetryFrame("WJGBNCH05RA012345", "b", 1, NOW, "x", (sample,)))
    values = [b"", b"\x00", b"\xff" * 20, whole[:-3]]
    result = batch_copy(values)
    assert result.rest == (0, 1, 2, 3) and result.rows.rows == 0
    for value in values:
        with pytest.raises(CodecError):
            frame_copy(value)


def test_rows_of_several_layouts_come_out_in_frame_order() -> None:
    """Different text lengths and NULLs make different row layouts; the output keeps the
    frames' order whatever the layouts."""
    full = Sample(0, NOW, 1200, 50.0, 40.0, None, 12.6, 300.5, 10, (), 52.1, 13.4)
    sparse = Sample(0, NOW, None, None, None, 80.0, None, None, None, None, None, None)
    batch = [
        TelemetryFrame("WJGBNCH05RA012345", "b" * n, n, NOW, "x", (full if n % 2 else sparse,))
        for n in range(1, 9)
    ]
    values = [CODEC.encode(f) for f in batch]
    result = batch_copy(values)
    assert result.rest == ()
    assert result.rows.data == per_frame(values, list(range(len(values))))
