"""Reading the dead-letter topic back: for the demo summary, tests and operators."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass

from aiokafka import TopicPartition

from kernel import headers as h
from kernel.kafka import Topics, header, make_consumer, start_client
from kernel.settings import Settings


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stage: str
    reason: str
    detail: str
    key: bytes | None
    value: bytes
    mqtt_topic: str
    source_topic: str
    source_partition: int
    source_offset: int
    original_sha256: str


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value is not None else ""


async def read_dead_letters(settings: Settings, *, idle_ms: int = 500) -> list[DeadLetter]:
    """Every record on the dead-letter topic, from the beginning up to its current end.

    The end is the high-watermark reported with fetched data (``ListOffsets`` answers are not
    trusted: some Kafka-protocol brokers report less than what is stored).
    """
    topic = Topics.from_settings(settings).dlq
    consumer = make_consumer(settings, group_id=f"journeygate-dlq-reader-{uuid.uuid4().hex[:8]}")
    await start_client(consumer, settings)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        letters: list[DeadLetter] = []
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=idle_ms)
            for records in batch.values():
                letters.extend(_letter(rec.key, rec.value, list(rec.headers)) for rec in records)
            if batch:
                continue
            caught_up = True
            for tp in tps:
                high = consumer.highwater(tp)
                if high is not None and await consumer.position(tp) < high:
                    caught_up = False
            if caught_up:
                return letters
    finally:
        await consumer.stop()


def _letter(key: bytes | None, value: bytes | None, hs: list[tuple[str, bytes]]) -> DeadLetter:
    return DeadLetter(
        stage=_text(header(hs, h.HEADER_DLQ_STAGE)),
        reason=_text(header(hs, h.HEADER_DLQ_REASON)),
        detail=_text(header(hs, h.HEADER_DLQ_DETAIL)),
        key=key,
        value=value or b"",
        mqtt_topic=_text(header(hs, h.HEADER_MQTT_TOPIC)),
        source_topic=_text(header(hs, h.HEADER_DLQ_SOURCE_TOPIC)),
        source_partition=int(_text(header(hs, h.HEADER_DLQ_SOURCE_PARTITION)) or -1),
        source_offset=int(_text(header(hs, h.HEADER_DLQ_SOURCE_OFFSET)) or -1),
        original_sha256=_text(header(hs, h.HEADER_DLQ_ORIGINAL_SHA256))
        or hashlib.sha256(value or b"").hexdigest(),
    )


def count_by_reason(letters: list[DeadLetter]) -> Counter[tuple[str, str]]:
    """Dead letters counted by (stage, reason)."""
    return Counter((d.stage, d.reason) for d in letters)
