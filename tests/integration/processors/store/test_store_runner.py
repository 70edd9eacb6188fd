"""The store writer against a real Kafka-protocol broker and PostgreSQL.

Frames are produced to telemetry.frames with the Avro codec; the store runs as an asyncio task.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kernel import headers as h
from kernel.health import readiness
from kernel.kafka import Topics, make_producer
from kernel.metrics import registry
from kernel.settings import Settings
from processors.store.metrics import STAGE
from processors.store.runner import GROUP, StoreOptions, run_store, run_store_with
from schemas.codec import FrameCodec
from schemas.records import Sample, TelemetryFrame

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
VINS = [f"WVWZZZ1KZ8W{n:06d}" for n in range(8)]


def make_frames(count: int, samples: int = 3, *, boot_id: str = "boot-a") -> list[TelemetryFrame]:
    """``count`` frames spread over several VINs, with some signals missing."""
    frames = []
    for i in range(count):
        vin = VINS[i % len(VINS)]
        base = T0 + timedelta(minutes=i)
        frames.append(
            TelemetryFrame(
                vin=vin,
                boot_id=boot_id,
                seq=i,
                ingest_ts=base + timedelta(seconds=5),
                bridge_id="bridge-t",
                samples=tuple(
                    Sample(
                        sample_idx=j,
                        event_ts=base + timedelta(seconds=j),
                        odometer_m=10_000 * i + j if j % 2 == 0 else None,
                        speed_kmh=float(j) * 12.5,
                        soc_pct=None,
                        battery_12v_v=12.6,
                        oil_life_remaining_s=3600 * i,
                        dtcs=("P0300",) if j == 0 else (() if j == 1 else None),
                        latitude_deg=48.1 + i / 1000,
                        longitude_deg=None,
                    )
                    for j in range(samples)
                ),
            )
        )
    return frames


def expected_rows(frames: list[TelemetryFrame]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {
        (f.vin, f.boot_id, f.seq, s.sample_idx): (
            s.event_ts,
            f.ingest_ts,
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
        for f in frames
        for s in f.samples
    }


Ends = dict[int, int]
"""Per partition of telemetry.frames, the offset after the last record the test produced.

Taken from the producer's acknowledgements: the embedded broker's ListOffsets answers the base
offset of the last batch plus one, not the end of the log, when a batch holds several records.
"""


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def note(ends: Ends, partition: int, offset: int) -> None:
    ends[partition] = max(ends.get(partition, 0), offset + 1)


async def produce(
    settings: Settings, frames: list[TelemetryFrame], ends: Ends, *, partition: int | None = None
) -> None:
    codec = FrameCodec()
    producer = make_producer(settings)
    await producer.start()
    try:
        pending = [
            await producer.send(
                Topics.from_settings(settings).frames,
                value=codec.encode(f),
                key=f.vin.encode(),
                partition=partition,
                headers=[
                    (h.HEADER_FRAME_ID, f.frame_id.encode()),
                    (h.HEADER_INGEST_TS_MS, str(ms(f.ingest_ts)).encode()),
                    (h.HEADER_EVENT_TS_MS, str(max(ms(x.event_ts) for x in f.samples)).encode()),
                ],
            )
            for f in frames
        ]
        for meta in await asyncio.gather(*pending):
            note(ends, meta.partition, meta.offset)
    finally:
        await producer.stop()


async def produce_raw(settings: Settings, value: bytes, ends: Ends, *, partition: int) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            Topics.from_settings(settings).frames,
            value=value,
            key=b"garbage",
            partition=partition,
            headers=[("origin", b"test")],
        )
        note(ends, meta.partition, meta.offset)
    finally:
        await producer.stop()


async def query(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def stored_rows(settings: Settings) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    rows = await query(
        settings,
        "SELECT vin, boot_id, seq, sample_idx, event_ts, ingest_ts, odometer_m, speed_kmh,"
        " fuel_level_pct, soc_pct, battery_12v_v, engine_hours_h, oil_life_remaining_s, dtcs,"
        " latitude_deg, longitude_deg FROM telemetry",
    )
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


async def row_count(settings: Settings) -> int:
    return int((await query(settings, "SELECT count(*) FROM telemetry"))[0][0])


def store_group(settings: Settings) -> str:
    return settings.topic(GROUP)


async def db_offsets(settings: Settings) -> dict[int, int]:
    rows = await query(
        settings,
        "SELECT kafka_partition, next_offset FROM consumer_offsets WHERE consumer_group = %s"
        " AND topic = %s",
        (store_group(settings), Topics.from_settings(settings).frames),
    )
    return {int(p): int(o) for p, o in rows}


def partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in range(settings.kafka_partitions)]


async def kafka_committed(settings: Settings) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=store_group(settings),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = partitions(settings, Topics.from_settings(settings).frames)
        consumer.assign(tps)
        return {tp.partition: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()


async def drained(settings: Settings, ends: Ends) -> bool:
    """Every record produced to telemetry.frames is covered by the offsets in PostgreSQL."""
    return await db_offsets(settings) == ends


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    *,
    task: asyncio.Task[None] | None = None,
    timeout_s: float = 20.0,
) -> None:
    """Poll ``check`` until it holds; fail at the deadline or as soon as the store task dies."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if task is not None and task.done():
            task.result()
            raise AssertionError(f"the store stopped before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_store(settings: Settings, **options: Any) -> AsyncIterator[asyncio.Task[None]]:
    """The store as a task; stopped cleanly (and its failure re-raised) on exit."""
    stop = asyncio.Event()
    opts = StoreOptions(**options)
    task = asyncio.create_task(run_store_with(settings, stop, opts))
    try:
        yield task
    finally:
        stop.set()
        if not task.cancelled():
            await asyncio.wait_for(task, timeout=20)


def metric(name: str, **labels: str) -> float:
    value = registry(STAGE).get_sample_value(f"journeygate_store_{name}", labels or None)
    return value or 0.0


def test_frames_become_exactly_the_right_rows(settings: Settings) -> None:
    frames = make_frames(24, samples=3)
    latencies_before = metric("event_to_store_seconds_count")
    ingest_before = metric("ingest_to_store_seconds_count")

    async def scenario() -> None:
        ends: Ends = {}
        await produce(settings, frames, ends)
        async with running_store(settings) as task:
            await wait_until(lambda: drained(settings, ends), "the topic to be drained", task=task)
        assert await stored_rows(settings) == expected_rows(frames)
        # one latency per frame, from the times the normalizer puts in its headers
        assert metric("event_to_store_seconds_count") - latencies_before == len(frames)
        assert metric("ingest_to_store_seconds_count") - ingest_before == len(frames)
        nulls = await query(settings, "SELECT count(*) FROM telemetry WHERE stored_at IS NULL")
        assert nulls[0][0] == 0

    asyncio.run(scenario())


def test_duplicates_in_kafka_are_stored_once_and_counted(settings: Settings) -> None:
    frames = make_frames(10, samples=2)
    written, absorbed = metric("rows_written_total"), metric("duplicates_absorbed_total")

    async def scenario() -> None:
        ends: Ends = {}
        await produce(settings, frames, ends)
        await produce(settings, frames, ends)
        async with running_store(settings) as task:
            await wait_until(lambda: drained(settings, ends), "the topic to be drained", task=task)
        assert await stored_rows(settings) == expected_rows(frames)

    asyncio.run(scenario())
    assert metric("rows_written_total") - written == 20
    assert metric("duplicates_absorbed_total") - absorbed == 20


def test_restart_resumes_from_offsets_in_postgres_not_kafka(settings: Settings) -> None:
    first, second = make_frames(12, boot_id="boot-1"), make_frames(12, boot_id="boot-2")

    async def scenario() -> None:
        ends: Ends = {}
        await produce(settings, first, ends)
        async with running_store(settings, commit_to_kafka=False) as task:
            await wait_until(lambda: drained(settings, ends), "the first frames", task=task)
            task.cancel()  # a crash: no clean shutdown
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert set((await kafka_committed(settings)).values()) == {None}
        # Remove what the first run stored: a restart that re-read from Kafka (which has no
        # committed offsets, so it would start at the beginning) would store it again.
        await query(settings, "DELETE FROM telemetry RETURNING 1")
        consumed = metric("consumed_total")
        await produce(settings, second, ends)
        async with running_store(settings, commit_to_kafka=False) as task:
            await wait_until(lambda: drained(settings, ends), "the second frames", task=task)
        assert await stored_rows(settings) == expected_rows(second)
        assert metric("consumed_total") - consumed == len(second)

    asyncio.run(scenario())


def test_undecodable_record_is_dead_lettered_and_neighbours_stored(settings: Settings) -> None:
    frames = make_frames(4, samples=2)
    topics = Topics.from_settings(settings)
    dead = metric("dead_lettered_total", reason="undecodable")

    async def scenario() -> None:
        ends: Ends = {}
        await produce(settings, frames[:2], ends, partition=1)
        await produce_raw(settings, b"\xffnot avro", ends, partition=1)
        await produce(settings, frames[2:], ends, partition=1)
        async with running_store(settings) as task:
            await wait_until(lambda: drained(settings, ends), "the topic to be drained", task=task)
        assert await stored_rows(settings) == expected_rows(frames)
        letters = await read_all(settings, topics.dlq, expected=1)
        assert len(letters) == 1
        letter = letters[0]
        headers = dict(letter.headers)
        assert (letter.key, letter.value) == (b"garbage", b"\xffnot avro")
        assert headers[h.HEADER_DLQ_STAGE] == b"store"
        assert headers[h.HEADER_DLQ_REASON] == b"undecodable"
        assert headers[h.HEADER_DLQ_SOURCE_TOPIC] == topics.frames.encode()
        assert headers[h.HEADER_DLQ_SOURCE_PARTITION] == b"1"
        assert headers[h.HEADER_DLQ_SOURCE_OFFSET] == b"2"
        assert headers["origin"] == b"test"

    asyncio.run(scenario())
    assert metric("dead_lettered_total", reason="undecodable") - dead == 1


async def read_all(settings: Settings, topic: str, *, expected: int) -> list[Any]:
    """Every record of ``topic``: waits for ``expected`` of them, then for any extra."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        tps = partitions(settings, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + 10
        while len(records) < expected and time.monotonic() < deadline:
            for part in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(part)
        for part in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(part)
        return records
    finally:
        await consumer.stop()


def test_stored_offsets_equal_end_offsets_after_draining(make_settings: Any) -> None:
    settings = make_settings(batch_max_records=7)
    frames = make_frames(40, samples=1)
    batches = metric("batches_total")

    async def scenario() -> None:
        ends: Ends = {}
        await produce(settings, frames, ends)
        async with running_store(settings) as task:
            await wait_until(lambda: drained(settings, ends), "the topic to be drained", task=task)

            async def kafka_matches() -> bool:
                committed = await kafka_committed(settings)
                return {p: o for p, o in committed.items() if o is not None} == ends

            assert sum(ends.values()) == 40
            await wait_until(kafka_matches, "the informational Kafka commit", task=task)
        assert await db_offsets(settings) == ends
        assert await row_count(settings) == 40

    asyncio.run(scenario())
    assert metric("batches_total") - batches >= 40 / 7


def test_lost_database_connection_is_reopened_and_the_batch_retried(settings: Settings) -> None:
    first, second = make_frames(8, boot_id="boot-1"), make_frames(8, boot_id="boot-2")
    retries = metric("db_retries_total")

    async def scenario() -> None:
        ends: Ends = {}
        await produce(settings, first, ends)
        async with running_store(settings) as task:
            await wait_until(lambda: drained(settings, ends), "the first frames", task=task)
            killed = await query(
                settings,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            assert killed and all(row[0] for row in killed)
            await produce(settings, second, ends)
            await wait_until(lambda: drained(settings, ends), "the second frames", task=task)
        assert await stored_rows(settings) == expected_rows(first + second)

    asyncio.run(scenario())
    assert metric("db_retries_total") - retries >= 1


def test_database_outage_blocks_consumption_then_the_store_catches_up(
    make_settings: Any,
) -> None:
    settings = make_settings(batch_max_records=5)
    first, second = make_frames(4, boot_id="boot-1"), make_frames(20, boot_id="boot-2")
    dbname = urlsplit(settings.database_url).path.lstrip("/")
    admin_url = settings.database_url.rsplit("/", 1)[0] + "/postgres"

    async def admin(sql: str) -> None:
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
            await conn.execute(sql)

    async def scenario() -> None:
        ends: Ends = {}
        await produce(settings, first, ends)
        async with running_store(settings) as task:
            await wait_until(lambda: drained(settings, ends), "the first frames", task=task)
            retries = metric("db_retries_total")
            await admin(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS false')
            try:
                await admin(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    f" WHERE datname = '{dbname}'"
                )
                consumed = metric("consumed_total")
                await produce(settings, second, ends)

                async def retried_three_times() -> bool:
                    return metric("db_retries_total") - retries >= 3

                await wait_until(retried_three_times, "the store to retry", task=task)
                # Blocked on one batch: no further polling while the database is down.
                assert metric("consumed_total") - consumed <= settings.batch_max_records
            finally:
                await admin(f'ALTER DATABASE "{dbname}" WITH ALLOW_CONNECTIONS true')
            await wait_until(lambda: drained(settings, ends), "the second frames", task=task)
        assert await stored_rows(settings) == expected_rows(first + second)

    asyncio.run(scenario())


def test_writers_joining_and_leaving_store_each_sample_once(settings: Settings) -> None:
    batches = [make_frames(16, boot_id=f"boot-{n}") for n in range(3)]
    absorbed = metric("duplicates_absorbed_total")

    async def scenario() -> None:
        ends: Ends = {}
        async with contextlib.AsyncExitStack() as stack:
            one = await stack.enter_async_context(running_store(settings, commit_to_kafka=False))
            await produce(settings, batches[0], ends)
            await wait_until(lambda: drained(settings, ends), "the first frames", task=one)
            async with running_store(settings, commit_to_kafka=False) as two:
                await produce(settings, batches[1], ends)
                await wait_until(lambda: drained(settings, ends), "the second frames", task=two)
                await stack.aclose()  # the first writer leaves; the second takes every partition
                await produce(settings, batches[2], ends)
                await wait_until(lambda: drained(settings, ends), "the third frames", task=two)
        assert await stored_rows(settings) == expected_rows(batches[0] + batches[1] + batches[2])

    asyncio.run(scenario())
    # Every writer resumed each partition exactly where the database said: nothing re-read.
    assert metric("duplicates_absorbed_total") - absorbed == 0


def test_an_unreachable_database_at_start_is_waited_for_until_stopped(
    make_settings: Any,
) -> None:
    settings = make_settings(database_url="postgresql://postgres@127.0.0.1:9/nowhere")
    ready = readiness("store")
    unmet: list[dict[str, str]] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(run_store(settings, stop))
        deadline = time.monotonic() + 20
        while "cannot reach" not in ready.reasons().get("postgresql", ""):
            assert time.monotonic() < deadline, ready.reasons()
            await asyncio.sleep(0.05)
        unmet.append(ready.reasons())
        stop.set()
        await asyncio.wait_for(running, timeout=15)  # returns, raising nothing

    asyncio.run(scenario())
    assert "cannot reach PostgreSQL" in unmet[0]["postgresql"]
    assert "partitions" in unmet[0]
