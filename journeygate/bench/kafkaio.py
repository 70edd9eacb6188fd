"""Kafka and PostgreSQL side of a benchmark: preloading a stage's input, watching its output.

Progress is read where the measured process does not pay for it: its output topic, read by the
benchmark; the offsets its consumer group committed; or the offsets the store writer committed in
PostgreSQL. A topic's end offsets (``ListOffsets``) are not used for progress: the embedded
broker (Tansu) reports them late and in jumps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Protocol

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from journeygate.bench import payloads
from journeygate.bench.payloads import Fleet
from journeygate.embedded.pipeline import scrape_metrics
from kernel.headers import HEADER_FRAME_ID
from kernel.kafka import make_producer, start_client
from kernel.settings import Settings
from schemas.codec import FrameCodec
from schemas.records import frame_id

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]
BRIDGE_ID = "bench-bridge"
SEND_CHUNK = 5000


async def produce(settings: Settings, topic: str, records: Iterable[Record]) -> int:
    """Send every record (key, value, headers) and wait until Kafka acknowledged them all."""
    producer = make_producer(settings)
    await start_client(producer, settings)
    sent = 0
    try:
        pending = []
        for key, value, headers in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            sent += 1
            if len(pending) >= SEND_CHUNK:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def raw_records(settings: Settings, fleet: Fleet, count: int) -> Iterable[Record]:
    """``telemetry.raw`` records as the bridge writes them, for messages ``0 .. count-1``."""
    root = settings.mqtt_topic_root
    now_ms = int(time.time() * 1000)
    for n in range(count):
        vin, body = payloads.message(fleet, n, now_ms)
        headers = payloads.raw_headers(f"{root}/{vin}/telemetry", now_ms, BRIDGE_ID)
        yield vin.encode(), body, headers


def frame_records(
    fleet: Fleet,
    count: int,
    samples: int = 1,
    period_ms: int = 0,
    trips: tuple[int, int] = (0, 1),
) -> Iterable[Record]:
    """``telemetry.frames`` records as the normalizer writes them, ``samples`` per frame.

    With ``period_ms``, a vehicle's frames are that far apart in event time, its last one now
    (a fleet reporting on a fixed period, as the signals processor expects); without, every
    sample is stamped now. ``trips = (every, size)``: every ``every``-th frame (0: none) is a
    trip sent as one batch of ``size`` samples instead.
    """
    codec = FrameCodec()
    now_ms = int(time.time() * 1000)
    last_seq = (count - 1) // fleet.size
    every, size = trips
    for n in range(count):
        ts_ms = now_ms - (last_seq - fleet.vehicle_of(n)[1]) * period_ms
        k = size if every and n % every == every - 1 else samples
        f = payloads.frame(fleet, n, ts_ms, now_ms, BRIDGE_ID, k)
        fid = frame_id(f.vin, f.boot_id, f.seq).encode()
        yield f.vin.encode(), codec.encode(f), [(HEADER_FRAME_ID, fid)]


class Progress(Protocol):
    """Work a measured process has completed, as seen from outside it."""

    async def start(self) -> None: ...
    async def total(self) -> int: ...
    async def stop(self) -> None: ...


class ScrapedCounter:
    """A counter the measured process exports itself, read from its metrics endpoint.

    Timely where its output is not: a broker may acknowledge records some time before a reader
    can fetch them (the embedded one does, by up to a second under load), which would make the
    work look finished later than it was, and then all at once. Each read costs the measured
    process one scrape (about a millisecond of CPU), so it is read less often than other
    progress (:data:`SCRAPE_EVERY_S`).
    """

    def __init__(self, port: int, name: str) -> None:
        self._port = port
        self._name = name

    async def start(self) -> None:
        return None

    async def total(self) -> int:
        values = await asyncio.to_thread(scrape_metrics, self._port)
        return int(values.get(self._name, 0.0))

    async def stop(self) -> None:
        return None


SCRAPE_EVERY_S = 0.2


class CommittedOffsets:
    """Sum of the offsets a consumer group committed in Kafka (it commits after its outputs are
    acknowledged, so this counts finished records)."""

    def __init__(self, settings: Settings, group: str, topic: str) -> None:
        self._settings = settings
        self._group = group
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
        )
        await start_client(self._consumer, self._settings)
        await self._consumer.topics()
        ids = self._consumer.partitions_for_topic(self._topic) or set()
        self._partitions = [TopicPartition(self._topic, p) for p in sorted(ids)]

    async def total(self) -> int:
        assert self._consumer is not None
        total = 0
        for tp in self._partitions:
            total += await self._consumer.committed(tp) or 0
        return total

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


class StoreCount:
    """A number PostgreSQL counts (``query`` with ``params``: one integer), as :class:`Progress`."""

    def __init__(self, database_url: str, query: str, params: tuple[object, ...] = ()) -> None:
        self._url, self._query, self._params = database_url, query, params
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def start(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)

    async def total(self) -> int:
        assert self._conn is not None
        cur = await self._conn.execute(self._query, self._params)
        row = await cur.fetchone()
        return int(row[0]) if row is not None else 0  # type: ignore[call-overload]

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class StoredOffsets(StoreCount):
    """Sum of the next offsets a consumer group committed in PostgreSQL."""

    def __init__(self, database_url: str, group: str) -> None:
        super().__init__(
            database_url,
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = %s",
            (group,),
        )
