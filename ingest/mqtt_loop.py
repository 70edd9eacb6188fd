"""One MQTT connection driven by the asyncio event loop, with no paho network thread.

The socket is watched with ``loop.add_reader``/``add_writer``, which call paho's ``loop_read`` and
``loop_write``; a task calls ``loop_misc`` every second for keepalives (paho's external-loop
pattern). Only the TCP/TLS connect runs in a worker thread: it blocks (name lookup, handshake) and
would stall Kafka I/O on the loop; nothing else touches the client while it runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.logic import Inbound, subscription_filter
from ingest.mqtt_client import connect_blocking, make_client
from kernel.errors import InfrastructureError
from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

# Packets read per readiness callback: larger batches for the forwarder, bounded loop latency.
READS_PER_WAKEUP = 256


class MqttUnavailable(InfrastructureError):
    """The broker could not be reached, or refused the connection or the subscription."""


class MqttLink:
    """A persistent-session QoS 1 subscription whose messages go to ``on_message``; or, given a
    ``client_id`` of its own, a clean-session connection that only publishes (:meth:`publish`).

    ``closed`` resolves (with a reason) when the connection ends; it carries the exception if a
    callback failed unexpectedly, so the owner crashes instead of losing the error.
    """

    def __init__(
        self,
        settings: Settings,
        on_message: Callable[[Inbound], None],
        *,
        client_id: str | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.target = parse_mqtt_url(settings.mqtt_url)
        self._subscriber = client_id is None
        self.topic_filter = (
            subscription_filter(settings.mqtt_topic_root, settings.bridge_share_group)
            if self._subscriber
            else ""
        )
        self._settings = settings
        self._handler = on_message
        self._paused = False
        self._session_present = False
        self._ready: asyncio.Future[bool] = self._loop.create_future()
        self.closed: asyncio.Future[str] = self._loop.create_future()
        self._misc: asyncio.Task[None] | None = None
        self._unconfirmed: dict[int, asyncio.Future[None]] = {}
        self._received_s, self._ingest_ts_ms = time.monotonic(), time.time_ns() // 1_000_000
        client = self._client = make_client(settings, self.target, client_id)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish

    async def open(self, timeout_s: float) -> bool:
        """Connect and subscribe; True if the broker still had this client's session."""
        try:
            await asyncio.to_thread(
                connect_blocking,
                self._client,
                self.target,
                self._settings,
                persistent=self._subscriber,
            )
        except OSError as exc:
            raise MqttUnavailable(str(exc) or type(exc).__name__) from exc
        self._attach()
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), timeout_s)
        except TimeoutError:
            await self.close()
            raise MqttUnavailable(f"no CONNACK/SUBACK within {timeout_s:g} s") from None
        except BaseException:
            await self.close()
            raise

    def _attach(self) -> None:
        client = self._client
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        sock = client.socket()
        if sock is None:
            raise MqttUnavailable("the connection closed during CONNECT")
        self._loop.add_reader(sock, self._on_readable)
        if client.want_write():
            self._loop.add_writer(sock, self._on_writable)
        self._misc = self._loop.create_task(self._misc_loop())

    def ack(self, mid: int, qos: int) -> None:
        """Queue the PUBACK of message ``mid``; it is written when the socket is writable."""
        self._client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        """Publish at QoS 1; the future resolves at the broker's PUBACK (and fails with
        :class:`MqttUnavailable` if the connection ends first)."""
        done: asyncio.Future[None] = self._loop.create_future()
        if self.closed.done():
            done.set_exception(MqttUnavailable("the connection is closed"))
            return done
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            done.set_exception(MqttUnavailable(f"publishing failed: {info.rc.name}"))
        elif info.is_published():
            done.set_result(None)
        else:
            self._unconfirmed[info.mid] = done
        return done

    def pause_reading(self) -> None:
        self._paused = True
        sock = self._client.socket()
        if sock is not None:
            self._loop.remove_reader(sock)

    async def close(self, timeout_s: float = 2.0) -> None:
        """Send DISCONNECT (the broker keeps the session and the unacked messages), then let go."""
        if self._misc is not None:
            self._misc.cancel()
        if self._client.socket() is not None and self._client.is_connected():
            self._client.disconnect()
            await asyncio.wait([self.closed], timeout=timeout_s)
        sock = self._client.socket()
        if sock is not None:
            self._on_socket_close(self._client, None, sock)
            sock.close()
        if not self.closed.done():
            self.closed.set_result("closed by the bridge")
        if self._ready.done() and not self._ready.cancelled():
            self._ready.exception()  # retrieved: open() already reported it
        self._fail_unconfirmed("the connection closed")

    # --- paho callbacks, all called on the event loop ------------------------------------

    def _on_readable(self) -> None:
        """Read packets until the socket and the read buffer are empty (at most
        :data:`READS_PER_WAKEUP`; then the rest is read on the next turn of the loop)."""
        buffer = self._client.buffered_socket
        if self._paused:
            return
        # One time stamp per wakeup: the packets of one wakeup arrive within a few milliseconds.
        self._received_s, self._ingest_ts_ms = time.monotonic(), time.time_ns() // 1_000_000
        try:
            for _ in range(READS_PER_WAKEUP):
                rc = self._client.loop_read()
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or buffer is None:
                    return
                if not buffer.buffered and buffer.would_block:
                    return
            if buffer is not None and buffer.buffered and not self.closed.done():
                self._loop.call_soon(self._on_readable)
        except Exception as exc:  # noqa: BLE001 - re-raised by the task awaiting this link
            self._fail(exc)

    def _on_writable(self) -> None:
        try:
            self._client.loop_write()
        except Exception as exc:  # noqa: BLE001 - re-raised by the task awaiting this link
            self._fail(exc)

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                rc = self._client.loop_misc()
            except Exception as exc:  # noqa: BLE001 - re-raised by the task awaiting this link
                self._fail(exc)
                return
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return

    def _fail(self, exc: BaseException) -> None:
        self.pause_reading()
        for fut in (self._ready, self.closed):
            if not fut.done():
                fut.set_exception(exc)
        self._fail_unconfirmed(f"the connection failed: {exc!r}")

    def _fail_unconfirmed(self, why: str) -> None:
        unconfirmed, self._unconfirmed = self._unconfirmed, {}
        for fut in unconfirmed.values():
            if not fut.done():
                fut.set_exception(MqttUnavailable(why))
                fut.exception()  # retrieved here too: an owner that gave up need not

    def _on_connect(
        self, client: Client, _u: Any, flags: ConnectFlags, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            self._refuse(f"connection refused: {reason}")
            return
        self._session_present = flags.session_present
        if not self._subscriber:
            if not self._ready.done():
                self._ready.set_result(self._session_present)
            return
        if self._settings.mqtt_protocol == "5":
            # A retained publish reaches the bridge once, live; not again at each subscription.
            options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
            client.subscribe(self.topic_filter, options=options)
        else:
            client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(
        self, _c: Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        refused = [str(code) for code in reasons if code.is_failure]
        if refused:
            self._refuse(f"subscription to {self.topic_filter} refused: {', '.join(refused)}")
        elif not self._ready.done():
            self._ready.set_result(self._session_present)

    def _on_message(self, _c: Client, _u: Any, message: MQTTMessage) -> None:
        self._handler(
            Inbound(
                message.mid,
                message.qos,
                _topic_of(message),
                bytes(message.payload),
                self._received_s,
                self._ingest_ts_ms,
            )
        )

    def _on_publish(self, _c: Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        done = self._unconfirmed.pop(mid, None)
        if done is None or done.done():
            return
        if reason.is_failure:
            done.set_exception(MqttUnavailable(f"the broker refused a publish: {reason}"))
        else:
            done.set_result(None)

    def _on_disconnect(
        self, _c: Client, _u: Any, _f: DisconnectFlags, reason: ReasonCode, _p: Any
    ) -> None:
        text = f"disconnected: {reason}"
        self._refuse(text)
        if not self.closed.done():
            self.closed.set_result(text)
        self._fail_unconfirmed(text)

    def _refuse(self, text: str) -> None:
        if not self._ready.done():
            self._ready.set_exception(MqttUnavailable(text))

    def _on_socket_close(self, _c: Client, _u: Any, sock: SocketLike) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _on_register_write(self, _c: Client, _u: Any, sock: SocketLike) -> None:
        self._loop.add_writer(sock, self._on_writable)

    def _on_unregister_write(self, _c: Client, _u: Any, sock: SocketLike) -> None:
        self._loop.remove_writer(sock)


def _topic_of(message: MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:
        # Not valid UTF-8: keep it readable so it can be dead-lettered as a bad topic.
        return bytes(message._topic).decode("utf-8", "backslashreplace")
