"""Dead letters of the store writer: undecodable records, sent before their batch commits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from kernel.kafka import dlq_headers
from processors.store.logic import Rejected

STAGE = "store"


async def send_dead_letters(
    producer: AIOKafkaProducer, topic: str, rejected: Sequence[Rejected]
) -> None:
    """Send every reject to ``topic`` unchanged, with DLQ headers; wait until all are acked.

    Raises aiokafka's KafkaError if Kafka does not acknowledge them; the caller retries the
    whole set (a repeat is harmless: each carries its source offset).
    """
    pending = []
    for rej in rejected:
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
        pending.append(await producer.send(topic, value=rec.value, key=rec.key, headers=headers))
    await asyncio.gather(*pending)
