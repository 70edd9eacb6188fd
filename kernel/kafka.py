"""Kafka plumbing shared by every stage: topic names, client factories, topic creation, DLQ headers.

Clients are aiokafka. Producers use ``acks=all``; idempotence is on unless the settings turn it
off (the embedded Tansu broker does not support it). Consumers never auto-commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from kernel import headers as h
from kernel.errors import ConfigError, InfrastructureError
from kernel.health import Readiness
from kernel.partitioner import partitions_of
from kernel.retry import Backoff, retry_within, until_stopped, wait_until_up
from kernel.settings import Settings

TELEMETRY_RAW = "telemetry.raw"
TELEMETRY_DLQ = "telemetry.dlq"
TELEMETRY_FRAMES = "telemetry.frames"
VEHICLE_SIGNALS = "vehicle.signals"
DEALER_ALERTS = "dealer.alerts"
VEHICLE_SERVICES = "vehicle.services"
VEHICLE_CONSENT = "vehicle.consent"
# End-to-end acknowledgement (kernel/acks.py): normalizer -> store writer, store writer -> bridge.
TELEMETRY_RECEIPTS = "telemetry.receipts"
TELEMETRY_ACKS = "telemetry.acks"
ALL_TOPICS = (
    TELEMETRY_RAW,
    TELEMETRY_DLQ,
    TELEMETRY_FRAMES,
    TELEMETRY_RECEIPTS,
    TELEMETRY_ACKS,
    VEHICLE_SIGNALS,
    DEALER_ALERTS,
    VEHICLE_SERVICES,
    VEHICLE_CONSENT,
)

Headers = list[tuple[str, bytes]]


class SourceRecord(Protocol):
    """A consumed Kafka record as the stages read it (aiokafka's ConsumerRecord fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


Delivery = asyncio.Future[Any]


class Producible(Protocol):
    """What :func:`send_batches` needs of a record."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def timestamp_ms(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record to produce; ``timestamp_ms`` None means the producer's clock."""

    key: bytes | None
    value: bytes
    headers: Headers
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Topics:
    """Concrete topic names for one deployment (prefix applied)."""

    raw: str
    dlq: str
    frames: str
    signals: str
    alerts: str
    services: str
    consent: str
    receipts: str = TELEMETRY_RECEIPTS
    acks: str = TELEMETRY_ACKS

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(
            raw=settings.topic(TELEMETRY_RAW),
            dlq=settings.topic(TELEMETRY_DLQ),
            frames=settings.topic(TELEMETRY_FRAMES),
            signals=settings.topic(VEHICLE_SIGNALS),
            alerts=settings.topic(DEALER_ALERTS),
            services=settings.topic(VEHICLE_SERVICES),
            consent=settings.topic(VEHICLE_CONSENT),
            receipts=settings.topic(TELEMETRY_RECEIPTS),
            acks=settings.topic(TELEMETRY_ACKS),
        )


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """A producer with ``acks=all``; call ``await producer.start()`` yourself."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 30_000,
        "client_id": "journeygate",
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(
    settings: Settings, group_id: str, topics: Sequence[str] = (), **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer-group member with auto-commit off, reading from the earliest offset.

    A fetch waits at most 50 ms for data: some brokers (the embedded Tansu) hold a fetch for
    the whole wait even when records arrive meanwhile, which would add that wait to every hop's
    latency; an idle consumer then sends 20 small requests a second.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_wait_ms": 50,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "client_id": f"journeygate-{group_id}",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def send_batches(
    producer: AIOKafkaProducer, topic: str, records: Sequence[Producible]
) -> list[Delivery]:
    """Send ``records`` to ``topic`` as one batch per partition (more if a batch fills up).

    Cheaper per record than ``send()`` (no future and no accumulator work per record). Each
    record goes to the partition ``send()`` would choose (murmur2 of the key; a random one when
    there is no key), and records keep their order within a partition. Returns, per record, the
    delivery of the batch that carries it: it resolves when Kafka acknowledged the batch.
    """
    if not records:
        return []
    partitions = sorted(await producer.partitions_for(topic))
    groups: dict[int, list[int]] = {}
    for i, partition in enumerate(partitions_of([rec.key for rec in records], partitions)):
        groups.setdefault(partition, []).append(i)
    deliveries: list[Delivery | None] = [None] * len(records)
    for partition, members in groups.items():
        batch, carried = producer.create_batch(), list[int]()
        for i in members:
            rec = records[i]
            appended = batch.append(
                key=rec.key, value=rec.value, timestamp=rec.timestamp_ms, headers=rec.headers
            )
            if appended is None:  # full: send it and start the next one with this record
                delivery = await producer.send_batch(batch, topic, partition=partition)
                for j in carried:
                    deliveries[j] = delivery
                batch, carried = producer.create_batch(), list[int]()
                batch.append(
                    key=rec.key, value=rec.value, timestamp=rec.timestamp_ms, headers=rec.headers
                )
            carried.append(i)
        delivery = await producer.send_batch(batch, topic, partition=partition)
        for j in carried:
            deliveries[j] = delivery
    return [d for d in deliveries if d is not None]


# How long each topic keeps its records (days; -1 forever), for the topics `journeygate topics`
# creates: long enough to rebuild a stage's output by replay (docs/operations.md, "Replay"); the
# visits and consent changes are the history the signals and journey processors fold, kept.
DEFAULT_RETENTION_DAYS: Mapping[str, float] = {
    TELEMETRY_RAW: 7,
    TELEMETRY_FRAMES: 30,
    TELEMETRY_DLQ: 30,
    # Receipts and acks matter for as long as a device waits for its confirmation.
    TELEMETRY_RECEIPTS: 7,
    TELEMETRY_ACKS: 1,
    VEHICLE_SIGNALS: 30,
    DEALER_ALERTS: 30,
    VEHICLE_SERVICES: -1,
    VEHICLE_CONSENT: -1,
}
MS_PER_DAY = 86_400_000
MAX_RETENTION_DAYS = 36_500


def retention_ms(settings: Settings) -> dict[str, int]:
    """Retention of each topic (prefixed name) in ms, -1 for forever; ConfigError for a setting
    that names no topic of the pipeline or a retention neither positive nor -1."""
    days = dict(DEFAULT_RETENTION_DAYS)
    for name, value in settings.kafka_retention_days.items():
        if name not in days:
            raise ConfigError(
                f"kafka_retention_days: {name!r} is not a topic (one of {', '.join(days)})"
            )
        if value != -1 and not 0 < value <= MAX_RETENTION_DAYS:  # NaN and infinity too
            raise ConfigError(
                f"kafka_retention_days: {name}: {value}"
                f" (positive up to {MAX_RETENTION_DAYS}, or -1: forever)"
            )
        days[name] = value
    return {
        settings.topic(name): -1 if d == -1 else round(d * MS_PER_DAY) for name, d in days.items()
    }


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: int
    retention_ms: int | None
    """As the broker reports it (-1: forever; None: not reported)."""
    wanted_retention_ms: int


async def _started_admin(settings: Settings) -> AIOKafkaAdminClient:
    """An admin client connected to Kafka; a one-line InfrastructureError if it is not reached."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
    except KafkaError as exc:
        raise InfrastructureError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        ) from exc
    return admin


async def ensure_topics(settings: Settings, names: Sequence[str] | None = None) -> None:
    """Create the pipeline's topics if they do not exist (idempotent), with their retention."""
    wanted = list(names) if names is not None else [settings.topic(name) for name in ALL_TOPICS]
    retention = retention_ms(settings)
    admin = await _started_admin(settings)
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name,
                settings.kafka_partitions,
                settings.kafka_replication_factor,
                topic_configs=(
                    {"retention.ms": str(retention[name])} if name in retention else None
                ),
            )
            for name in wanted
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    except KafkaError as exc:  # e.g. a broker still electing its controller
        raise InfrastructureError(
            f"Kafka at {settings.kafka_bootstrap} did not create the topics: {exc}"
        ) from exc
    finally:
        await admin.close()


async def describe_topics(settings: Settings) -> list[TopicInfo]:
    """The pipeline's topics as the broker has them: partitions and retention."""
    wanted = retention_ms(settings)
    admin = await _started_admin(settings)
    try:
        existing = set(await admin.list_topics())
        names = [n for n in wanted if n in existing]
        described = await admin.describe_topics(names) if names else []
        partitions = {str(t["topic"]): len(t["partitions"]) for t in described}
        retention: dict[str, int] = {}
        if names:
            resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
            for response in await admin.describe_configs(resources):
                for resource in response.resources:
                    for entry in resource[4]:
                        if entry[0] == "retention.ms" and entry[1] is not None:
                            retention[str(resource[3])] = int(entry[1])
    except KafkaError as exc:
        raise InfrastructureError(
            f"Kafka at {settings.kafka_bootstrap} did not describe the topics: {exc}"
        ) from exc
    finally:
        await admin.close()
    return [
        TopicInfo(n, partitions.get(n, 0), retention.get(n), wanted[n])
        for n in wanted
        if n in existing
    ]


def ensure_topics_within(settings: Settings, wait_s: float) -> None:
    """:func:`ensure_topics`, retried with backoff for up to ``wait_s`` seconds while Kafka is
    unreachable (``journeygate topics --wait-s``: a deployment may run it before Kafka is up)."""
    retry_within(
        lambda: asyncio.run(ensure_topics(settings)),
        wait_s=wait_s,
        what="topics",
    )


async def start_client(
    client: AIOKafkaProducer | AIOKafkaConsumer, settings: Settings, *, again: bool = False
) -> None:
    """Start a client, turning connection failures into a one-line InfrastructureError. A
    client that failed to start is closed (else it warns of itself at exit), unless ``again``:
    the caller starts it again and closes it in the end (:func:`start_client_until_stopped`)."""
    try:
        await client.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        if not again:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.stop(), CLIENT_STOP_S)
        raise InfrastructureError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        ) from exc


# Waiting for Kafka (or PostgreSQL) at start-up: 0.5 s doubling up to 15 s between attempts.
STARTUP_RETRY_BASE_S = 0.5
STARTUP_RETRY_MAX_S = 15.0
# How long closing a client may take before it is abandoned (e.g. while Kafka is away).
CLIENT_STOP_S = 10.0


def startup_backoff() -> Backoff:
    """The delays between attempts to reach a server at start-up."""
    return Backoff(STARTUP_RETRY_BASE_S, STARTUP_RETRY_MAX_S)


async def start_client_until_stopped(
    client: AIOKafkaProducer | AIOKafkaConsumer,
    settings: Settings,
    stop: asyncio.Event,
    *,
    logger: logging.Logger,
    what: str = "connecting to Kafka",
    on_failure: Callable[[BaseException], None] = lambda exc: None,
) -> None:
    """Start ``client``, waiting with backoff while Kafka is unreachable (one log line per kind
    of failure); raises :class:`~kernel.retry.Stopped` if ``stop`` is set first. A consumer
    subscribed to topics returns once it has joined its group."""
    await wait_until_up(
        lambda: until_stopped(start_client(client, settings, again=True), stop),
        retriable=(InfrastructureError,),
        stop=stop,
        what=what,
        backoff=startup_backoff(),
        on_failure=on_failure,
        logger=logger,
    )


async def start_clients_until_stopped(
    clients: Sequence[AIOKafkaProducer | AIOKafkaConsumer],
    settings: Settings,
    stop: asyncio.Event,
    ready: Readiness,
    logger: logging.Logger,
) -> None:
    """:func:`start_client_until_stopped` for each of ``clients`` in order (a subscribed
    consumer last: its start joins the group); ``kafka`` is met once the first is started."""
    for client in clients:
        await start_client_until_stopped(
            client,
            settings,
            stop,
            logger=logger,
            on_failure=lambda exc: ready.unmet("kafka", str(exc)),
        )
        ready.met("kafka")  # reached: what a consumer waits for next is its partitions


async def ensure_topics_until_stopped(
    settings: Settings,
    names: Sequence[str],
    stop: asyncio.Event,
    *,
    logger: logging.Logger,
    on_failure: Callable[[BaseException], None] = lambda exc: None,
) -> None:
    """:func:`ensure_topics`, waiting with backoff while Kafka is unreachable; raises
    :class:`~kernel.retry.Stopped` if ``stop`` is set first."""
    await wait_until_up(
        lambda: until_stopped(ensure_topics(settings, names), stop),
        retriable=(InfrastructureError,),
        stop=stop,
        what="waiting for Kafka",
        backoff=startup_backoff(),
        on_failure=on_failure,
        logger=logger,
    )


async def stop_client(
    client: AIOKafkaProducer | AIOKafkaConsumer,
    logger: logging.Logger,
    timeout_s: float = CLIENT_STOP_S,
) -> None:
    """Close ``client`` without raising: while Kafka is away, aiokafka's consumer may raise
    CancelledError from its fetcher, and a producer may wait for its last requests; either is
    logged and the stage goes on closing. Cancellation of the caller itself still propagates."""
    task = asyncio.current_task()
    try:
        await asyncio.wait_for(client.stop(), timeout_s)
    except asyncio.CancelledError:
        if task is not None and task.cancelling():
            raise
        logger.warning("the Kafka client was cancelled while closing (Kafka unreachable?)")
    except (TimeoutError, KafkaError, OSError) as exc:
        logger.warning("the Kafka client did not close cleanly: %r", exc)


def dlq_headers(
    *,
    stage: str,
    reason: str,
    detail: str,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    original: Sequence[tuple[str, bytes]] = (),
) -> Headers:
    """Headers of a dead letter: who rejected it, why, and where it came from.

    The original record's headers are kept (minus any earlier DLQ headers).
    """
    kept = [(k, v) for k, v in original if not k.startswith("dlq_")]
    return [
        *kept,
        (h.HEADER_DLQ_STAGE, stage.encode()),
        (h.HEADER_DLQ_REASON, reason.encode()),
        (h.HEADER_DLQ_DETAIL, detail[:1000].encode("utf-8", "replace")),
        (h.HEADER_DLQ_SOURCE_TOPIC, source_topic.encode()),
        (h.HEADER_DLQ_SOURCE_PARTITION, str(source_partition).encode()),
        (h.HEADER_DLQ_SOURCE_OFFSET, str(source_offset).encode()),
        (h.HEADER_DLQ_TS_MS, str(int(time.time() * 1000)).encode()),
    ]


def header(headers: Sequence[tuple[str, bytes]], name: str) -> bytes | None:
    """The value of the first header called ``name``, or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


async def poll_batch(
    consumer: AIOKafkaConsumer,
    max_records: int,
    max_wait_ms: int,
    partitions: Sequence[TopicPartition] = (),
) -> list[Any]:
    """Up to ``max_records`` records, waiting at most ``max_wait_ms`` in all to fill the batch;
    of ``partitions`` only when given (the others' fetched records wait in the consumer)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait_ms / 1000
    records: list[Any] = []
    while len(records) < max_records:
        remaining_ms = int((deadline - loop.time()) * 1000)
        if remaining_ms <= 0:
            break
        got = await consumer.getmany(
            *partitions, timeout_ms=remaining_ms, max_records=max_records - len(records)
        )
        for part in got.values():
            records.extend(part)
    return records


async def poll_batch_first(
    consumer: AIOKafkaConsumer, first: Collection[str], max_records: int, max_wait_ms: int
) -> list[Any]:
    """:func:`poll_batch`, but while an assigned partition of the topics ``first`` is behind its
    end, only those topics are read.

    A processor that joins a small topic of facts (dealer visits) to a large stream (telemetry)
    reads both side by side, so after a lag or from the start of a replay the stream's records
    would race ahead of facts published before them. Reading the small topic first makes what
    was published before the stream's records be read before them too.

    The others are held back by asking only for the first topics' partitions, not by pausing
    the others: the rebalance listener pauses and resumes the partitions it positions
    (:mod:`kernel.offsets`), and its resume, landing during the poll, would undo the pause."""
    assigned = consumer.assignment()
    if not assigned:  # joining the group: read nothing before knowing what to read first
        await asyncio.sleep(min(max_wait_ms, 100) / 1000)
        return []
    parts = sorted(tp for tp in assigned if tp.topic in first)
    if len(parts) == len(assigned) or not await _behind(consumer, parts):
        return await poll_batch(consumer, max_records, max_wait_ms)
    return await poll_batch(consumer, max_records, max_wait_ms, parts)


async def _behind(consumer: AIOKafkaConsumer, parts: Sequence[TopicPartition]) -> bool:
    """Whether one of the assigned ``parts`` has records not yet read (by the newest end offset
    a fetch reported, or asked of the broker for a partition not fetched yet)."""
    ends: dict[Any, int] = {}
    unknown = []
    for tp in parts:
        hw = consumer.highwater(tp)
        if hw is None:
            unknown.append(tp)
        else:
            ends[tp] = hw
    if unknown:
        ends.update(await consumer.end_offsets(unknown))
    for tp in parts:
        if await consumer.position(tp) < ends[tp]:
            return True
    return False
