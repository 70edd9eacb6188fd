"""The store writer's pure core: frames to rows, batch decoding, offsets, seek plans."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import DataError
from kernel.offsets import seek_plan
from processors.store.logic import (
    COLUMNS,
    PG_TYPES,
    TelemetryRow,
    decode_batch,
    decode_batch_in_bulk,
    frame_rows,
    frames_to_rows,
    next_offsets,
)
from schemas.codec import FrameCodec
from schemas.records import Sample, TelemetryFrame

MIGRATION = Path(__file__).parents[4] / "database" / "migrations" / "0001_foundation.sql"

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
millis = st.integers(min_value=0, max_value=20 * 365 * 86_400_000)
timestamps = millis.map(lambda ms: EPOCH + timedelta(milliseconds=ms))
floats = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64)
longs = st.none() | st.integers(min_value=0, max_value=2**62)
codes = st.sampled_from(["P0300", "P0420", "U0100", "B1234", "C0035"])
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
vins = st.text(alphabet=VIN_CHARS, min_size=17, max_size=17)
boot_ids = st.text(alphabet=VIN_CHARS.lower() + "._:-", min_size=1, max_size=12)


@st.composite
def samples(draw: st.DrawFn, idx: int) -> Sample:
    return Sample(
        sample_idx=idx,
        event_ts=draw(timestamps),
        odometer_m=draw(longs),
        speed_kmh=draw(floats),
        fuel_level_pct=draw(floats),
        soc_pct=draw(floats),
        battery_12v_v=draw(floats),
        engine_hours_h=draw(floats),
        oil_life_remaining_s=draw(longs),
        dtcs=draw(st.none() | st.lists(codes, max_size=4).map(tuple)),
        latitude_deg=draw(floats),
        longitude_deg=draw(floats),
    )


@st.composite
def frames(draw: st.DrawFn) -> TelemetryFrame:
    count = draw(st.integers(min_value=0, max_value=4))
    return TelemetryFrame(
        vin=draw(vins),
        boot_id=draw(boot_ids),
        seq=draw(st.integers(min_value=0, max_value=2**62)),
        ingest_ts=draw(timestamps),
        bridge_id=draw(st.text(min_size=1, max_size=10)),
        samples=tuple(draw(samples(i)) for i in range(count)),
    )


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = b"VIN"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@given(st.lists(frames(), max_size=8))
def test_every_sample_becomes_exactly_one_row_with_the_same_values(
    batch: list[TelemetryFrame],
) -> None:
    rows = frames_to_rows(batch)
    expected = [(f, s) for f in batch for s in f.samples]
    assert len(rows) == len(expected)
    for row, (frame, sample) in zip(rows, expected, strict=True):
        assert (row.vin, row.boot_id, row.seq, row.ingest_ts) == (
            frame.vin,
            frame.boot_id,
            frame.seq,
            frame.ingest_ts,
        )
        assert row.sample_idx == sample.sample_idx
        assert row.event_ts == sample.event_ts
        for name in (
            "odometer_m",
            "speed_kmh",
            "fuel_level_pct",
            "soc_pct",
            "battery_12v_v",
            "engine_hours_h",
            "oil_life_remaining_s",
            "latitude_deg",
            "longitude_deg",
        ):
            assert getattr(row, name) == getattr(sample, name)
            assert (getattr(row, name) is None) == (getattr(sample, name) is None)
        if sample.dtcs is None:
            assert row.dtcs is None
        else:
            assert isinstance(row.dtcs, list)
            assert row.dtcs == list(sample.dtcs)


def test_a_frame_without_samples_has_no_rows() -> None:
    frame = TelemetryFrame("1HGCM82633A004352", "b", 1, EPOCH, "bridge")
    assert frame_rows(frame) == []


def test_empty_dtcs_stay_an_empty_list_not_null() -> None:
    frame = TelemetryFrame(
        "1HGCM82633A004352", "b", 1, EPOCH, "bridge", (Sample(0, EPOCH, dtcs=()),)
    )
    assert frame_rows(frame)[0].dtcs == []


def test_row_columns_match_the_telemetry_table() -> None:
    text = MIGRATION.read_text(encoding="utf-8")
    body = re.search(r"CREATE TABLE telemetry \((.*?)\n\);", text, re.S)
    assert body is not None
    table_columns = [
        line.split()[0]
        for line in body.group(1).splitlines()
        if line.strip() and not line.strip().startswith("PRIMARY KEY")
    ]
    assert [c for c in table_columns if c != "stored_at"] == list(COLUMNS)
    assert len(PG_TYPES) == len(COLUMNS) == len(TelemetryRow._fields)


BAD_VALUES = [None, b"", b"\xff", b"not avro at all"]


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            st.one_of(
                frames().map(lambda f: ("frame", f)),
                st.sampled_from(BAD_VALUES).map(lambda v: ("bad", v)),
                frames().map(lambda f: ("truncated", f)),
            ),
        ),
        max_size=12,
    )
)
def test_decode_batch_splits_frames_from_undecodable_records(
    items: list[tuple[int, tuple[str, object]]],
) -> None:
    codec = FrameCodec()
    records: list[Record] = []
    offsets = {p: 10 * p for p in range(4)}
    expected_frames: list[TelemetryFrame] = []
    expected_bad: list[Record] = []
    for partition, (kind, payload) in items:
        if kind == "frame":
            assert isinstance(payload, TelemetryFrame)
            value: bytes | None = codec.encode(payload)
            expected_frames.append(payload)
        elif kind == "truncated":
            assert isinstance(payload, TelemetryFrame)
            full = codec.encode(payload)
            value = full[: len(full) // 2]
        else:
            assert payload is None or isinstance(payload, bytes)
            value = payload
        rec = Record("frames", partition, offsets[partition], value)
        offsets[partition] += 1
        records.append(rec)
        if kind != "frame":
            expected_bad.append(rec)

    batch = decode_batch(records, codec.decode)

    assert list(batch.frames) == expected_frames
    assert [r.record for r in batch.rejected] == expected_bad
    assert {r.reason for r in batch.rejected} <= {"undecodable"}
    assert dict(batch.next_offsets) == {
        ("frames", p): offsets[p] for p in range(4) if offsets[p] > 10 * p
    }


@given(st.lists(st.sampled_from([b"good", b"bad", None]), max_size=12), st.data())
def test_a_bulk_decoder_leaves_some_records_to_the_one_by_one_decoder(
    values: list[bytes | None], data: st.DataObject
) -> None:
    """What the bulk decoder leaves is decoded one by one; rejects keep the records' order."""
    records = [Record("frames", 0, offset, value) for offset, value in enumerate(values)]
    present = [v for v in values if v is not None]
    left = data.draw(st.sets(st.integers(0, max(0, len(present) - 1))).map(sorted))
    left = [k for k in left if k < len(present)]

    def bulk(given: Sequence[bytes]) -> tuple[list[bytes], Sequence[int]]:
        assert list(given) == present
        return [v for k, v in enumerate(given) if k not in left], left

    def one(value: bytes) -> list[bytes]:
        if value == b"bad":
            raise DataError("undecodable", "bad")
        return [value]

    batch = decode_batch_in_bulk(records, bulk, one)
    assert batch.frames[0] == [v for k, v in enumerate(present) if k not in left]
    assert list(batch.frames[1:]) == [[present[k]] for k in left if present[k] != b"bad"]
    bad_offsets = {
        i
        for i, v in enumerate(values)
        if v is None or (v == b"bad" and present_index(values, i) in left)
    }
    assert [r.record.offset for r in batch.rejected] == sorted(bad_offsets)
    assert dict(batch.next_offsets) == ({("frames", 0): len(values)} if values else {})


def present_index(values: list[bytes | None], i: int) -> int:
    """The position of ``values[i]`` among the values that are not None."""
    return sum(1 for v in values[:i] if v is not None)


@given(st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 3), st.integers(0, 10**6))))
def test_next_offsets_is_the_highest_offset_plus_one(triples: list[tuple[str, int, int]]) -> None:
    records = [Record(t, p, o, b"") for t, p, o in triples]
    result = next_offsets(records)
    for (topic, partition), following in result.items():
        seen = [o for t, p, o in triples if (t, p) == (topic, partition)]
        assert following == max(seen) + 1
    assert set(result) == {(t, p) for t, p, _ in triples}


@given(
    st.sets(st.tuples(st.just("frames"), st.integers(0, 11))),
    st.dictionaries(st.tuples(st.just("frames"), st.integers(0, 11)), st.integers(0, 10**9)),
)
def test_seek_plan_uses_stored_offsets_else_the_beginning(
    assigned: set[tuple[str, int]], stored: dict[tuple[str, int], int]
) -> None:
    plan = seek_plan(assigned, stored)
    assert set(plan.seek) | set(plan.from_beginning) == assigned
    assert not set(plan.seek) & set(plan.from_beginning)
    for partition, offset in plan.seek.items():
        assert offset == stored[partition]
    assert all(p not in stored for p in plan.from_beginning)
