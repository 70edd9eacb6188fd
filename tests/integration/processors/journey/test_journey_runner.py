"""The journey processor against real Kafka and PostgreSQL: a signal opens a gate and raises an
alert (table and dealer.alerts), a consent withdrawal published on vehicle.consent hides it and
stops new ones at once, a restart resumes from the stored offsets without repeating anything."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from journeygate.consent_publish import publish_consent
from kernel.kafka import Topics, make_producer
from kernel.metrics import registry
from kernel.settings import Settings
from processors.journey import metrics as journey_metrics
from processors.journey.runner import JourneyOptions, run_journey_with
from schemas.alerts import AlertCodec, AlertMessage
from schemas.codec import load_avro_schema
from schemas.consent import consent_change

VIN = "1HGCM82633A004352"
T0 = datetime(2026, 2, 1, tzinfo=UTC)


def register(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date,"
            " dealer_id) VALUES (%s, 'Honda', 'Civic', 2023, 'ice', '2023-03-14', 'dealer-7')",
            (VIN,),
        )
        for purpose in ("service_reminders", "marketing_offers"):
            conn.execute(
                "INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)"
                " VALUES (%s, %s, true, '2023-03-14', 'test')",
                (VIN, purpose),
            )


def warranty_signal(day: int, days_left: int, vin: str = VIN, coverage: str = "basic") -> bytes:
    at = T0 + timedelta(days=day)
    expiry = (at + timedelta(days=days_left)).date()
    ms = int(at.timestamp() * 1000)
    record: dict[str, Any] = {
        "signal_id": f"{vin}:warranty:{coverage}:{ms}",
        "vin": vin,
        "dealer_id": "dealer-7",
        "kind": "warranty",
        "as_of_ts": at,
        "explanation": f"{coverage.capitalize()} warranty ends on {expiry} (time limit).",
        "usage": None,
        "warranty": {
            "coverage": coverage,
            "expiry_p10": expiry,
            "expiry_p50": expiry,
            "expiry_p90": expiry,
            "binds": "time",
            "days_remaining": days_left,
            "km_remaining": 9000.0,
            "expired": False,
        },
        "service": None,
        "equity": None,
        "fault": None,
        "quality": None,
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, load_avro_schema("vehicle_signal"), record)
    return out.getvalue()


async def produce_signals(settings: Settings, values: list[bytes]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = Topics.from_settings(settings).signals
        for v in values:
            await (await producer.send(topic, v, key=VIN.encode()))
    finally:
        await producer.stop()


async def query(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        return await (await conn.execute(sql, params)).fetchall()


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 30
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_journey_with(settings, stop, JourneyOptions()))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


async def raw_published(settings: Settings, expected: int) -> list[Any]:
    """The records of dealer.alerts (at least ``expected``, or what came in 15 s), in partition
    order."""
    topic = Topics.from_settings(settings).alerts
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
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
        return records
    finally:
        await consumer.stop()


async def published(settings: Settings, expected: int) -> list[tuple[bytes, AlertMessage]]:
    return [(r.key, AlertCodec().decode(r.value)) for r in await raw_published(settings, expected)]


def alert_latencies() -> float:
    name = "journeygate_journey_event_to_alert_seconds_count"
    return registry(journey_metrics.STAGE).get_sample_value(name) or 0.0


def registry_version(settings: Settings) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT version FROM registry_version").fetchone()
        assert row is not None
        return int(row[0])


def test_alert_raised_then_hidden_and_stopped_by_a_withdrawal(settings: Settings) -> None:
    register(settings)
    version = registry_version(settings)
    latencies_before = alert_latencies()

    async def scenario() -> None:
        async def count(sql: str, n: int) -> bool:
            return len(await query(settings, sql)) == n

        await produce_signals(settings, [warranty_signal(0, 28)])
        async with running(settings):
            await wait_until(lambda: count("SELECT 1 FROM alerts WHERE state = 'new'", 1), "alert")
            withdrawal = consent_change(
                VIN, "service_reminders", False, T0 + timedelta(days=1), "test"
            )
            await publish_consent(settings, [withdrawal])
            await wait_until(
                lambda: count("SELECT 1 FROM alerts WHERE state = 'hidden'", 1), "hidden alert"
            )
        # a restart resumes from the stored offsets; the near stage now finds no consent
        await produce_signals(settings, [warranty_signal(16, 12)])
        async with running(settings):
            await wait_until(
                lambda: count("SELECT 1 FROM journey_events WHERE event = 'suppressed'", 1),
                "suppressed near stage",
            )
        rows = await query(
            settings, "SELECT alert_type, stage, purpose, dealer_id, reason FROM alerts"
        )
        assert len(rows) == 1
        assert alert_latencies() - latencies_before == 1  # the alert's event time to its commit
        assert rows[0][:4] == ("warranty_ending", "early", "service", "dealer-7")
        assert rows[0][4].startswith("Basic warranty ends on ")
        events = await query(
            settings, "SELECT event, detail FROM journey_events ORDER BY at_ts, event_id"
        )
        kinds = [e for e, _ in events]
        assert kinds[:4] == ["consent", "consent", "entered", "alerted"]  # registry consent first
        assert "hidden" in kinds and "consent" in kinds
        records = await published(settings, 2)
        assert [(m.action, m.alert_type) for _, m in records] == [
            ("raised", "warranty_ending"),
            ("hidden", "warranty_ending"),
        ]
        assert {key for key, _ in records} == {b"dealer-7"}
        assert records[0][1].detail is not None and records[1][1].detail is None
        # the withdrawal heard on Kafka is in the registry's history too, for every other path
        current = await query(
            settings,
            "SELECT granted, changed_at, source FROM consent_current"
            " WHERE vin = %s AND purpose = 'service_reminders'",
            (VIN,),
        )
        assert current == [(False, T0 + timedelta(days=1), "test")]
        # ... and moved no registry version: the states hold it already
        assert registry_version(settings) == version

    asyncio.run(scenario())


def registry_reads(source: str) -> float:
    name = "journeygate_journey_registry_reads_total"
    return registry(journey_metrics.STAGE).get_sample_value(name, {"source": source}) or 0.0


def test_a_withdrawal_written_to_the_registry_alone_counts_at_the_next_batch(
    settings: Settings,
) -> None:
    """The processor keeps the registry rows it read while the registry's version holds; a
    consent change stored without being published (``registry import --no-publish``, SQL) moves
    the version, so the next batch reads the row again and hides the alert."""
    register(settings)

    async def scenario() -> None:
        async def count(sql: str, n: int) -> bool:
            return len(await query(settings, sql)) == n

        async def more_cached(before: float) -> bool:
            return registry_reads("cache") > before

        await produce_signals(settings, [warranty_signal(0, 28)])
        async with running(settings):
            await wait_until(lambda: count("SELECT 1 FROM alerts WHERE state = 'new'", 1), "alert")
            cached = registry_reads("cache")
            await produce_signals(settings, [warranty_signal(1, 27)])
            await wait_until(lambda: more_cached(cached), "a batch with the registry row kept")
            with psycopg.connect(settings.database_url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO consent_changes (vin, purpose, granted, changed_at, source)"
                    " VALUES (%s, 'service_reminders', false, %s, 'registry')",
                    (VIN, T0 + timedelta(days=2)),
                )
            await produce_signals(settings, [warranty_signal(3, 25)])
            await wait_until(
                lambda: count("SELECT 1 FROM alerts WHERE state = 'hidden'", 1), "hidden alert"
            )
        details = [d for e, d in await query(settings, "SELECT event, detail FROM journey_events")]
        assert "service_reminders withdrawn" in details

    asyncio.run(scenario())
