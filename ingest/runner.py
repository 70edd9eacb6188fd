"""The MQTT→Kafka bridge process: connection lifecycle around one :class:`Forwarder` per session.

A PUBACK goes to the broker only after Kafka has stored the record (``acks=all``), in arrival
order. When Kafka fails, the bridge disconnects without acking and recreates its producer; when
the broker goes away, it reconnects with exponential backoff. The broker then redelivers every
unacked message of the persistent session, so nothing is lost; the repeats this can cause carry
the same ``(vin, boot_id, seq)`` and are dropped downstream.

Throughput is capped by the broker's in-flight window: the broker sends about that many unacked
QoS 1 messages at a time (Mosquitto ``max_inflight_messages``, 1000 in the embedded stack; the
receive maximum on MQTT 5), so messages/s <= window / ack latency (1000 / 20 ms = 50,000 msg/s).
Below that, one bridge process is bound by its CPU (MQTT decoding and the Kafka client); run more
instances on a shared subscription (``bridge_share_group``) to go further.

Beside forwarding, the bridge relays the store writer's acknowledgements to the vehicles
(:mod:`ingest.ack_relay`, unless ``bridge_ack_relay`` is off), on a connection of its own.

At start-up the bridge waits for Kafka and the MQTT broker with backoff, however long they take
(one log line per kind of failure). Readiness (:mod:`kernel.health`): Kafka reached and an MQTT
session open.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ingest import metrics
from ingest.ack_relay import AckRelay
from ingest.forwarder import End, Forwarder, KafkaUnavailable
from ingest.logic import RouteConfig
from ingest.mqtt_loop import MqttLink, MqttUnavailable
from kernel.errors import InfrastructureError
from kernel.health import readiness
from kernel.kafka import make_producer, start_client, startup_backoff
from kernel.mqtt import parse_mqtt_url
from kernel.retry import Backoff, Stopped, pause, retry_until_stopped, wait_until_up
from kernel.settings import Settings

STAGE = "bridge"
OPEN_TIMEOUT_S = 10.0
DRAIN_S = 10.0
PRODUCER_STOP_S = 10.0
# Reconnect delays double from this, up to ``bridge_reconnect_max_s``, with equal jitter.
RECONNECT_BASE_S = 0.5
# Room for headers next to the largest payload (an MQTT topic name can be 64 KiB, sent twice).
HEADER_ROOM_BYTES = 256 * 1024

log = logging.getLogger("journeygate.bridge")


async def run_bridge(settings: Settings, stop: asyncio.Event) -> None:
    """Forward ``{root}/{VIN}/telemetry`` messages to ``telemetry.raw`` until ``stop`` is set.

    Servers unreachable at start are waited for, and later outages retried, without end.
    """
    await _Bridge(settings, stop).run()


class _Bridge:
    def __init__(self, settings: Settings, stop: asyncio.Event) -> None:
        self._settings = settings
        self._stop = stop
        self._cfg = RouteConfig.from_settings(settings)
        self._address = parse_mqtt_url(settings.mqtt_url).address
        self._producer: AIOKafkaProducer | None = None
        self._backoff = Backoff(
            RECONNECT_BASE_S, settings.bridge_reconnect_max_s, jitter=random.random
        )
        self._ready = readiness(STAGE)

    async def run(self) -> None:
        ready = self._ready
        ready.require("kafka", f"not connected to Kafka at {self._settings.kafka_bootstrap} yet")
        ready.require("mqtt", f"not connected to the MQTT broker at {self._address} yet")
        try:
            self._producer = await wait_until_up(
                self._start_producer,
                retriable=(InfrastructureError,),
                stop=self._stop,
                what="starting the Kafka producer",
                backoff=startup_backoff(),
                on_failure=lambda exc: ready.unmet("kafka", str(exc)),
                logger=log,
            )
        except Stopped:
            return
        ready.met("kafka")
        tasks = [asyncio.create_task(self._sessions())]
        if self._settings.bridge_ack_relay:
            tasks.append(asyncio.create_task(AckRelay(self._settings).run(self._stop)))
        try:
            pending = set(tasks)
            while pending:  # both end when stopped; the first failure ends the bridge
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._stop_producer()

    async def _sessions(self) -> None:
        connected_once = False
        logged: str | None = None  # the failure to reach the broker last logged
        while not self._stop.is_set() and self._producer is not None:
            forwarder = Forwarder(
                self._producer, self._cfg, linger_s=self._settings.bridge_kafka_linger_ms / 1000
            )
            link = MqttLink(self._settings, forwarder.accept)
            try:
                session_present = await link.open(OPEN_TIMEOUT_S)
            except MqttUnavailable as exc:
                why = f"cannot reach MQTT broker at {self._address}: {exc}"
                self._ready.unmet("mqtt", why)
                delay = self._next_delay()
                if why != logged:  # one line per kind of failure, not one per attempt
                    logged = why
                    log.warning(
                        "%s; retrying with backoff (up to %.0f s apart) until it succeeds",
                        why,
                        self._settings.bridge_reconnect_max_s,
                    )
                await self._pause(delay)
                continue
            logged = None
            self._connected(connected_once, session_present, link.topic_filter)
            self._ready.met("mqtt")
            connected_once = True
            began = time.monotonic()
            try:
                end: End | KafkaUnavailable = await forwarder.run(link, self._stop, DRAIN_S)
            except KafkaUnavailable as exc:
                end = exc
            finally:
                await link.close()
                metrics.disconnected()
                self._ready.unmet("mqtt", "disconnected from the MQTT broker")
            if end is End.STOPPED:
                return
            if forwarder.acked or time.monotonic() - began >= self._settings.bridge_reconnect_max_s:
                self._backoff.reset()
            if isinstance(end, KafkaUnavailable):
                log.warning("%s; disconnected from MQTT so that the broker redelivers", end)
                self._ready.unmet("kafka", str(end))
                await self._restart_producer()
                if self._producer is not None:
                    self._ready.met("kafka")
            else:
                log.warning("lost MQTT broker at %s (%s)", self._address, link.closed.result())
            await self._pause(self._next_delay())

    def _connected(self, again: bool, session_present: bool, topic_filter: str) -> None:
        metrics.connected(again)
        if again and not session_present:
            log.warning(
                "the broker had no session for %s: messages published while the bridge was "
                "away were dropped (session expired, or the broker lost its state)",
                self._settings.bridge_id,
            )
        log.info(
            "connected to MQTT broker at %s as %s (session %s), subscribed to %s",
            self._address,
            self._settings.bridge_id,
            "resumed" if session_present else "new",
            topic_filter,
        )

    async def _start_producer(self) -> AIOKafkaProducer:
        s = self._settings
        producer = make_producer(
            s,
            linger_ms=s.bridge_kafka_linger_ms,
            max_request_size=max(1 << 20, s.bridge_max_payload_bytes + HEADER_ROOM_BYTES),
            client_id=f"journeygate-{s.bridge_id}",
        )
        try:
            await start_client(producer, s)
            for topic in (self._cfg.topics.raw, self._cfg.topics.dlq):
                try:
                    await producer.partitions_for(topic)
                except KafkaError as exc:
                    raise InfrastructureError(
                        f"Kafka topic {topic} is not available at {s.kafka_bootstrap} ({exc!r}); "
                        "create it with `journeygate topics`"
                    ) from exc
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _restart_producer(self) -> None:
        await self._stop_producer()
        if self._stop.is_set():
            return
        try:
            self._producer = await retry_until_stopped(
                self._start_producer,
                retriable=(InfrastructureError,),
                stop=self._stop,
                what="restarting the Kafka producer",
                backoff=self._backoff,
                logger=log,
            )
        except Stopped:
            return

    async def _stop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            await asyncio.wait_for(producer.stop(), PRODUCER_STOP_S)
        except (TimeoutError, KafkaError) as exc:
            log.warning("Kafka producer did not stop cleanly: %r", exc)

    def _next_delay(self) -> float:
        return self._backoff.next_s()

    async def _pause(self, delay_s: float) -> None:
        """Sleep ``delay_s``, returning early when the bridge is asked to stop."""
        await pause(delay_s, self._stop)
