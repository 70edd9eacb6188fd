"""Moves the messages of one MQTT connection into Kafka and acks them in arrival order.

Two tasks share an :class:`~ingest.logic.AckQueue`: the *pump* routes the messages received so
far (after lingering ``linger_s`` when they are few) and hands their Kafka records to the
producer as one batch per partition, without waiting for delivery; the *acker* waits for the
oldest delivery and then acks every leading message Kafka has acknowledged, in one batch. A
failed delivery ends the connection with nothing acked past it, so the broker redelivers from
there.
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from ingest import metrics
from ingest.logic import AckQueue, Inbound, Outbound, Pending, RouteConfig, route
from ingest.mqtt_loop import MqttLink
from kernel.errors import InfrastructureError
from kernel.kafka import send_batches

Delivery = asyncio.Future[RecordMetadata]
# Messages waiting that make a batch worth sending without lingering first.
LINGER_ENOUGH = 500


class KafkaUnavailable(InfrastructureError):
    """Kafka did not acknowledge a record after the producer's own retries."""


class End(enum.Enum):
    """Why a connection's forwarding ended."""

    STOPPED = "stopped"
    MQTT_LOST = "mqtt_lost"


class Forwarder:
    """The pipeline of one connection; :meth:`accept` is the link's message handler."""

    def __init__(
        self, producer: AIOKafkaProducer, cfg: RouteConfig, *, linger_s: float = 0.0
    ) -> None:
        self._producer = producer
        self._cfg = cfg
        self._linger_s = linger_s
        self._inbox: list[Inbound] = []
        self._acks: AckQueue[Delivery] = AckQueue()
        self._inbox_ready = asyncio.Event()
        self._acks_ready = asyncio.Event()
        self._closing = False
        self.acked = 0

    def accept(self, msg: Inbound) -> None:
        """Hand a received message over (called from the MQTT read callback); returns at once."""
        self._inbox.append(msg)
        self._inbox_ready.set()

    async def run(self, link: MqttLink, stop: asyncio.Event, drain_s: float) -> End:
        """Forward until ``stop`` is set or the connection ends.

        Raises :class:`KafkaUnavailable` when a delivery fails; on stop, finishes what was
        received (up to ``drain_s``) and acks what Kafka stored.
        """
        pump = asyncio.create_task(self._pump())
        acker = asyncio.create_task(self._ack_loop(link, pump))
        stopping = asyncio.create_task(stop.wait())
        watched: set[asyncio.Future[Any]] = {pump, acker, stopping, link.closed}
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in (pump, acker):
                if task.done():
                    task.result()
            if link.closed.done():
                link.closed.result()
                return End.MQTT_LOST
            link.pause_reading()
            self._closing = True
            self._inbox_ready.set()
            draining: list[asyncio.Future[Any]] = [acker, link.closed]
            await asyncio.wait(draining, timeout=drain_s, return_when=asyncio.FIRST_COMPLETED)
            if acker.done():
                acker.result()
            return End.STOPPED
        finally:
            tasks: list[asyncio.Task[Any]] = [pump, acker, stopping]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._drop_pending()

    async def _pump(self) -> None:
        while True:
            if not self._inbox:
                if self._closing:
                    self._acks_ready.set()
                    return
                self._inbox_ready.clear()
                await self._inbox_ready.wait()
                continue
            if self._linger_s and len(self._inbox) < LINGER_ENOUGH and not self._closing:
                await asyncio.sleep(self._linger_s)  # let a small batch grow: fewer requests
            batch, self._inbox = self._inbox, []
            routed = [route(msg, self._cfg) for msg in batch]
            try:
                deliveries = await self._send(routed)
            except KafkaError as exc:
                raise KafkaUnavailable(f"Kafka refused a record: {exc!r}") from exc
            for msg, out, delivery in zip(batch, routed, deliveries, strict=True):
                self._acks.push(Pending(msg.mid, msg.qos, msg.received_s, out.reason, delivery))
            self._acks_ready.set()
            metrics.received(len(batch))
            metrics.inflight(len(self._acks) + len(self._inbox))

    async def _send(self, routed: list[Outbound]) -> list[Delivery]:
        """Send every record, per topic in batches per partition; one delivery per record."""
        by_topic: dict[str, list[int]] = {}
        for i, out in enumerate(routed):
            by_topic.setdefault(out.topic, []).append(i)
        deliveries: list[Delivery | None] = [None] * len(routed)
        for topic, members in by_topic.items():
            sent = await send_batches(self._producer, topic, [routed[i] for i in members])
            for i, delivery in zip(members, sent, strict=True):
                deliveries[i] = delivery
        return [d for d in deliveries if d is not None]

    async def _ack_loop(self, link: MqttLink, pump: asyncio.Task[None]) -> None:
        while True:
            head = self._acks.head
            if head is None:
                if self._closing and pump.done():
                    return
                self._acks_ready.clear()
                await self._acks_ready.wait()
                continue
            if not head.delivery.done():
                await asyncio.wait([head.delivery])
            ready = self._acks.pop_ready()
            for p in ready:
                if p.qos:
                    link.ack(p.mid, p.qos)
            self.acked += len(ready)
            metrics.completed(ready, time.monotonic())
            metrics.inflight(len(self._acks) + len(self._inbox))
            failure = self._acks.head_failure()
            if failure is not None:
                raise KafkaUnavailable(f"Kafka did not store a record: {failure!r}") from failure

    def _drop_pending(self) -> None:
        """Forget unacked messages: the broker redelivers them on the next connection."""
        for p in self._acks.clear():
            p.delivery.add_done_callback(_retrieve)
        self._inbox.clear()
        metrics.inflight(0)


def _retrieve(delivery: Delivery) -> None:
    """Mark a dropped delivery's outcome as seen, so asyncio does not log it as lost."""
    if not delivery.cancelled():
        delivery.exception()
