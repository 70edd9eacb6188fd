"""The store writer's I/O loop: telemetry.frames → the ``telemetry`` table, exactly once.

One cycle: poll a bounded batch, decode it straight into binary COPY rows (pure; the common
shape of frame for the whole batch at once, see :mod:`processors.store.copybatch`), send its dead
letters and wait for Kafka's acknowledgement, write rows and next offsets in one PostgreSQL
transaction, then commit the same offsets to Kafka for lag monitoring only. On assignment,
partitions are positioned from the offsets in PostgreSQL (see :mod:`kernel.offsets`).
While the database is down the loop retries the same batch and does not poll, so nothing
accumulates in memory.

Acknowledgements (:mod:`processors.store.acks`): the store writer also reads
``telemetry.receipts`` (the normalizer's word on messages it dead-lettered or dropped as
repeats), merges what each batch handled into ``telemetry_acks`` in the batch's transaction, and
every ``store_ack_interval_ms`` sends to ``telemetry.acks`` the acknowledgements of the
vehicles and boots whose contiguous high-water mark now covers some of what a batch handled
since the last send (it advanced, or the device repeated a message), after the commit that made
it true. An acknowledgement lost in a crash is sent again when the device, unconfirmed, sends
its message again.

The batch lock is not held while polling: aiokafka's ``getmany`` waits, without a timeout, for a
rebalance to finish, and the rebalance waits for the lock in ``on_partitions_revoked``.

At start-up the writer waits with backoff for Kafka and PostgreSQL. Readiness
(:mod:`kernel.health`): Kafka reached, PostgreSQL reached (and not failing writes), partitions
assigned and positioned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from database.db import wait_for_store
from database.offsets import load_offsets
from kernel.errors import InfrastructureError
from kernel.headers import HEADER_EVENT_TS_MS, HEADER_INGEST_TS_MS
from kernel.health import Readiness, readiness
from kernel.kafka import (
    Topics,
    ensure_topics_until_stopped,
    make_consumer,
    make_producer,
    poll_batch,
    start_clients_until_stopped,
    stop_client,
)
from kernel.offsets import OffsetListener, Partition
from kernel.retry import Backoff, Stopped, retry_until_stopped
from kernel.settings import Settings
from processors.store.acks import PendingAcks, decode_receipts
from processors.store.copybatch import batch_copy
from processors.store.copybin import CopyRows, frame_copy
from processors.store.db import StoreDb, WriteResult
from processors.store.deadletters import send_dead_letters
from processors.store.logic import decode_batch_in_bulk, next_offsets
from processors.store.metrics import StoreMetrics

log = logging.getLogger("journeygate.store")

STAGE = "store"
GROUP = "journeygate-store"
_DB_FAILURES = (psycopg.OperationalError, InfrastructureError)
# Database writes, offset reads and dead-letter sends are retried after 0.1 s, doubling up to 10 s.
RETRY_BASE_S = 0.1
RETRY_MAX_S = 10.0
# How long Kafka may take to acknowledge a send of acknowledgements before they wait for the
# next one (the batches go on meanwhile); on a stop, how long the last send may take.
ACK_SEND_TIMEOUT_S = 10.0
FINAL_ACKS_S = 2.0


def retry_backoff() -> Backoff:
    """The delays of one retried operation of the store."""
    return Backoff(RETRY_BASE_S, RETRY_MAX_S)


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Knobs of the store writer beyond :class:`Settings` (their defaults suit production)."""

    group: str = GROUP
    """Consumer group, in Kafka and in ``consumer_offsets`` (prefixed like the topics)."""
    commit_to_kafka: bool = True
    """Also commit offsets to Kafka after each batch, for lag monitoring."""


async def run_store(settings: Settings, stop: asyncio.Event) -> None:
    """Run the store writer until ``stop`` is set."""
    await run_store_with(settings, stop, StoreOptions())


async def run_store_with(settings: Settings, stop: asyncio.Event, options: StoreOptions) -> None:
    """:func:`run_store` with explicit :class:`StoreOptions`."""
    topics = Topics.from_settings(settings)
    group = settings.topic(options.group)
    ready = readiness(STAGE)
    ready.require("kafka", f"not connected to Kafka at {settings.kafka_bootstrap} yet")
    ready.require("postgresql", "not connected to PostgreSQL yet")
    ready.require("partitions", "no partitions assigned yet")
    try:
        await ensure_topics_until_stopped(
            settings,
            [topics.frames, topics.receipts, topics.acks, topics.dlq],
            stop,
            logger=log,
            on_failure=lambda exc: ready.unmet("kafka", str(exc)),
        )
    except Stopped:
        return
    db = StoreDb(settings.database_url, group)
    consumer = make_consumer(
        settings,
        group,
        max_poll_records=settings.batch_max_records,
    )
    producer = make_producer(settings)
    metrics = StoreMetrics()
    lock = asyncio.Lock()

    def db_retry() -> None:
        metrics.db_retry()
        ready.unmet("postgresql", "PostgreSQL is failing")

    listener = OffsetListener(
        consumer,
        lambda names: load_offsets(settings.database_url, group, names),
        batch_lock=lock,
        stop=stop,
        backoff=retry_backoff,
        retriable=(psycopg.OperationalError, InfrastructureError),
        logger=log,
        on_db_retry=db_retry,
        readiness=ready,
    )
    try:
        await wait_for_store(db.connect, ready, stop, log)
        consumer.subscribe([topics.frames, topics.receipts], listener=listener)
        # the consumer's start joins the group
        await start_clients_until_stopped((producer, consumer), settings, stop, ready, log)
        loop = _Loop(settings, options, topics, db, consumer, producer, metrics, ready)
        try:
            await loop.run(stop, lock, listener)
        finally:
            with contextlib.suppress(TimeoutError, KafkaError):
                await asyncio.wait_for(loop.send_acks(final=True), FINAL_ACKS_S)
    except Stopped:
        log.info("stopped while retrying; the batch in flight will be read again")
    finally:
        await stop_client(consumer, log)
        await stop_client(producer, log)
        await db.close()


def frame_times(records: Sequence[Any]) -> tuple[list[int], list[int]]:
    """The event and ingest times (ms) the normalizer put in the frames' headers."""
    events: list[int] = []
    ingests: list[int] = []
    for rec in records:
        for key, value in rec.headers:
            if key == HEADER_EVENT_TS_MS and value.isdigit():
                events.append(int(value))
            elif key == HEADER_INGEST_TS_MS and value.isdigit():
                ingests.append(int(value))
    return events, ingests


def _bulk_copy(values: Sequence[bytes]) -> tuple[CopyRows, Sequence[int]]:
    result = batch_copy(values)
    return result.rows, result.rest


class _Loop:
    def __init__(
        self,
        settings: Settings,
        options: StoreOptions,
        topics: Topics,
        db: StoreDb,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        metrics: StoreMetrics,
        ready: Readiness,
    ) -> None:
        self.settings, self.options, self.topics, self.db = settings, options, topics, db
        self.consumer, self.producer = consumer, producer
        self.metrics = metrics
        self.ready = ready
        self.pending = PendingAcks(settings.store_ack_interval_ms / 1000)

    async def run(self, stop: asyncio.Event, lock: asyncio.Lock, listener: OffsetListener) -> None:
        """Poll and store batches until ``stop`` is set."""
        while not stop.is_set():
            generation = listener.generation
            records = await self.poll()
            listener.raise_if_failed()
            if not records:
                await self.send_acks()
                continue
            async with lock:
                if listener.generation != generation:
                    log.info("dropping %d records polled across a rebalance", len(records))
                    polled = {TopicPartition(rec.topic, rec.partition) for rec in records}
                    await listener.position(sorted(polled & self.consumer.assignment()))
                    continue
                offsets = await self.store(records, stop)
            await self.after_commit(offsets)
            await self.send_acks()

    async def store(self, records: Sequence[Any], stop: asyncio.Event) -> Mapping[Partition, int]:
        """Decode and durably store one batch; return the next offsets now in the database."""
        self.metrics.consumed(len(records))
        frames = [rec for rec in records if rec.topic != self.topics.receipts]
        receipts = decode_receipts([rec for rec in records if rec.topic == self.topics.receipts])
        batch = decode_batch_in_bulk(frames, _bulk_copy, frame_copy)
        rejected = batch.rejected + receipts.rejected
        if rejected:
            await retry_until_stopped(
                lambda: send_dead_letters(self.producer, self.topics.dlq, rejected),
                retriable=(KafkaError,),
                stop=stop,
                what="sending dead letters",
                backoff=retry_backoff(),
                on_retry=self.metrics.dlq_retry,
                logger=log,
            )
            for rej in rejected:
                self.metrics.dead_lettered(rej.reason)
        rows = CopyRows.join(batch.frames)
        offsets = next_offsets(records)
        started = time.perf_counter()
        result: WriteResult = await retry_until_stopped(
            lambda: self.db.write_batch(
                rows,
                offsets,
                receipts.covering,
                receipts.repeats,
                acknowledge=self.settings.store_acks,
            ),
            retriable=_DB_FAILURES,
            stop=stop,
            what="writing a batch to PostgreSQL",
            backoff=retry_backoff(),
            on_retry=self.db_retry,
            logger=log,
        )
        self.ready.met("postgresql")
        self.metrics.batch_committed(
            rows=result.rows, inserted=result.inserted, seconds=time.perf_counter() - started
        )
        self.metrics.stored(time.time_ns() // 1_000_000, *frame_times(frames))
        self.metrics.receipts(len(receipts.covering), len(receipts.repeats))
        self.metrics.gaps(result.acks.gaps_opened, result.acks.gaps_filled)
        self.pending.add(result.acks.lines)
        return result.offsets

    async def send_acks(self, *, final: bool = False) -> None:
        """Send the pending acknowledgements to ``telemetry.acks`` once their interval is over
        (``final``: now, when stopping); a failed send keeps them for the next one."""
        now_s = time.monotonic()
        if not (self.pending.due(now_s) or (final and len(self.pending))):
            return
        records = self.pending.take(now_s)
        try:
            sent = [await self.producer.send(self.topics.acks, value) for value in records]
            await asyncio.wait_for(asyncio.gather(*sent), ACK_SEND_TIMEOUT_S)
        except (KafkaError, TimeoutError) as exc:
            for value in records:
                self.pending.add(value)
            self.metrics.ack_send_failed()
            log.warning("sending acknowledgements failed (sent again later): %r", exc)
            return
        self.metrics.acks_sent(sum(value.count(b"\n") + 1 for value in records))

    def db_retry(self) -> None:
        self.metrics.db_retry()
        self.ready.unmet("postgresql", "PostgreSQL is failing")

    async def poll(self) -> list[Any]:
        """Up to ``batch_max_records`` records, waiting at most ``batch_max_wait_ms`` to fill."""
        s = self.settings
        return await poll_batch(self.consumer, s.batch_max_records, s.batch_max_wait_ms)

    async def after_commit(self, offsets: Mapping[Partition, int]) -> None:
        """Report the stored offsets and, if enabled, mirror them to Kafka.

        The Kafka commit is informational (PostgreSQL holds the offsets the store resumes from),
        so a failed one, e.g. during a rebalance, is counted and logged rather than retried.
        """
        committed = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        assigned = self.consumer.assignment()
        for tp, next_offset in committed.items():
            highwater = self.consumer.highwater(tp) if tp in assigned else None
            self.metrics.offset_committed(tp.partition, next_offset, highwater)
        if not (self.options.commit_to_kafka and committed):
            return
        try:
            await self.consumer.commit(committed)
        except KafkaError as exc:
            self.metrics.kafka_commit_failed()
            log.warning("informational Kafka offset commit failed: %s", exc)
