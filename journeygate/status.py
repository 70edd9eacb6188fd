"""``journeygate status``: where each stage stands, read from Kafka and PostgreSQL, and a verdict.

Per consuming stage: its lag (records on its input topics after its committed position: Kafka's
committed offsets for the normalizer, the ``consumer_offsets`` table for the stages that commit with
their rows), how long the oldest of them has waited (the Kafka timestamp of the record at the
committed position), and when it last committed (``consumer_offsets.updated_at``; for the
normalizer, the newest record on its output topic). Beside them: the dead letters by stage and
reason, approximate row counts of the store's tables, the sequence numbers missing below each
vehicle boot's highest handled one (``telemetry_acks``: what devices lost and never sent again), the
fleet's usage shift the signals processor takes off in each partition of ``telemetry.frames``
(``usage_shift``), and the age of the newest prediction and alert. :func:`judge` says what is
unhealthy; the I/O is :func:`gather`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from database.db import connect
from database.migrate import has_timescaledb
from database.schema import require_migrated_blocking
from journeygate.dlq import Count, counts
from kernel.deadletters import read_dead_letter_log
from kernel.errors import InfrastructureError, first_line
from kernel.kafka import Topics, make_consumer, start_client
from kernel.settings import Settings
from processors.signals.fleetshift import PartitionShift, shift_log

Partition = tuple[str, int]
KAFKA_COMMITTED = "kafka"
STORED = "postgres"
FETCH_ROUNDS_S = 5.0


@dataclass(frozen=True, slots=True)
class StageSpec:
    name: str
    group: str
    """Consumer group without the deployment's prefix."""
    inputs: tuple[str, ...]
    """Attributes of :class:`~kernel.kafka.Topics`."""
    offsets: str
    """Where the stage commits its position: :data:`KAFKA_COMMITTED` or :data:`STORED`."""
    output: str | None = None
    """For a stage that commits to Kafka: the topic its newest output tells its last commit."""


SIGNALS = StageSpec("signals", "journeygate-signals", ("frames", "services"), STORED)
STAGES = (
    StageSpec("normalize", "journeygate-normalize", ("raw",), KAFKA_COMMITTED, output="frames"),
    StageSpec("store", "journeygate-store", ("frames", "receipts"), STORED),
    SIGNALS,
    StageSpec("journey", "journeygate-journey", ("signals", "services", "consent"), STORED),
    StageSpec("ack-relay", "journeygate-ack-relay", ("acks",), KAFKA_COMMITTED),
)
TABLES = ("telemetry", "vehicle_state", "signals", "journey_events", "alerts", "webhook_outbox")


@dataclass(frozen=True, slots=True)
class StageStatus:
    name: str
    group: str
    lag: int
    """Records on its inputs after its committed position."""
    waiting_s: float | None
    """Age of the oldest of them (None: nothing waits)."""
    last_commit_age_s: float | None
    """Seconds since it last committed (None: never)."""
    partitions: int
    unhealthy: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Gaps:
    """Sequence numbers never handled below a vehicle boot's highest handled one: a loss between
    the device and the pipeline that nobody sent again (docs/operations.md, "Detecting loss")."""

    vehicles: int
    """Vehicles with at least one."""
    missing_seqs: int


@dataclass(frozen=True, slots=True)
class UsageShift:
    """The fleet's usage shift in force in one partition of ``telemetry.frames``
    (docs/signals.md, "The fleet's usage shift")."""

    partition: int
    shift_log: float
    """The log of the rate ratio taken off every vehicle's recent rate (0: none)."""
    vehicles: int
    """Vehicles counted (it stays 0 under 20)."""


@dataclass(frozen=True, slots=True)
class Status:
    stages: tuple[StageStatus, ...]
    dead_letters: tuple[Count, ...]
    rows: Mapping[str, int]
    """Approximate row counts (the planner's estimate)."""
    newest_prediction_age_s: float | None
    newest_alert_age_s: float | None
    gaps: Gaps = field(default_factory=lambda: Gaps(0, 0))
    problems: tuple[str, ...] = field(default=())
    usage_shifts: tuple[UsageShift, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.problems and not any(s.unhealthy for s in self.stages)


@dataclass(frozen=True, slots=True)
class Limits:
    max_lag: int = 100_000
    """More records waiting than this is unhealthy."""
    max_wait_s: float = 300.0
    """A record waiting longer than this is unhealthy: the stage is stalled or far behind."""


@dataclass(frozen=True, slots=True)
class PartitionView:
    end: int
    """Offset after the last record."""
    position_ts_ms: int | None
    """Kafka timestamp of the record at the position asked for (None: no record there)."""


@dataclass(frozen=True, slots=True)
class Readings:
    """Everything :func:`gather` read, before judging."""

    now_ms: int
    partitions: Mapping[Partition, PartitionView]
    positions: Mapping[str, Mapping[Partition, int]]
    """Per stage: its committed next offset per partition (absent: never committed)."""
    last_commit_ms: Mapping[str, int | None]
    dead_letters: tuple[Count, ...]
    rows: Mapping[str, int]
    newest_prediction_ms: int | None
    newest_alert_ms: int | None
    gaps: Gaps = field(default_factory=lambda: Gaps(0, 0))
    usage_shifts: tuple[UsageShift, ...] = ()


def judge(readings: Readings, topics: Topics, prefix: str, limits: Limits) -> Status:
    """The status of each stage and the whole (pure)."""
    stages = []
    for spec in STAGES:
        names = {getattr(topics, t) for t in spec.inputs}
        position = readings.positions.get(spec.name, {})
        lag, oldest_ms, parts = 0, None, 0
        for key, view in readings.partitions.items():
            if key[0] not in names:
                continue
            parts += 1
            behind = max(0, view.end - position.get(key, 0))
            lag += behind
            if behind and view.position_ts_ms is not None:
                oldest_ms = min(view.position_ts_ms, oldest_ms or view.position_ts_ms)
        waiting_s = None if oldest_ms is None else max(0.0, (readings.now_ms - oldest_ms) / 1000)
        committed = readings.last_commit_ms.get(spec.name)
        age = None if committed is None else max(0.0, (readings.now_ms - committed) / 1000)
        bad = []
        if lag > limits.max_lag:
            bad.append(f"{lag:,} records waiting (limit {limits.max_lag:,})")
        if waiting_s is not None and waiting_s > limits.max_wait_s:
            bad.append(f"a record has waited {waiting_s:,.0f} s (limit {limits.max_wait_s:,.0f})")
        stages.append(
            StageStatus(spec.name, prefix + spec.group, lag, waiting_s, age, parts, tuple(bad))
        )

    def age_s(ms: int | None) -> float | None:
        return None if ms is None else max(0.0, (readings.now_ms - ms) / 1000)

    return Status(
        tuple(stages),
        readings.dead_letters,
        readings.rows,
        age_s(readings.newest_prediction_ms),
        age_s(readings.newest_alert_ms),
        readings.gaps,
        usage_shifts=readings.usage_shifts,
    )


# --- reading ---------------------------------------------------------------------------------

_STORED = "SELECT consumer_group, topic, kafka_partition, next_offset FROM consumer_offsets"
_LAST_COMMIT = """
SELECT consumer_group, (extract(epoch FROM max(updated_at)) * 1000)::bigint
FROM consumer_offsets GROUP BY consumer_group
"""
# Live rows as the statistics count them at each commit, the table's own and its children's
# (TimescaleDB's chunks and declarative partitions inherit from their table). The planner's
# estimate (reltuples) said 0 until the first ANALYZE, and always 0 for a hypertable's parent.
# A compressed chunk's live rows drop to 0 at its next ANALYZE: on TimescaleDB the count is the
# larger of this and approximate_row_count, which counts compressed chunks once analyzed (and
# undercounts before), so neither blind spot shows (checked on TimescaleDB 2.19.3).
_TIMESCALE_ROWS = """
SELECT c.relname, approximate_row_count(c.oid)
FROM pg_class c
WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)
"""
_ROWS = """
SELECT c.relname,
       coalesce((SELECT s.n_live_tup FROM pg_stat_user_tables s WHERE s.relid = c.oid), 0)
       + coalesce((SELECT sum(s.n_live_tup) FROM pg_inherits i
                   JOIN pg_stat_user_tables s ON s.relid = i.inhrelid
                   WHERE i.inhparent = c.oid), 0)
FROM pg_class c
WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)
"""
_NEWEST = """
SELECT (SELECT (extract(epoch FROM max(updated_at)) * 1000)::bigint FROM vehicle_state
        WHERE predicted_as_of_ts IS NOT NULL),
       (SELECT (extract(epoch FROM max(stored_at)) * 1000)::bigint FROM alerts)
"""
_SHIFTS = """
SELECT kafka_partition, state FROM usage_shift
WHERE consumer_group = %s AND topic = %s ORDER BY kafka_partition
"""
_GAPS = """
SELECT count(DISTINCT vin), coalesce(sum(missing_seqs), 0)::bigint
FROM telemetry_acks WHERE missing_seqs > 0
"""


def gather(settings: Settings) -> Readings:
    """Read the stages' positions and the topics' ends; InfrastructureError naming the server
    that cannot be read."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    prefix = settings.topic_prefix
    try:
        with connect(settings.database_url) as conn:
            require_migrated_blocking(conn, settings.database_url)
            stored = conn.execute(_STORED).fetchall()
            commits = {str(g): _int(t) for g, t in conn.execute(_LAST_COMMIT).fetchall()}
            rows = {str(n): max(0, _int(c) or 0) for n, c in conn.execute(_ROWS, (list(TABLES),))}
            if has_timescaledb(conn):
                for n, c in conn.execute(_TIMESCALE_ROWS, (list(TABLES),)):
                    rows[str(n)] = max(rows.get(str(n), 0), _int(c) or 0)
            newest = conn.execute(_NEWEST).fetchone() or (None, None)
            vehicles, missing = conn.execute(_GAPS).fetchone() or (0, 0)
            frames = Topics.from_settings(settings).frames
            shifts = read_usage_shifts(conn, prefix + SIGNALS.group, frames)
    except psycopg.Error as exc:
        raise InfrastructureError(f"cannot read the store: {first_line(exc)}") from exc
    positions: dict[str, dict[Partition, int]] = {s.name: {} for s in STAGES}
    by_group = {prefix + s.group: s.name for s in STAGES}
    for group, topic, partition, next_offset in stored:
        if group in by_group:
            positions[by_group[group]][(str(topic), _int(partition) or 0)] = _int(next_offset) or 0
    last_commit: dict[str, int | None] = {
        s.name: commits.get(prefix + s.group) for s in STAGES if s.offsets == STORED
    }
    topics = Topics.from_settings(settings)
    kafka = asyncio.run(_read_kafka(settings, topics, positions, last_commit))
    log = asyncio.run(read_dead_letter_log(settings))
    return Readings(
        now_ms=time.time_ns() // 1_000_000,
        partitions=kafka,
        positions=positions,
        last_commit_ms=last_commit,
        dead_letters=tuple(counts(log.letters, log.replayed)),
        rows=rows,
        newest_prediction_ms=_int(newest[0]),
        newest_alert_ms=_int(newest[1]),
        gaps=Gaps(_int(vehicles) or 0, _int(missing) or 0),
        usage_shifts=shifts,
    )


def read_usage_shifts(
    conn: psycopg.Connection[tuple[object, ...]], group: str, frames_topic: str
) -> tuple[UsageShift, ...]:
    """The usage shift of each partition of ``frames_topic`` the signals processor's ``group``
    stored."""
    rows = conn.execute(_SHIFTS, (group, frames_topic)).fetchall()
    return tuple(_usage_shift(_int(p) or 0, state) for p, state in rows)


def usage_shift_line(shifts: Sequence[UsageShift]) -> str:
    """One line: each partition's fleet usage against its habits, and the vehicles counted."""
    parts = ", ".join(
        f"{u.partition}: {math.exp(u.shift_log) - 1:+.0%} ({u.vehicles:,} vehicles)" for u in shifts
    )
    return f"fleet usage against its habits, taken off the forecasts, by partition: {parts}"


def _usage_shift(partition: int, state: object) -> UsageShift:
    """A ``usage_shift`` row as read (a damaged one shows as no shift and no vehicles)."""
    try:
        held = PartitionShift.from_json(state)
    except ValueError:
        return UsageShift(partition, 0.0, 0)
    return UsageShift(partition, shift_log(held.shift), held.vehicles)


def _int(value: object) -> int | None:
    """An integer read from the store (None for NULL)."""
    return None if value is None else int(str(value))


async def _read_kafka(
    settings: Settings,
    topics: Topics,
    positions: dict[str, dict[Partition, int]],
    last_commit: dict[str, int | None],
) -> dict[Partition, PartitionView]:
    """Each input partition's end and the timestamp of the record at the earliest position a
    stage committed there; the Kafka-committed positions (into ``positions``), and for those
    stages the newest record of their output (into ``last_commit``)."""
    try:
        for spec in STAGES:
            if spec.offsets == KAFKA_COMMITTED:
                positions[spec.name] = await _committed(settings, spec, topics)
        wanted = sorted({getattr(topics, t) for s in STAGES for t in s.inputs})
        earliest: dict[Partition, int] = {}
        for stage_positions in positions.values():
            for key, offset in stage_positions.items():
                earliest[key] = min(offset, earliest.get(key, offset))
        views = await _partitions(settings, wanted, earliest)
        for spec in STAGES:
            if spec.output is not None:
                output = getattr(topics, spec.output)
                last_commit[spec.name] = await _newest_ts(settings, output)
    except KafkaError as exc:
        raise InfrastructureError(
            f"cannot read Kafka at {settings.kafka_bootstrap}: {exc}"
        ) from exc
    return views


async def _committed(settings: Settings, spec: StageSpec, topics: Topics) -> dict[Partition, int]:
    consumer = make_consumer(settings, group_id=settings.topic_prefix + spec.group)
    await start_client(consumer, settings)
    try:
        out: dict[Partition, int] = {}
        for tp in await _tps(consumer, [getattr(topics, t) for t in spec.inputs]):
            offset = await consumer.committed(tp)
            if offset is not None and offset >= 0:
                out[(tp.topic, tp.partition)] = int(offset)
        return out
    finally:
        await consumer.stop()


async def _tps(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    await consumer.topics()  # refreshes the metadata
    return [
        TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())
    ]


def _reader(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="journeygate-status",
    )


async def _partitions(
    settings: Settings, topics: Sequence[str], at: Mapping[Partition, int]
) -> dict[Partition, PartitionView]:
    """Per partition, its end (the high watermark of a fetch: some Kafka-protocol brokers answer
    ListOffsets short of the end) and the timestamp of the record at ``at`` (default 0)."""
    consumer = _reader(settings)
    await start_client(consumer, settings)
    try:
        tps = await _tps(consumer, topics)
        if not tps:
            return {}
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, at.get((tp.topic, tp.partition), 0))
        first: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + FETCH_ROUNDS_S
        while time.monotonic() < deadline:
            open_tps = [tp for tp in tps if tp not in first]
            if not open_tps:
                break
            batch = await consumer.getmany(*open_tps, timeout_ms=200, max_records=len(tps))
            for tp, records in batch.items():
                if records:
                    first.setdefault(tp, records[0].timestamp)
            if await _all_read(consumer, open_tps, first):
                break
        return {
            (tp.topic, tp.partition): PartitionView(
                int(consumer.highwater(tp) or await consumer.position(tp)), first.get(tp)
            )
            for tp in tps
        }
    finally:
        await consumer.stop()


async def _all_read(
    consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition], first: Mapping[TopicPartition, int]
) -> bool:
    """Whether each partition gave its record at the position, or has none there."""
    for tp in tps:
        if tp in first:
            continue
        end = consumer.highwater(tp)
        if end is None or await consumer.position(tp) < end:
            return False
    return True


async def _newest_ts(settings: Settings, topic: str) -> int | None:
    """The Kafka timestamp of the newest record on ``topic`` (None: empty)."""
    consumer = _reader(settings)
    await start_client(consumer, settings)
    try:
        tps = await _tps(consumer, [topic])
        if not tps:
            return None
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        newest: int | None = None
        for tp in tps:
            end = int(ends.get(tp, 0))
            if end == 0:
                continue
            consumer.seek(tp, end - 1)
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
            for record in batch.get(tp, []):
                newest = max(record.timestamp, newest or record.timestamp)
        return newest
    finally:
        await consumer.stop()
