"""The bridge's acknowledgement relay: telemetry.acks → {root}/{VIN}/ack, on real servers."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from bridge_kit import metric, running_bridge, vin, wait_until
from paho.mqtt.client import Client, MQTTMessage, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion

from kernel.acks import ack_subscription, encode_ack, encode_ack_lines
from kernel.kafka import Topics, make_producer
from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings

pytestmark = pytest.mark.integration


class Device:
    """A vehicle's view of its downlink: a QoS 1 subscriber to every ack topic of the root."""

    def __init__(self, settings: Settings) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        target = parse_mqtt_url(settings.mqtt_url)
        client = Client(
            CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}", protocol=MQTTv311
        )
        target.configure(client)
        client.on_message = self._on_message
        client.on_subscribe = lambda c, u, mid, codes, props: self._subscribed.set()
        client.connect(target.host, target.port)
        client.loop_start()
        client.subscribe(ack_subscription(settings.mqtt_topic_root), qos=1)
        assert self._subscribed.wait(10), "no SUBACK"
        self.client = client

    def _on_message(self, _c: Client, _u: object, msg: MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def got(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def device(settings: Settings) -> Iterator[Device]:
    d = Device(settings)
    try:
        yield d
    finally:
        d.close()


async def produce_acks(settings: Settings, values: list[bytes]) -> None:
    """Records of telemetry.acks as the store writer writes them (lines of acknowledgements)."""
    producer = make_producer(settings)
    await producer.start()
    try:
        topic = Topics.from_settings(settings).acks
        sent = [await producer.send(topic, value=value, partition=0) for value in values]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def test_each_acknowledgement_reaches_its_vehicle_once_and_a_bad_line_is_skipped(
    settings: Settings,
) -> None:
    cars = [vin(1), vin(2)]
    root = settings.mqtt_topic_root
    published = metric("journeygate_bridge_acks_published_total")
    skipped = metric("journeygate_bridge_acks_skipped_total")

    async def scenario(d: Device) -> None:
        async with running_bridge(settings):
            await produce_acks(
                settings,
                [  # one record: the highest of a vehicle's boot goes out, once
                    encode_ack_lines([(cars[0], "b1", 3), (cars[1], "x", 0)])
                    + b"\nnot-a-vin 9 b1\n"
                    + encode_ack_lines([(cars[0], "b1", 4)])
                ],
            )
            await wait_until(lambda: len(d.got()) >= 2, "the acknowledgements", timeout_s=30)
        # restarted, the relay resumes after what it committed: only the new one goes out
        async with running_bridge(settings):
            await produce_acks(settings, [encode_ack_lines([(cars[0], "b1", 5)])])
            await wait_until(lambda: len(d.got()) >= 3, "the next acknowledgement", timeout_s=30)
            await asyncio.sleep(1.0)  # room for anything published again by mistake

    with device(settings) as d:
        asyncio.run(scenario(d))
        got = d.got()
    assert sorted(got[:2]) == sorted(
        [
            (f"{root}/{cars[0]}/ack", encode_ack("b1", 4)),
            (f"{root}/{cars[1]}/ack", encode_ack("x", 0)),
        ]
    )
    assert got[2:] == [(f"{root}/{cars[0]}/ack", encode_ack("b1", 5))]
    assert metric("journeygate_bridge_acks_published_total") - published == 3
    assert metric("journeygate_bridge_acks_skipped_total") - skipped == 1


def test_the_relay_can_be_turned_off(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(bridge_ack_relay=False)
    car = vin(3)

    async def scenario(d: Device) -> None:
        async with running_bridge(settings):
            await produce_acks(settings, [encode_ack_lines([(car, "b", 1)])])
            started = time.monotonic()
            while time.monotonic() - started < 4.0:  # the relay, on, takes about 2 s
                await asyncio.sleep(0.1)
                assert not d.got()
            assert metric("journeygate_bridge_ack_relay_connected") == 0.0

    with device(settings) as d:
        asyncio.run(scenario(d))
