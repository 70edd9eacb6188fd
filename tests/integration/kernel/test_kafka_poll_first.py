"""``poll_batch_first`` against a real Kafka-protocol broker: the records of the small topic of
facts come before any of the stream's, even those published before them."""

from __future__ import annotations

import asyncio

from kernel.kafka import (
    TELEMETRY_FRAMES,
    VEHICLE_SERVICES,
    ensure_topics,
    make_consumer,
    make_producer,
    poll_batch,
    poll_batch_first,
)
from kernel.settings import Settings

STREAM_RECORDS = 2000
FACTS = 40


async def _publish(settings: Settings, stream: str, facts: str) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        sent = [
            await producer.send(stream, f"frame-{n}".encode().ljust(4096), key=f"v{n % 7}".encode())
            for n in range(STREAM_RECORDS)
        ]
        sent += [
            await producer.send(facts, f"visit-{n}".encode(), key=f"v{n % 7}".encode())
            for n in range(FACTS)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _read(settings: Settings, topics: list[str], first: bool) -> list[str]:
    consumer = make_consumer(settings, settings.topic("poll-first-test"), topics)
    await consumer.start()
    got: list[str] = []
    try:
        while len(got) < STREAM_RECORDS + FACTS:
            if first:
                batch = await poll_batch_first(consumer, (topics[1],), 200, 500)
            else:
                batch = await poll_batch(consumer, 200, 500)
            got += [r.topic for r in batch]
    finally:
        await consumer.stop()
    return got


def test_the_facts_are_read_before_the_stream_published_earlier(settings: Settings) -> None:
    asyncio.run(ensure_topics(settings))
    stream, facts = settings.topic(TELEMETRY_FRAMES), settings.topic(VEHICLE_SERVICES)
    asyncio.run(_publish(settings, stream, facts))
    order = asyncio.run(_read(settings, [stream, facts], first=True))
    assert order.count(facts) == FACTS and order.count(stream) == STREAM_RECORDS
    assert order[:FACTS] == [facts] * FACTS, order.index(stream)


async def _batches_while_resumed(settings: Settings, topics: list[str]) -> list[list[str]]:
    """The batches polled until every fact is read, the first of them seeing every assigned
    partition resumed while it waits: what the rebalance listener does once it has positioned
    them (kernel/offsets.py)."""
    consumer = make_consumer(settings, settings.topic("poll-first-resumed"), topics)
    await consumer.start()
    batches: list[list[str]] = []
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)

        async def resume_all() -> None:
            await asyncio.sleep(0.1)
            consumer.resume(*consumer.assignment())

        resuming = asyncio.create_task(resume_all())
        while sum(batch.count(topics[1]) for batch in batches) < FACTS:
            batch = await poll_batch_first(consumer, (topics[1],), STREAM_RECORDS, 1000)
            batches.append([r.topic for r in batch])
        await resuming
    finally:
        await consumer.stop()
    return batches


def test_the_stream_stays_unread_when_its_partitions_are_resumed_during_the_poll(
    settings: Settings,
) -> None:
    """The listener that positions newly assigned partitions pauses and then resumes them; a
    poll running meanwhile must still read only the facts."""
    asyncio.run(ensure_topics(settings))
    stream, facts = settings.topic(TELEMETRY_FRAMES), settings.topic(VEHICLE_SERVICES)
    asyncio.run(_publish(settings, stream, facts))
    batches = asyncio.run(_batches_while_resumed(settings, [stream, facts]))
    assert all(set(batch) <= {facts} for batch in batches), [b.count(stream) for b in batches]
