"""Kafka plumbing shared by every stage: topic names, client factories, topic creation, DLQ headers.

Clients are aiokafka. Producers use ``acks=all``; idempotence is on unless the settings turn it
off (the embedded Tansu broker does not support it). Consumers never auto-commit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from journeygate.errors import InfrastructureError
from journeygate.settings import Settings
from schemas import records as r

TELEMETRY_RAW = "telemetry.raw"
TELEMETRY_DLQ = "telemetry.dlq"
TELEMETRY_FRAMES = "telemetry.frames"
VEHICLE_SIGNALS = "vehicle.signals"
DEALER_ALERTS = "dealer.alerts"
ALL_TOPICS = (TELEMETRY_RAW, TELEMETRY_DLQ, TELEMETRY_FRAMES, VEHICLE_SIGNALS, DEALER_ALERTS)

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Topics:
    """Concrete topic names for one deployment (prefix applied)."""

    raw: str
    dlq: str
    frames: str
    signals: str
    alerts: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(
            raw=settings.topic(TELEMETRY_RAW),
            dlq=settings.topic(TELEMETRY_DLQ),
            frames=settings.topic(TELEMETRY_FRAMES),
            signals=settings.topic(VEHICLE_SIGNALS),
            alerts=settings.topic(DEALER_ALERTS),
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
    """A consumer-group member with auto-commit off, reading from the earliest offset."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "client_id": f"journeygate-{group_id}",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(settings: Settings, names: Sequence[str] | None = None) -> None:
    """Create the pipeline's topics if they do not exist (idempotent)."""
    topics = Topics.from_settings(settings)
    wanted = (
        list(names)
        if names is not None
        else [topics.raw, topics.dlq, topics.frames, topics.signals, topics.alerts]
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
    except KafkaError as exc:
        raise InfrastructureError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        ) from exc
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(name, settings.kafka_partitions, settings.kafka_replication_factor)
            for name in wanted
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    finally:
        await admin.close()


async def start_client(client: AIOKafkaProducer | AIOKafkaConsumer, settings: Settings) -> None:
    """Start a client, turning connection failures into a one-line InfrastructureError."""
    try:
        await client.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        raise InfrastructureError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        ) from exc


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
        (r.HEADER_DLQ_STAGE, stage.encode()),
        (r.HEADER_DLQ_REASON, reason.encode()),
        (r.HEADER_DLQ_DETAIL, detail[:1000].encode("utf-8", "replace")),
        (r.HEADER_DLQ_SOURCE_TOPIC, source_topic.encode()),
        (r.HEADER_DLQ_SOURCE_PARTITION, str(source_partition).encode()),
        (r.HEADER_DLQ_SOURCE_OFFSET, str(source_offset).encode()),
        (r.HEADER_DLQ_TS_MS, str(int(time.time() * 1000)).encode()),
    ]


def header(headers: Sequence[tuple[str, bytes]], name: str) -> bytes | None:
    """The value of the first header called ``name``, or None."""
    for key, value in headers:
        if key == name:
            return value
    return None
