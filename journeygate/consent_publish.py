"""Publishing consent changes on ``vehicle.consent`` (key VIN, header ``change_id``), for
``journeygate registry import``: called inside the import's transaction, so a change is stored
only once Kafka acknowledged it (a failure rolls the import back, with one line and exit 1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka.errors import KafkaError

from kernel.errors import InfrastructureError
from kernel.kafka import OutRecord, Topics, ensure_topics, make_producer, send_batches
from kernel.settings import Settings
from schemas.consent import ConsentChange, ConsentCodec

HEADER_CHANGE_ID = "change_id"


async def publish_consent(settings: Settings, changes: list[ConsentChange]) -> None:
    """Send ``changes`` and wait for Kafka's acknowledgement; InfrastructureError if it fails."""
    topic = Topics.from_settings(settings).consent
    await ensure_topics(settings, [topic])
    codec = ConsentCodec()
    records = [
        OutRecord(
            key=c.vin.encode(),
            value=codec.encode(c),
            headers=[(HEADER_CHANGE_ID, c.change_id.encode())],
        )
        for c in changes
    ]
    producer = make_producer(settings)
    try:
        await producer.start()
        await asyncio.gather(*await send_batches(producer, topic, records))
    except (KafkaError, OSError) as exc:
        raise InfrastructureError(
            f"publishing consent changes to {settings.kafka_bootstrap} failed: {exc}"
        ) from exc
    finally:
        await producer.stop()


def publisher(settings: Settings, counted: list[int]) -> Callable[[list[ConsentChange]], None]:
    """A callback for :func:`database.vehicles.upsert_vehicles` that publishes the changes
    (and appends how many to ``counted``)."""

    def publish(changes: list[ConsentChange]) -> None:
        asyncio.run(publish_consent(settings, changes))
        counted.append(len(changes))

    return publish
