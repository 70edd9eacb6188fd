"""The signals processor's I/O loop: telemetry.frames + vehicle.services -> vehicle.signals and
the journey store, exactly once into PostgreSQL.

One cycle: poll a bounded batch from both topics, decode it (undecodable records to
telemetry.dlq), load the memories and registry facts of the batch's vehicles not yet cached
(memories from ``signal_state``; the cache holds the vehicles of the assigned partitions and is
dropped on every revocation; the registry rows again once the registry's version moved), fold
the batch (pure, :mod:`.segments` and :mod:`.logic`, in a worker thread so that the consumer's
heartbeats go on; cut before each tick of a partition's usage shift, almost never once live),
then for each segment publish the dead letters and the signals and wait for Kafka's
acknowledgement, then write memories, signals, views, visits, bill errors, next offsets and the
partitions' usage shift states in one PostgreSQL transaction, and only then update the cache. A
crash anywhere before the commit replays the batch from the stored offsets and memories: the
same signals with the same ids (the fold is record by record, see :mod:`.vehicle`), stored once.

Both topics are keyed by VIN and must have the same number of partitions: the range assignor
then gives a member the same partition numbers of both, so one vehicle's frames and visits
are always folded by the same member.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError

from database.db import wait_for_store
from database.offsets import load_offsets
from database.vehicle_facts import VehicleFacts
from kernel.errors import InfrastructureError
from kernel.health import readiness
from kernel.kafka import (
    VEHICLE_SERVICES,
    OutRecord,
    Topics,
    dlq_headers,
    ensure_topics_until_stopped,
    make_consumer,
    make_producer,
    poll_batch_first,
    send_batches,
    start_clients_until_stopped,
    stop_client,
)
from kernel.lru import RegistryCache
from kernel.native import summary
from kernel.offsets import OffsetListener, Partition
from kernel.retry import Backoff, Stopped, retry_until_stopped
from kernel.settings import Settings
from processors.signals.cache import MemoryCache, encode
from processors.signals.db import SignalsDb, UsageShifts, WriteResult
from processors.signals.logic import (
    BatchOutcome,
    Decoded,
    Rejected,
    decode_batch,
    signal_counts,
)
from processors.signals.metrics import SignalsMetrics
from processors.signals.partition import PartitionState
from processors.signals.segments import Segment, process_records
from processors.signals.vehicle import DEFAULT_LOGIC, LogicParams
from reference.catalog import Catalog, default_catalog
from schemas.codec import FrameCodec
from schemas.services import ServiceVisitCodec
from schemas.signals import SignalCodec

log = logging.getLogger("journeygate.signals")

GROUP = "journeygate-signals"
STAGE = "signals"
HEADER_SIGNAL_ID = "signal_id"
_DB_FAILURES = (psycopg.OperationalError, psycopg.InterfaceError, InfrastructureError)
RETRY_BASE_S = 0.1
RETRY_MAX_S = 10.0


def retry_backoff() -> Backoff:
    return Backoff(RETRY_BASE_S, RETRY_MAX_S)


@dataclass(frozen=True, slots=True)
class SignalsOptions:
    """Knobs beyond :class:`Settings` (their defaults suit production)."""

    group: str = GROUP
    """Consumer group, in Kafka and in ``consumer_offsets`` (prefixed like the topics)."""
    commit_to_kafka: bool = True
    """Also commit offsets to Kafka after each batch, for lag monitoring."""
    params: LogicParams = field(default_factory=lambda: DEFAULT_LOGIC)
    decoded_vehicles: int = 50_000
    """Vehicles whose memories are also kept decoded, most recently used first: decoding a
    memory costs about as much as folding a frame into it. Every cached vehicle's memory is
    kept as bytes too (about 1 KB each), so this bounds only the extra (a few KB each)."""


async def run_signals(settings: Settings, stop: asyncio.Event) -> None:
    """Run the signals processor until ``stop`` is set."""
    await run_signals_with(settings, stop, SignalsOptions())


async def run_signals_with(
    settings: Settings, stop: asyncio.Event, options: SignalsOptions
) -> None:
    """:func:`run_signals` with explicit :class:`SignalsOptions`."""
    log.info("core modules compiled: %s", summary(Path(__file__).parent))
    catalog = default_catalog()
    topics = Topics.from_settings(settings)
    services = settings.topic(VEHICLE_SERVICES)
    group = settings.topic(options.group)
    ready = readiness(STAGE)
    ready.require("kafka", f"not connected to Kafka at {settings.kafka_bootstrap} yet")
    ready.require("postgresql", "not connected to PostgreSQL yet")
    ready.require("partitions", "no partitions assigned yet")
    try:
        await ensure_topics_until_stopped(
            settings,
            [topics.frames, services, topics.signals, topics.dlq],
            stop,
            logger=log,
            on_failure=lambda exc: ready.unmet("kafka", str(exc)),
        )
    except Stopped:
        return
    db = SignalsDb(settings.database_url, group)
    consumer = make_consumer(
        settings,
        group,
        max_poll_records=settings.batch_max_records,
        partition_assignment_strategy=(RangePartitionAssignor,),
    )
    producer = make_producer(settings)
    metrics = SignalsMetrics()
    lock = asyncio.Lock()
    loop = _Loop(settings, options, topics, services, catalog, db, consumer, producer, metrics)
    listener = OffsetListener(
        consumer,
        lambda names: load_offsets(settings.database_url, group, names),
        batch_lock=lock,
        stop=stop,
        backoff=retry_backoff,
        retriable=(psycopg.OperationalError, InfrastructureError),
        logger=log,
        on_revoked=loop.forget,
        on_db_retry=metrics.db_retry,
        readiness=ready,
    )
    try:
        await wait_for_store(db.connection, ready, stop, log)
        consumer.subscribe([topics.frames, services], listener=listener)
        # the consumer's start joins the group
        await start_clients_until_stopped((producer, consumer), settings, stop, ready, log)
        await loop.run(stop, lock, listener)
    except Stopped:
        log.info("stopped while retrying; the batch in flight will be read again")
    finally:
        await stop_client(consumer, log)
        await stop_client(producer, log)
        await db.close()


class _Loop:
    def __init__(
        self,
        settings: Settings,
        options: SignalsOptions,
        topics: Topics,
        services: str,
        catalog: Catalog,
        db: SignalsDb,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        metrics: SignalsMetrics,
    ) -> None:
        self.settings, self.options, self.topics, self.services = (
            settings,
            options,
            topics,
            services,
        )
        self.catalog, self.db, self.consumer, self.producer = catalog, db, consumer, producer
        self.metrics = metrics
        self.frames, self.visits, self.signal_codec = (
            FrameCodec(),
            ServiceVisitCodec(),
            SignalCodec(),
        )
        self.cache = MemoryCache(options.decoded_vehicles)
        """The assigned vehicles' memories (:mod:`.cache`)."""
        self.registry: RegistryCache[VehicleFacts] = RegistryCache(None)
        """The registry rows of the cached vehicles (and which are not registered), read again
        once the registry's version moves (a registry import, a market value index, a new
        vehicle)."""
        self.shifts: dict[int, PartitionState] = {}
        """The usage shift state of each frames partition read so far (:mod:`.fleetshift`),
        as last committed."""

    def forget(self) -> None:
        """Drop every cached memory, fact and usage shift (on revocation)."""
        self.cache.clear()
        self.registry.clear()
        self.shifts.clear()

    async def run(self, stop: asyncio.Event, lock: asyncio.Lock, listener: OffsetListener) -> None:
        while not stop.is_set():
            generation = listener.generation
            records = await self.poll()
            listener.raise_if_failed()
            if not records:
                continue
            async with lock:
                if listener.generation != generation:
                    log.info("dropping %d records polled across a rebalance", len(records))
                    polled = {TopicPartition(rec.topic, rec.partition) for rec in records}
                    await listener.position(sorted(polled & self.consumer.assignment()))
                    continue
                offsets = await self.handle(records, stop)
            await self.after_commit(offsets)

    async def handle(self, records: Sequence[Any], stop: asyncio.Event) -> Mapping[Partition, int]:
        started = time.perf_counter()
        decoded = decode_batch(
            records, self.topics.frames, self.frames.decode_readings, self.visits.decode
        )
        self.metrics.consumed(len(decoded.frames), len(decoded.visits))
        facts = await self.load(decoded, stop)
        await self.load_shifts(records, stop)
        memories = self.cache.memories(decoded.vins)
        computing = time.perf_counter()
        segments: list[Segment] = await asyncio.to_thread(
            process_records,
            records,
            decoded,
            memories,
            facts,
            self.catalog,
            self.shifts,
            self.options.params,
        )
        self.metrics.computed(time.perf_counter() - computing)
        offsets: dict[Partition, int] = {}
        for segment in segments:
            offsets.update(await self.commit(segment, stop, started))
            started = time.perf_counter()
        return offsets

    async def commit(
        self, segment: Segment, stop: asyncio.Event, started: float
    ) -> Mapping[Partition, int]:
        """Publish a segment's dead letters and signals, then store it with its offsets and its
        partitions' states (usage shift, dealer prices) in one transaction; the cache and the states
        after."""
        outcome = segment.outcome
        self.metrics.folded(
            evaluations=outcome.evaluations,
            usage_ratios=outcome.usage_ratios,
            quality=outcome.quality,
            repeated_visits=outcome.repeated_visits,
        )
        states = encode(outcome.memories)
        await self.publish(segment.decoded.rejected, outcome, stop)
        shifts = UsageShifts(self.topics.frames, segment.states)
        result: WriteResult = await self.retry(
            lambda: self.db.write_batch(outcome, states, segment.offsets, shifts),
            stop,
            "writing a batch to PostgreSQL",
        )
        self.cache.keep(outcome.memories, states)
        self.shifts.update(segment.states)
        scored = [
            e.abs_pct_error
            for e in outcome.bill_errors
            if e.visit_id in result.bill_errors_inserted and e.abs_pct_error is not None
        ]
        self.metrics.committed(
            records=segment.records,
            seconds=time.perf_counter() - started,
            state_sizes=[len(b) for b in states.values()],
            bill_pct_errors=scored,
            bill_errors=len(result.bill_errors_inserted),
            cached=len(self.cache),
            states=segment.states,
        )
        return result.offsets

    async def load_shifts(self, records: Sequence[Any], stop: asyncio.Event) -> None:
        """Read the usage shift states of the batch's frames partitions not held yet."""
        frames = self.topics.frames
        wanted = sorted({r.partition for r in records if r.topic == frames} - set(self.shifts))
        if wanted:
            found = await self.retry(
                lambda: self.db.load_shifts(frames, wanted), stop, "reading the usage shifts"
            )
            self.shifts.update(found)

    async def load(self, decoded: Decoded, stop: asyncio.Event) -> dict[str, VehicleFacts]:
        """Cache the memories and registry rows of the batch's vehicles not cached yet (every
        registry row again once the registry's version moved); the registry rows of the batch's
        registered vehicles."""
        vins = decoded.vins
        fresh = self.cache.unknown(vins)
        if fresh:
            stored = await self.retry(
                lambda: self.db.load_memories(fresh), stop, "reading vehicle memories"
            )
            self.cache.add_stored(fresh, stored)
        version = await self.retry(self.db.registry_version, stop, "reading the registry's version")
        self.registry.at_version(version)  # before the rows
        facts, wanted = self.registry.get(vins)
        if wanted:
            found = await self.retry(
                lambda: self.db.load_facts(wanted), stop, "reading the vehicle registry"
            )
            self.registry.put(wanted, found)
            facts.update(found)
        return facts

    async def publish(
        self, rejected: Sequence[Rejected], outcome: BatchOutcome, stop: asyncio.Event
    ) -> None:
        """Send the dead letters and the signals; return once Kafka acknowledged all of them."""
        letters = [_dead_letter(rej) for rej in rejected]
        signals = [
            OutRecord(
                key=s.vin.encode(),
                value=self.signal_codec.encode(s),
                headers=[(HEADER_SIGNAL_ID, s.signal_id.encode())],
            )
            for s in outcome.signals
        ]

        async def send() -> None:
            deliveries = await send_batches(self.producer, self.topics.dlq, letters)
            deliveries += await send_batches(self.producer, self.topics.signals, signals)
            await asyncio.gather(*deliveries)

        if letters or signals:
            await retry_until_stopped(
                send,
                retriable=(KafkaError,),
                stop=stop,
                what="publishing signals",
                backoff=retry_backoff(),
                on_retry=self.metrics.kafka_retry,
                logger=log,
            )
        for rej in rejected:
            self.metrics.dead_lettered(rej.reason)
        self.metrics.emitted(signal_counts(outcome.signals))

    async def retry(self, operation: Any, stop: asyncio.Event, what: str) -> Any:
        return await retry_until_stopped(
            operation,
            retriable=_DB_FAILURES,
            stop=stop,
            what=what,
            backoff=retry_backoff(),
            on_retry=self.metrics.db_retry,
            logger=log,
        )

    async def poll(self) -> list[Any]:
        """Up to ``batch_max_records`` records, waiting at most ``batch_max_wait_ms`` to fill;
        the visits published before the frames are read before them (docs/signals.md, "Order
        of inputs")."""
        s = self.settings
        return await poll_batch_first(
            self.consumer, (self.topics.services,), s.batch_max_records, s.batch_max_wait_ms
        )

    async def after_commit(self, offsets: Mapping[Partition, int]) -> None:
        """Report the stored offsets and, if enabled, mirror them to Kafka (informational)."""
        for (topic, partition), next_offset in offsets.items():
            self.metrics.offset_committed(topic, partition, next_offset)
        self.metrics.positions(offsets, lambda t, p: self.consumer.highwater(TopicPartition(t, p)))
        committed = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        if not (self.options.commit_to_kafka and committed):
            return
        try:
            await self.consumer.commit(committed)
        except KafkaError as exc:
            self.metrics.kafka_commit_failed()
            log.warning("informational Kafka offset commit failed: %s", exc)


def _dead_letter(rej: Rejected) -> OutRecord:
    rec = rej.record
    headers = dlq_headers(
        stage=STAGE,
        reason=rej.reason,
        detail=rej.detail,
        source_topic=rec.topic,
        source_partition=rec.partition,
        source_offset=rec.offset,
        original=list(rec.headers),
    )
    return OutRecord(key=rec.key, value=rec.value or b"", headers=headers)
