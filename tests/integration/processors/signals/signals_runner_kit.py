"""Helpers for the signals processor's integration tests: a small registered fleet, its frames
and visits on Kafka, the processor as a task, and what it left in PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from kernel import headers as h
from kernel.kafka import VEHICLE_SERVICES, Topics, ensure_topics, make_producer
from kernel.settings import Settings
from processors.signals.runner import GROUP, SignalsOptions, run_signals_with
from schemas.codec import FrameCodec
from schemas.records import Sample, TelemetryFrame
from schemas.services import ServiceItem, ServiceVisitCodec, ServiceVisitRecord
from schemas.signals import SignalCodec

START = datetime(2025, 3, 1, tzinfo=UTC)
# Registered: the first three (one a hybrid on a PCP, one a GB EV bought cash); the fourth is
# registered with a model the catalog does not know; the last is not registered at all.
VINS = [
    "1HGCM82633A004352",
    "1M8GDM9AXKP042788",
    "WVWZZZ1KZ8W000001",
    "WVWZZZ1KZ8W000002",
    "WVWZZZ1KZ8W000003",
]
REGISTRY = [
    (VINS[0], "Honda", "Civic", "ice", "US", "USD", "loan", 22000, 6.9, 60, None),
    (VINS[1], "Toyota", "RAV4 Hybrid", "hybrid", "US", "USD", "pcp", 30000, 5.0, 36, 12000),
    (VINS[2], "Hyundai", "Ioniq 5", "ev", "GB", "GBP", "cash", None, None, None, None),
    (VINS[3], "Volkswagen", "Golf", "ice", "DE", "EUR", "cash", None, None, None, None),
]
Ends = dict[tuple[str, int], int]
"""Per (topic, partition), the offset after the last record a test produced."""


def register(settings: Settings) -> None:
    """The registered vehicles of :data:`REGISTRY`, delivered on 2024-03-01 at 12 km."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for vin, brand, model, pt, market, cur, kind, amount, apr, term, balloon in REGISTRY:
            conn.execute(
                "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date,"
                " delivery_odometer_m, dealer_id, market, currency, finance_kind, finance_amount,"
                " finance_apr_pct, finance_term_months, finance_start, finance_balloon)"
                " VALUES (%s, %s, %s, 2024, %s, '2024-03-01', 12000, 'dealer-1', %s, %s, %s, %s,"
                " %s, %s, CASE WHEN %s = 'cash' THEN NULL ELSE DATE '2024-03-01' END, %s)",
                (vin, brand, model, pt, market, cur, kind, amount, apr, term, kind, balloon),
            )


def fleet_frames(days: int, first_day: int = 0, frames_per_day: int = 2) -> list[TelemetryFrame]:
    """Every vehicle's frames in time order: ``frames_per_day`` trips a day, each a frame of two
    samples; the first vehicle reports P0420 from day 3 to day 6, the second P0A80 from day 2."""
    out = []
    for day in range(first_day, first_day + days):
        for trip in range(frames_per_day):
            hour = 7 + trip * (12 // frames_per_day)
            for n, vin in enumerate(VINS):
                km_per_day = 30.0 + 15.0 * n
                at = START + timedelta(days=day, hours=hour)
                odo = 15_000_000 + km_per_day * 1000 * (day + trip / frames_per_day)
                codes: tuple[str, ...] = ()
                if n == 0 and 3 <= day <= 6:
                    codes = ("P0420",)
                if n == 1 and day >= 2:
                    codes = ("P0A80",)
                trip_m = km_per_day * 1000 / frames_per_day
                samples = tuple(
                    Sample(
                        i,
                        at + timedelta(minutes=20 * i),
                        odometer_m=round(odo + i * trip_m),
                        dtcs=codes,
                    )
                    for i in range(2)
                )
                seq = day * frames_per_day + trip
                out.append(TelemetryFrame(vin, "boot-1", seq, at, "bridge-t", samples))
    return out


def service_visit(vin: str, day: int, odometer_m: int, visit_id: str) -> ServiceVisitRecord:
    """A dealer visit: the scheduled service, a cabin filter and the repair of P0420."""
    return ServiceVisitRecord(
        visit_id=visit_id,
        vin=vin,
        visit_ts=START + timedelta(days=day, hours=12),
        odometer_m=odometer_m,
        dealer_id="dealer-1",
        currency="USD",
        items=(
            ServiceItem("scheduled", None, "scheduled service", 255.0),
            ServiceItem("wear", "cabin_air_filter", "cabin filter", 58.5),
            ServiceItem("repair", "P0420", "catalytic converter", 0.0),
        ),
    )


def services_topic(settings: Settings) -> str:
    return settings.topic(VEHICLE_SERVICES)


async def ensure_services_topic(settings: Settings) -> None:
    await ensure_topics(settings, [services_topic(settings)])


async def produce(
    settings: Settings,
    ends: Ends,
    frames: Sequence[TelemetryFrame] = (),
    visits: Sequence[ServiceVisitRecord] = (),
    *,
    raw: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Produce frames, visits and raw ``(topic, value)`` records; note where they landed."""
    producer = make_producer(settings)
    await producer.start()
    frames_topic, visits_topic = Topics.from_settings(settings).frames, services_topic(settings)
    try:
        pending = [
            await producer.send(
                frames_topic,
                value=FrameCodec().encode(f),
                key=f.vin.encode(),
                headers=[(h.HEADER_FRAME_ID, f.frame_id.encode())],
            )
            for f in frames
        ]
        pending += [
            await producer.send(
                visits_topic, value=ServiceVisitCodec().encode(v), key=v.vin.encode()
            )
            for v in visits
        ]
        pending += [await producer.send(topic, value=value, key=b"junk") for topic, value in raw]
        for meta in await asyncio.gather(*pending):
            key = (meta.topic, meta.partition)
            ends[key] = max(ends.get(key, 0), meta.offset + 1)
    finally:
        await producer.stop()


async def query(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def db_offsets(settings: Settings) -> Ends:
    rows = await query(
        settings,
        "SELECT topic, kafka_partition, next_offset FROM consumer_offsets"
        " WHERE consumer_group = %s",
        (settings.topic(GROUP),),
    )
    return {(str(t), int(p)): int(o) for t, p, o in rows}


async def drained(settings: Settings, ends: Ends) -> bool:
    return await db_offsets(settings) == ends


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    *,
    task: asyncio.Task[None] | None = None,
    timeout_s: float = 30.0,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if task is not None and task.done():
            task.result()
            raise AssertionError(f"the processor stopped before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_signals(settings: Settings, **options: Any) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_signals_with(settings, stop, SignalsOptions(**options)))
    try:
        yield task
    finally:
        stop.set()
        if not task.cancelled():
            await asyncio.wait_for(task, timeout=20)


async def vehicle_states(settings: Settings) -> dict[str, tuple[Any, ...]]:
    """Every ``vehicle_state`` row but its ``updated_at``, by VIN."""
    rows = await query(
        settings,
        "SELECT vin, dealer_id, as_of_ts, odometer_m, usage, warranty, service, equity,"
        " active_faults, last_service, predicted_as_of_ts FROM vehicle_state",
    )
    return {row[0]: tuple(row[1:]) for row in rows}


async def stored_signals(settings: Settings) -> list[tuple[str, str, str]]:
    """Every stored signal as (signal_id, vin, kind), sorted."""
    rows = await query(settings, "SELECT signal_id, vin, kind FROM signals ORDER BY signal_id")
    return [(str(a), str(b), str(c)) for a, b, c in rows]


async def published_signals(settings: Settings, *, expected: int) -> list[dict[str, Any]]:
    """Every record on vehicle.signals, decoded: waits for ``expected`` of them, then for more."""
    topic = Topics.from_settings(settings).signals
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    codec = SignalCodec()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + 15
        while len(records) < expected and time.monotonic() < deadline:
            for part in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(part)
        for part in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(part)
        out = []
        for rec in records:
            decoded = codec.decode(rec.value)
            assert rec.key == decoded["vin"].encode()
            assert dict(rec.headers)["signal_id"] == decoded["signal_id"].encode()
            out.append(decoded)
        return out
    finally:
        await consumer.stop()
