"""What the demo shows of the journey: the alerts the fleet raised, by type, and the funnel.

:func:`journey_caught_up` says whether the journey processor has committed everything on
``vehicle.signals`` and ``vehicle.services`` (Kafka's end offsets against its stored offsets);
the demo and the end-to-end tests wait for it after the signals processor.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.table import Table

from database.db import connect
from journeygate.embedded.pipeline import PipelineProcesses
from kernel.kafka import Topics
from kernel.settings import Settings

JOURNEY_GROUP = "journeygate-journey"
_STORED = """
SELECT topic, kafka_partition, next_offset FROM consumer_offsets
WHERE consumer_group = %s AND topic = ANY(%s)
"""
_BY_TYPE = """
SELECT alert_type, count(*) AS alerts, count(DISTINCT vin) AS vehicles,
       count(*) FILTER (WHERE state = 'new') AS open,
       count(*) FILTER (WHERE state = 'expired') AS expired,
       count(*) FILTER (WHERE state = 'hidden') AS hidden
FROM alerts GROUP BY alert_type ORDER BY count(*) DESC, alert_type
"""


async def _end_offsets(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        ends = await consumer.end_offsets(tps) if tps else {}
        return {(tp.topic, tp.partition): int(o) for tp, o in ends.items()}
    finally:
        await consumer.stop()


def journey_caught_up(settings: Settings) -> bool:
    """The journey processor has committed every record on vehicle.signals and
    vehicle.services."""
    t = Topics.from_settings(settings)
    topics = [t.signals, t.services]
    ends = asyncio.run(_end_offsets(settings, topics))
    with connect(settings.database_url) as conn:
        rows = conn.execute(_STORED, (settings.topic(JOURNEY_GROUP), topics)).fetchall()
    stored = {(str(topic), int(str(p))): int(str(o)) for topic, p, o in rows}
    return bool(ends) and all(stored.get(k, 0) >= end for k, end in ends.items())


def wait_for_journey(settings: Settings, pipeline: PipelineProcesses, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pipeline.check_alive()
        if journey_caught_up(settings):
            return True
        time.sleep(0.5)
    return False


def alerts_table(database_url: str) -> Table:
    """The alerts the fleet raised, by type: how many, for how many vehicles, in which state."""
    with connect(database_url) as conn:
        rows = conn.execute(_BY_TYPE).fetchall()
    table = Table(title="Dealer alerts the fleet raised, by type")
    table.add_column("type")
    for column in ("alerts", "vehicles", "open", "expired", "hidden"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row[0]), *(f"{int(str(x)):,}" for x in row[1:]))
    if not rows:
        table.add_row("(none)", "0", "0", "0", "0", "0")
    return table
