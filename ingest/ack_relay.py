"""The bridge's acknowledgement relay: ``telemetry.acks`` → each vehicle's ``{root}/{VIN}/ack``.

The store writer decides what is durable and puts the acknowledgements on ``telemetry.acks``,
many per record, one line each (see :mod:`kernel.acks`). The relay, a second task of the
bridge process, reads that topic in its own consumer group (``journeygate-ack-relay``: several
bridges share the partitions) and publishes, per vehicle and boot, the highest acknowledgement
of a batch as a downlink payload at QoS 1 over an MQTT connection of its own (client id
``{bridge_id}-acks``, clean session), then commits the batch's offsets once the broker
acknowledged every publish. A batch
not acknowledged when the connection drops is published again after the reconnect; a crash
reads it again from the committed offsets. Repeats are harmless: a device keeps the highest
acknowledgement it has seen.

Acknowledgements are worth less than telemetry: the relay never holds the bridge back, logs one
line per kind of failure, and reconnects with backoff however long the broker is away.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from ingest import metrics
from ingest.logic import Inbound, ack_publishes
from ingest.mqtt_loop import MqttLink, MqttUnavailable
from kernel.kafka import (
    Topics,
    ensure_topics_until_stopped,
    make_consumer,
    poll_batch,
    start_client_until_stopped,
    stop_client,
)
from kernel.retry import Backoff, Stopped, pause
from kernel.settings import Settings

GROUP = "journeygate-ack-relay"
OPEN_TIMEOUT_S = 10.0
BATCH_MAX_RECORDS = 5000
BATCH_MAX_WAIT_MS = 100
# Publishes of a batch not acknowledged by the broker in this time: the connection is renewed.
PUBACK_TIMEOUT_S = 30.0
# Publishes handed to the MQTT client at once, then waited for (its message ids wrap at 65,535).
PUBLISH_CHUNK = 1000
RECONNECT_BASE_S = 0.5
# How long leaving the consumer group may hold up a stop: a consumer stopped while it joins the
# group waits for the join to complete (seconds, on some brokers); the bridge does not.
CONSUMER_STOP_S = 1.0

log = logging.getLogger("journeygate.bridge.acks")


class AckRelay:
    """Publishes the store writer's acknowledgements until ``stop`` is set."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = Topics.from_settings(settings).acks
        self._consumer: AIOKafkaConsumer = make_consumer(
            settings, settings.topic(GROUP), [self._topic]
        )
        self._held: list[Any] = []  # a batch published but not acknowledged by the broker
        self._backoff = Backoff(
            RECONNECT_BASE_S, self._settings.bridge_reconnect_max_s, jitter=random.random
        )

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await ensure_topics_until_stopped(self._settings, [self._topic], stop, logger=log)
            await start_client_until_stopped(
                self._consumer, self._settings, stop, logger=log, what="joining the ack relay group"
            )
            await self._sessions(stop)
        except Stopped:
            pass
        finally:
            metrics.ack_relay_connected(False)
            await self._stop_consumer()

    async def _stop_consumer(self) -> None:
        stopping = asyncio.ensure_future(stop_client(self._consumer, log))
        done, _ = await asyncio.wait([stopping], timeout=CONSUMER_STOP_S)
        if not done:
            stopping.cancel()
            log.info("ack relay: stopped without waiting for the consumer group join in progress")

    async def _sessions(self, stop: asyncio.Event) -> None:
        logged: str | None = None
        client_id = f"{self._settings.bridge_id}-acks"
        while not stop.is_set():
            link = MqttLink(self._settings, _no_messages, client_id=client_id)
            try:
                await link.open(OPEN_TIMEOUT_S)
            except MqttUnavailable as exc:
                why = f"ack relay: cannot reach the MQTT broker at {link.target.address}: {exc}"
                if why != logged:
                    logged = why
                    log.warning("%s; retrying with backoff", why)
                await pause(self._backoff.next_s(), stop)
                continue
            logged = None
            metrics.ack_relay_connected(True)
            try:
                relayed = await self._relay(link, stop)
            finally:
                await link.close()
                metrics.ack_relay_connected(False)
            failure = link.closed.exception()
            if failure is not None:  # a callback failed: a bug, not an outage
                raise failure
            if relayed:
                self._backoff.reset()
            if not stop.is_set():
                await pause(self._backoff.next_s(), stop)

    async def _relay(self, link: MqttLink, stop: asyncio.Event) -> bool:
        """Relay batches until the connection ends or ``stop``; whether any batch went out."""
        relayed = False
        while not stop.is_set() and not link.closed.done():
            if not self._held:
                try:
                    self._held = await poll_batch(
                        self._consumer, BATCH_MAX_RECORDS, BATCH_MAX_WAIT_MS
                    )
                except KafkaError as exc:
                    log.warning("ack relay: reading %s failed: %r", self._topic, exc)
                    await pause(1.0, stop)
                    continue
            if not self._held:
                continue
            if not await self._publish(link, self._held, stop):
                return relayed
            await self._commit(self._held)
            self._held = []
            relayed = True
        return relayed

    async def _publish(self, link: MqttLink, records: Sequence[Any], stop: asyncio.Event) -> bool:
        """Publish a batch, :data:`PUBLISH_CHUNK` at a time with the previous chunk's PUBACKs
        still coming (an MQTT client has 65,535 message ids); True once the broker
        acknowledged all of it."""
        publishes, bad = ack_publishes(self._settings.mqtt_topic_root, [r.value for r in records])
        waiting: list[asyncio.Future[None]] = []
        for start in range(0, len(publishes), PUBLISH_CHUNK):
            chunk = publishes[start : start + PUBLISH_CHUNK]
            sent = [link.publish(topic, payload) for topic, payload in chunk]
            if waiting and not await self._confirmed(waiting, link, stop):
                return False
            metrics.acks_published(len(waiting), 0)
            waiting = sent
        if waiting and not await self._confirmed(waiting, link, stop):
            return False
        metrics.acks_published(len(waiting), bad)
        return True

    async def _confirmed(
        self, sent: list[asyncio.Future[None]], link: MqttLink, stop: asyncio.Event
    ) -> bool:
        """Wait until the broker acknowledged every publish of ``sent``: False if the connection
        ends, ``stop`` is set or :data:`PUBACK_TIMEOUT_S` passes first."""
        everything = asyncio.gather(*sent)
        stopping = asyncio.ensure_future(stop.wait())
        watched: list[asyncio.Future[Any]] = [everything, stopping, link.closed]
        try:
            done, _ = await asyncio.wait(
                watched, timeout=PUBACK_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
        if everything not in done:
            everything.cancel()
            return False
        try:
            everything.result()
        except MqttUnavailable as exc:
            log.warning("ack relay: %s; the batch goes out again", exc)
            return False
        return True

    async def _commit(self, records: Sequence[Any]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            offsets[tp] = max(offsets.get(tp, 0), rec.offset + 1)
        owned = {tp: o for tp, o in offsets.items() if tp in self._consumer.assignment()}
        if not owned:
            return
        try:
            await self._consumer.commit(owned)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # Another bridge has the partition now and publishes the batch again: harmless.
            log.warning("ack relay: commit refused (%r); some acknowledgements may repeat", exc)


def _no_messages(_msg: Inbound) -> None:
    """The relay's connection subscribes to nothing."""
