"""Helpers for normalizer integration tests: raw records in, topic contents out, real servers."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from kernel.kafka import Topics, make_consumer, make_producer, start_client
from kernel.settings import Settings
from processors.normalize.runner import group_id, run_normalizer

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Sent:
    """A raw record produced by a test, and where it landed."""

    key: bytes
    value: bytes
    headers: Headers
    partition: int
    offset: int


def register(settings: Settings, *vins: str) -> None:
    """Insert rows into the vehicle registry, as the onboarding process would."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for vin in vins:
            conn.execute(
                "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date,"
                " dealer_id) VALUES (%s, 'Volkswagen', 'Golf', 2021, 'ice', '2021-03-01', 'D-1')",
                (vin,),
            )


def bridge_headers(vin: str, ingest_ts_ms: int | None = None) -> Headers:
    now_ms = int(time.time() * 1000) if ingest_ts_ms is None else ingest_ts_ms
    return [
        ("mqtt_topic", f"vehicles/{vin}/telemetry".encode()),
        ("ingest_ts_ms", str(now_ms).encode()),
        ("bridge_id", b"bridge-test"),
    ]


async def produce_raw(
    settings: Settings, records: Sequence[tuple[bytes, bytes, Headers]]
) -> list[Sent]:
    """Produce ``(key, value, headers)`` records to telemetry.raw, in order; returns placements."""
    producer = make_producer(settings)
    await start_client(producer, settings)
    try:
        futures = [
            await producer.send(Topics.from_settings(settings).raw, value=v, key=k, headers=h)
            for k, v, h in records
        ]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [
        Sent(k, v, h, m.partition, m.offset) for (k, v, h), m in zip(records, metas, strict=True)
    ]


@contextlib.asynccontextmanager
async def running_normalizer(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """Run the normalizer as a task; stop it cleanly (and surface its errors) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_normalizer(settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer.topics()  # refreshes the metadata
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


@contextlib.asynccontextmanager
async def _reader(
    settings: Settings, topic: str
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"reader-{uuid.uuid4().hex[:6]}",
    )
    await start_client(consumer, settings)
    try:
        tps = await _partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        yield consumer, tps
    finally:
        await consumer.stop()


async def read_all(settings: Settings, topic: str) -> list[Any]:
    """Every record on ``topic``, partition by partition in offset order.

    The end of each partition is the high watermark of fetch responses. (The embedded Tansu
    broker answers ListOffsets with the last batch's base offset + 1, which is short of the end
    when that batch holds several records, so ``end_offsets`` is not used.)
    """
    async with _reader(settings, topic) as (consumer, tps):
        by_tp: dict[TopicPartition, list[Any]] = {tp: [] for tp in tps}
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=200)
            for tp, msgs in batch.items():
                by_tp[tp].extend(msgs)
            marks = [consumer.highwater(tp) for tp in tps]
            positions = [await consumer.position(tp) for tp in tps]
            if all(m is not None and pos >= m for m, pos in zip(marks, positions, strict=True)):
                return [msg for tp in tps for msg in by_tp[tp]]


async def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The end offset (high watermark) of each partition of ``topic``."""
    async with _reader(settings, topic) as (consumer, tps):
        while any(consumer.highwater(tp) is None for tp in tps):
            await consumer.getmany(*tps, timeout_ms=200, max_records=1)
        return {tp.partition: int(consumer.highwater(tp)) for tp in tps}


async def committed_offsets(settings: Settings) -> dict[int, int]:
    """The normalizer group's committed offset on each telemetry.raw partition (0 if none)."""
    topic = Topics.from_settings(settings).raw
    consumer = make_consumer(settings, group_id(settings))
    await start_client(consumer, settings)
    try:
        result = {}
        for tp in await _partitions(consumer, topic):
            result[tp.partition] = await consumer.committed(tp) or 0
        return result
    finally:
        await consumer.stop()


async def eventually(
    check: Callable[[], Any], what: str, task: asyncio.Task[None], timeout_s: float = 20.0
) -> Any:
    """Poll the async ``check`` until it returns a truthy value, or fail after ``timeout_s``.

    Fails at once, with the stage's own error, if the stage ``task`` ends meanwhile.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if task.done():
            task.result()
            raise AssertionError(f"the stage stopped while waiting for {what}")
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.1)


async def caught_up(settings: Settings) -> bool:
    """Whether the normalizer committed everything on telemetry.raw."""
    ends = await end_offsets(settings, Topics.from_settings(settings).raw)
    return await committed_offsets(settings) == ends
