"""The bridge's paho client: broker address, persistent session, manual acks.

The client id is fixed and the session persistent (``clean_session=False`` on MQTT 3.1.1,
``clean_start=False`` plus a session expiry on MQTT 5), and acks are manual: a message not acked
before a connection ends is redelivered by the broker on the next connection with this id.

paho reads each packet with several tiny ``recv`` calls (the type byte, each byte of the length,
the body): three or more system calls per message. The bridge's client reads its socket through
a :class:`ReadBuffer`, which takes up to 64 KiB per system call and serves those reads from
memory.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from paho.mqtt.client import Client, MQTTv5, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from journeygate.mqtt import MqttTarget
from journeygate.settings import Settings

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 5.0
READ_CHUNK_BYTES = 64 * 1024


class ReadBuffer:
    """A socket (plain or TLS) whose reads are served from one large ``recv`` at a time.

    ``recv`` behaves as the socket's would: it returns at most ``size`` bytes, ``b""`` at the
    end of the stream, and raises what the socket raises when nothing can be read now (then
    :attr:`would_block` is true). :attr:`buffered` bytes are already read but not yet consumed:
    the socket may not become readable again for them, so whoever drives the reads must keep
    reading while there are any.
    """

    def __init__(self, sock: SocketLike) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0
        self.would_block = False

    @property
    def buffered(self) -> int:
        return len(self._data) - self._pos

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._data):
            try:
                data = self._sock.recv(READ_CHUNK_BYTES)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                self.would_block = True
                raise
            self.would_block = False
            if not data:
                return b""
            self._data, self._pos = data, 0
        start = self._pos
        self._pos = min(start + size, len(self._data))
        return self._data[start : self._pos]

    def send(self, buffer: bytes | bytearray) -> int:
        return self._sock.send(buffer)

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def pending(self) -> int:
        """Bytes readable without waiting (paho asks this of TLS sockets)."""
        inner: Any = self._sock
        return self.buffered + (inner.pending() if hasattr(inner, "pending") else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(Client):
    """paho's client, reading its socket through a :class:`ReadBuffer` (:attr:`read_buffer`)."""

    read_buffer: ReadBuffer | None = None

    def _create_socket(self) -> SocketLike:
        self.read_buffer = ReadBuffer(super()._create_socket())
        return self.read_buffer


def make_client(settings: Settings, target: MqttTarget) -> BufferedClient:
    """A client for ``settings.bridge_id`` with a persistent session and manual acks."""
    if settings.mqtt_protocol == "5":
        client = BufferedClient(
            CallbackAPIVersion.VERSION2, client_id=settings.bridge_id, protocol=MQTTv5,
            manual_ack=True,
        )
    else:
        client = BufferedClient(
            CallbackAPIVersion.VERSION2, client_id=settings.bridge_id, protocol=MQTTv311,
            clean_session=False, manual_ack=True,
        )
    client.connect_timeout = CONNECT_TIMEOUT_S
    target.configure(client)
    return client


def connect_blocking(client: Client, target: MqttTarget, settings: Settings) -> None:
    """Open the socket and send CONNECT (blocking; raises OSError when the broker is unreachable).

    The CONNACK arrives later, through the client's ``on_connect``.
    """
    if settings.mqtt_protocol == "5":
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = settings.bridge_session_expiry_s
        rc = client.connect(
            target.host, target.port, KEEPALIVE_S, clean_start=False, properties=props
        )
    else:
        rc = client.connect(target.host, target.port, KEEPALIVE_S)
    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        raise OSError(f"sending CONNECT failed: {rc.name}")
