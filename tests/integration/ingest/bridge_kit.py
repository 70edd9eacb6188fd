"""Helpers for the bridge integration tests: QoS 1 publisher, raw consumer, running bridge."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from paho.mqtt.client import Client, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion

from ingest import metrics as bridge_metrics
from ingest.runner import run_bridge
from kernel.metrics import registry
from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings

Record = Any  # aiokafka's ConsumerRecord
STOP_LIMIT_S = 3.0


def vin(n: int) -> str:
    """A syntactically valid 17-character VIN (no I, O or Q)."""
    return f"JG0TEST{n:010d}"


def topic_for(settings: Settings, vehicle: str) -> str:
    return f"{settings.mqtt_topic_root}/{vehicle}/telemetry"


def _publish_blocking(
    settings: Settings, messages: Sequence[tuple[str, bytes]], retain: bool = False
) -> None:
    target = parse_mqtt_url(settings.mqtt_url)
    client = Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=MQTTv311
    )
    client.max_inflight_messages_set(500)
    target.configure(client)
    client.connect(target.host, target.port)
    client.loop_start()
    try:
        infos = [
            client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages
        ]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published(), "the broker did not acknowledge a publish"
    finally:
        client.disconnect()
        client.loop_stop()


async def publish(
    settings: Settings, messages: Sequence[tuple[str, bytes]], retain: bool = False
) -> None:
    """Publish at QoS 1 and return once the broker acknowledged every message."""
    await asyncio.to_thread(_publish_blocking, settings, messages, retain)


async def consume_until(
    settings: Settings,
    topic: str,
    done: Callable[[list[Record]], bool],
    timeout_s: float = 30.0,
) -> list[Record]:
    """Read ``topic`` from the beginning until ``done(records)``; fail at the deadline."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(records):
            assert time.monotonic() < deadline, f"{topic}: only {len(records)} records arrived"
            batches = await consumer.getmany(timeout_ms=200)
            for partition in sorted(batches, key=lambda tp: tp.partition):
                records.extend(batches[partition])
    finally:
        await consumer.stop()
    return records


async def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def metric(name: str, **labels: str) -> float:
    return registry(bridge_metrics.STAGE).get_sample_value(name, labels) or 0.0


def subscribed() -> bool:
    return metric("journeygate_bridge_connected") == 1.0


@contextlib.asynccontextmanager
async def running_bridge(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """Run the bridge as a task until the block ends; yields once it is subscribed.

    On leaving the block the bridge is stopped and must finish within ``STOP_LIMIT_S``.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(run_bridge(settings, stop))
    try:
        await wait_until(lambda: subscribed() or task.done(), "the bridge to subscribe")
        if task.done():
            task.result()
        yield task
    except BaseException:
        stop.set()
        await asyncio.wait([task], timeout=20)
        raise
    stop.set()
    stopping_since = time.monotonic()
    await asyncio.wait_for(task, 20)
    assert time.monotonic() - stopping_since < STOP_LIMIT_S, "the bridge was slow to stop"
