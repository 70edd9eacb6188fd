"""QoS 1 publishing over a few MQTT connections with a bounded window of unacknowledged messages.

paho-mqtt tracks at most 65,535 message ids per client and fails beyond; the broker, too, should
not be flooded. :meth:`Publisher.publish` therefore blocks while ``max_inflight`` publishes
(across all connections) wait for their PUBACK, and :meth:`Publisher.drain` waits for the last
ones before a clean disconnect. A topic always goes through the same connection, so one
vehicle's messages reach the broker in order: either one of a few shared connections (by hash
of the topic) or, with ``dedicated_topics``, a connection of its own per topic, as a fleet of
real devices would connect.

With ``downlink_root``, each connection also subscribes (QoS 1) to the acknowledgements of its
vehicles (``{root}/{VIN}/ack`` on a dedicated connection, ``{root}/+/ack`` on a shared one) at
every connect, hands each one to ``on_downlink(topic, payload)`` and tells ``on_reconnect`` the
index of a connection that came back after a loss (its devices send their unconfirmed messages
again: :mod:`simulator.publishing.outbox`).
"""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kernel.acks import ACK_LEAF, ack_subscription
from kernel.errors import InfrastructureError
from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings

KEEPALIVE_S = 60
WAIT_SLICE_S = 0.25


def connection_for(topic: str, connections: int) -> int:
    """The connection index a topic always uses."""
    return zlib.crc32(topic.encode()) % connections


class Publisher:
    """Publishes QoS 1 messages; use as a context manager (connects on enter, closes on exit)."""

    def __init__(
        self,
        settings: Settings,
        *,
        connections: int,
        max_inflight: int,
        connect_timeout_s: float = 10.0,
        ack_timeout_s: float = 60.0,
        dedicated_topics: Sequence[str] = (),
        downlink_root: str | None = None,
        on_downlink: Callable[[str, bytes], None] | None = None,
        on_reconnect: Callable[[int], None] | None = None,
    ) -> None:
        self._route = {topic: i for i, topic in enumerate(dedicated_topics)} or None
        self._downlink: list[str] = []
        if downlink_root is not None:
            self._downlink = [ack_subscription(downlink_root)] * connections
            if dedicated_topics:
                self._downlink = [t.rsplit("/", 1)[0] + f"/{ACK_LEAF}" for t in dedicated_topics]
        self._on_downlink = on_downlink
        self._on_reconnect = on_reconnect
        if self._route is not None:
            connections = len(self._route)
        self.broker = parse_mqtt_url(settings.mqtt_url)
        self.address = f"{self.broker.host}:{self.broker.port}"
        self.protocol = mqtt.MQTTv5 if settings.mqtt_protocol == "5" else mqtt.MQTTv311
        self.max_inflight = max_inflight
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.published = 0
        self.acknowledged = 0
        self.rejected = 0
        self.rejected_reasons: Counter[str] = Counter()
        """Publishes the broker refused (MQTT 5 PUBACK reason code 0x80 or above), by reason."""
        self._cond = threading.Condition()
        self._connected = [threading.Event() for _ in range(connections)]
        # Per connection: publishes awaiting their PUBACK, and how many the broker accepts.
        self._pending = [0] * connections
        self._limit = [max_inflight] * connections
        self._refused: ReasonCode | None = None
        self._ever_connected = [False] * connections
        tag = uuid.uuid4().hex[:8]
        self._clients = [self._client(f"journeygate-sim-{tag}-{i}", i) for i in range(connections)]

    @property
    def connections(self) -> int:
        return len(self._clients)

    @property
    def outstanding(self) -> int:
        return self.published - self.acknowledged - self.rejected

    def _client(self, client_id: str, index: int) -> mqtt.Client:
        kwargs: dict[str, Any] = {"clean_session": True} if self.protocol == mqtt.MQTTv311 else {}
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=self.protocol, **kwargs
        )
        self.broker.configure(client)
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = lambda c, u, flags, rc, props: self._on_connect(index, rc, props)
        client.on_disconnect = lambda c, u, flags, rc, props: self._connected[index].clear()
        client.on_publish = lambda c, u, mid, rc, props: self._on_publish(index, rc)
        client.on_message = lambda c, u, msg: self._message(msg)
        return client

    def _message(self, msg: mqtt.MQTTMessage) -> None:
        if self._on_downlink is not None:
            self._on_downlink(msg.topic, bytes(msg.payload))

    def connection_of(self, topic: str) -> int:
        """The index of the connection ``topic`` is published on."""
        if self._route is not None:
            return self._route[topic]
        return connection_for(topic, len(self._clients))

    def _on_connect(self, index: int, reason: ReasonCode, props: Properties | None) -> None:
        with self._cond:
            if reason.is_failure:
                self._refused = reason
            else:
                # MQTT 5: never have more QoS 1 publishes in flight than the broker receives.
                receive_maximum = getattr(props, "ReceiveMaximum", None)
                if isinstance(receive_maximum, int) and receive_maximum > 0:
                    self._limit[index] = min(self.max_inflight, receive_maximum)
                if self._downlink:
                    self._clients[index].subscribe(self._downlink[index], qos=1)
                again = self._ever_connected[index]
                self._ever_connected[index] = True
                self._connected[index].set()
                if again and self._on_reconnect is not None:
                    self._on_reconnect(index)
            self._cond.notify_all()

    def _on_publish(self, index: int, reason: ReasonCode) -> None:
        with self._cond:
            self._pending[index] -= 1
            if reason.is_failure:
                self.rejected += 1
                self.rejected_reasons[str(reason)] += 1
            else:
                self.acknowledged += 1
            self._cond.notify_all()

    def __enter__(self) -> Publisher:
        try:
            for client in self._clients:
                client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
                client.loop_start()
        except OSError as exc:
            self.close()
            raise InfrastructureError(f"cannot reach MQTT broker {self.address}: {exc}") from exc
        deadline = time.monotonic() + self.connect_timeout_s
        with self._cond:
            while self._refused is None and not all(e.is_set() for e in self._connected):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(WAIT_SLICE_S, remaining))
        if self._refused is not None or not all(e.is_set() for e in self._connected):
            why = f"refused: {self._refused}" if self._refused is not None else "no CONNACK"
            self.close()
            raise InfrastructureError(f"MQTT broker {self.address} {why}", retriable=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def publish(self, topic: str, payload: bytes, stop: threading.Event) -> bool:
        """Publish at QoS 1 once the window has room; False if ``stop`` was set while waiting.

        Raises :class:`InfrastructureError` when no PUBACK arrives for ``ack_timeout_s``.
        """
        index = self.connection_of(topic)

        def room() -> bool:
            connection_has_room = self._pending[index] < self._limit[index]
            return connection_has_room and self.outstanding < self.max_inflight

        if not self._wait(room, stop, self.ack_timeout_s):
            return False
        with self._cond:
            self.published += 1
            self._pending[index] += 1
        info = self._clients[index].publish(topic, payload, qos=1)
        # NO_CONN: paho keeps the QoS 1 message and sends it once it has reconnected.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise InfrastructureError(f"MQTT publish to {self.address} failed: {info.rc.name}")
        return True

    def drain(self, timeout_s: float) -> bool:
        """Wait until every publish is acknowledged (or rejected); False on timeout."""
        return self._wait(lambda: self.outstanding == 0, None, timeout_s, fail=False)

    def _wait(
        self,
        ready: Callable[[], bool],
        stop: threading.Event | None,
        timeout_s: float,
        *,
        fail: bool = True,
    ) -> bool:
        """Wait for ``ready()``; the timeout restarts whenever an acknowledgement arrives."""
        with self._cond:
            progress = self.acknowledged + self.rejected
            deadline = time.monotonic() + timeout_s
            while not ready():
                if stop is not None and stop.is_set():
                    return False
                now = time.monotonic()
                if self.acknowledged + self.rejected != progress:
                    progress, deadline = self.acknowledged + self.rejected, now + timeout_s
                elif now >= deadline:
                    if not fail:
                        return False
                    raise InfrastructureError(
                        f"no PUBACK from MQTT broker {self.address} for {timeout_s:g} s"
                        f" ({self.outstanding} publishes unacknowledged)"
                    )
                self._cond.wait(min(WAIT_SLICE_S, deadline - now))
        return True

    def close(self) -> None:
        """Disconnect every connection (call :meth:`drain` first for a clean end)."""
        for client in self._clients:
            client.disconnect()
            client.loop_stop()
