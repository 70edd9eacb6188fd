"""Pure core of the store writer: records in, rows, dead letters and offsets out.

Nothing here talks to Kafka or PostgreSQL. The runner polls a batch of records, calls
:func:`decode_batch` and :func:`frames_to_rows`, and hands the result to the database writer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from kernel.errors import DataError
from kernel.kafka import SourceRecord
from kernel.offsets import Partition
from schemas.records import TelemetryFrame
from schemas.sample import TELEMETRY_ROW

"""A Kafka (topic, partition) pair."""
T = TypeVar("T")


class TelemetryRow(NamedTuple):
    """One row of the ``telemetry`` table (every column but ``stored_at``), in COPY order.

    Written out for static typing; the unit tests check it against
    :data:`schemas.sample.TELEMETRY_ROW` (a ``text[]`` column holds a list).
    """

    vin: str
    boot_id: str
    seq: int
    sample_idx: int
    event_ts: datetime
    ingest_ts: datetime
    odometer_m: int | None
    speed_kmh: float | None
    fuel_level_pct: float | None
    soc_pct: float | None
    battery_12v_v: float | None
    engine_hours_h: float | None
    oil_life_remaining_s: int | None
    dtcs: list[str] | None
    latitude_deg: float | None
    longitude_deg: float | None


COLUMNS: tuple[str, ...] = tuple(c.name for c in TELEMETRY_ROW)
"""Column names of :class:`TelemetryRow`, in order (from :data:`schemas.sample.TELEMETRY_ROW`)."""

PG_TYPES: tuple[str, ...] = tuple(c.type.pg_copy for c in TELEMETRY_ROW)
"""PostgreSQL types of :data:`COLUMNS` for a binary COPY."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that cannot be stored: it goes to the dead-letter topic with ``reason``."""

    record: SourceRecord
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class DecodedBatch(Generic[T]):
    """A polled batch, split into decoded frames and rejects, with the offsets it covers."""

    frames: tuple[T, ...]
    rejected: tuple[Rejected, ...]
    next_offsets: Mapping[Partition, int]
    """Per partition, the offset of the next record to read: last offset of the batch + 1."""


def frame_rows(frame: TelemetryFrame) -> list[TelemetryRow]:
    """One row per sample of ``frame``; ``dtcs`` becomes a list (or stays None)."""
    return [
        TelemetryRow(
            frame.vin,
            frame.boot_id,
            frame.seq,
            s.sample_idx,
            s.event_ts,
            frame.ingest_ts,
            s.odometer_m,
            s.speed_kmh,
            s.fuel_level_pct,
            s.soc_pct,
            s.battery_12v_v,
            s.engine_hours_h,
            s.oil_life_remaining_s,
            list(s.dtcs) if s.dtcs is not None else None,
            s.latitude_deg,
            s.longitude_deg,
        )
        for s in frame.samples
    ]


def frames_to_rows(frames: Iterable[TelemetryFrame]) -> list[TelemetryRow]:
    """The rows of every frame, in order."""
    rows: list[TelemetryRow] = []
    for frame in frames:
        rows.extend(frame_rows(frame))
    return rows


def next_offsets(records: Iterable[SourceRecord]) -> dict[Partition, int]:
    """Per partition, the highest offset seen plus one."""
    result: dict[Partition, int] = {}
    for rec in records:
        key = (rec.topic, rec.partition)
        following = rec.offset + 1
        if following > result.get(key, 0):
            result[key] = following
    return result


def decode_batch(records: Sequence[SourceRecord], decode: Callable[[bytes], T]) -> DecodedBatch[T]:
    """Decode every record (as a frame, or straight to its rows); a :class:`DataError` from
    ``decode`` makes the record a reject.

    Any other exception propagates: it is a bug, not bad data.
    """
    frames: list[T] = []
    rejected: list[Rejected] = []
    for rec in records:
        if rec.value is None:
            rejected.append(Rejected(rec, "undecodable", "record has no value"))
            continue
        try:
            frames.append(decode(rec.value))
        except DataError as exc:
            rejected.append(Rejected(rec, exc.reason, exc.detail))
    return DecodedBatch(tuple(frames), tuple(rejected), next_offsets(records))


def decode_batch_in_bulk(
    records: Sequence[SourceRecord],
    bulk: Callable[[Sequence[bytes]], tuple[T, Sequence[int]]],
    decode: Callable[[bytes], T],
) -> DecodedBatch[T]:
    """:func:`decode_batch` with most of the work done once for the whole batch: ``bulk``
    decodes what it can of the values and returns the indexes of those it left, which
    ``decode`` then takes one by one (a :class:`DataError` makes the record a reject)."""
    valued = [(i, rec, rec.value) for i, rec in enumerate(records) if rec.value is not None]
    done, left = bulk([value for _, _, value in valued])
    frames: list[T] = [done]
    rejected = [
        (i, Rejected(rec, "undecodable", "record has no value"))
        for i, rec in enumerate(records)
        if rec.value is None
    ]
    for k in left:
        i, rec, value = valued[k]
        try:
            frames.append(decode(value))
        except DataError as exc:
            rejected.append((i, Rejected(rec, exc.reason, exc.detail)))
    rejected.sort(key=lambda item: item[0])
    return DecodedBatch(tuple(frames), tuple(rej for _, rej in rejected), next_offsets(records))
