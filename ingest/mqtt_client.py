"""The bridge's paho client: broker address, persistent session, manual acks.

The client id is fixed and the session persistent (``clean_session=False`` on MQTT 3.1.1,
``clean_start=False`` plus a session expiry on MQTT 5), and acks are manual: a message not acked
before a connection ends is redelivered by the broker on the next connection with this id.

paho reads each packet with several tiny ``recv`` calls (the type byte, each byte of the length,
the body) and writes each packet with its own ``send``: a system call or more per message each
way. The bridge's client goes through a :class:`BufferedSocket`, which reads up to 64 KiB per
system call and serves paho's reads from memory, and which gathers the packets paho writes in
one ``loop_write`` (a batch of PUBACKs) into one ``send``.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import TYPE_CHECKING, Any

from paho.mqtt.client import Client, MQTTMessage, MQTTv5, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kernel.mqtt import MqttTarget
from kernel.settings import Settings

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 5.0
READ_CHUNK_BYTES = 64 * 1024
CLOSE_FLUSH_TIMEOUT_S = 1.0


class BufferedSocket:
    """A socket (plain or TLS) read one large ``recv`` at a time and written one batch at a time.

    ``recv`` behaves as the socket's would: it returns at most ``size`` bytes, ``b""`` at the
    end of the stream, and raises what the socket raises when nothing can be read now (then
    :attr:`would_block` is true). :attr:`buffered` bytes are already read but not yet consumed:
    the socket may not become readable again for them, so whoever drives the reads must keep
    reading while there are any.

    Between :meth:`cork` and :meth:`flush`, ``send`` only appends to a buffer; :meth:`flush`
    writes it with as few system calls as the socket takes and keeps what it could not write
    (:attr:`unsent`) for the next flush. ``close`` first tries to write what is left, so that
    the last PUBACKs and a DISCONNECT reach the broker.
    """

    def __init__(self, sock: SocketLike) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0
        self._out = bytearray()
        self._corked = False
        self.would_block = False

    @property
    def buffered(self) -> int:
        return len(self._data) - self._pos

    @property
    def unsent(self) -> int:
        return len(self._out)

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
        if self._corked or self._out:  # behind unsent bytes: keep the order
            self._out += buffer
            return len(buffer)
        return self._sock.send(buffer)

    def cork(self) -> None:
        self._corked = True

    def flush(self) -> bool:
        """Stop gathering and write what was gathered; True when nothing is left unsent.

        Raises the socket's error when the connection is broken."""
        self._corked = False
        out = self._out
        while out:
            try:
                sent = self._sock.send(out)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return False
            del out[:sent]
        return True

    def close(self) -> None:
        if self._out:
            inner: Any = self._sock
            with contextlib.suppress(OSError):
                inner.settimeout(CLOSE_FLUSH_TIMEOUT_S)
                inner.sendall(bytes(self._out))
            self._out.clear()
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
    """paho's client on a :class:`BufferedSocket` (:attr:`buffered_socket`).

    Two departures from paho's own loop, both for cost per message: the packets one
    ``loop_write`` writes leave in one ``send``, and a message goes straight to ``on_message``
    (the bridge registers no per-topic callbacks, so paho's topic matcher is skipped).
    """

    buffered_socket: BufferedSocket | None = None

    def _create_socket(self) -> SocketLike:
        self.buffered_socket = BufferedSocket(super()._create_socket())
        return self.buffered_socket

    def want_write(self) -> bool:
        sock = self._sock
        return super().want_write() or (isinstance(sock, BufferedSocket) and sock.unsent > 0)

    def loop_write(self) -> MQTTErrorCode:
        sock = self._sock
        if not isinstance(sock, BufferedSocket):
            return super().loop_write()
        sock.cork()
        try:
            rc = super().loop_write()
        finally:
            try:
                done = sock.flush()
            except OSError:
                done, rc = True, self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if not done and self._sock is sock:
            self._call_socket_register_write()
        elif not self.want_write():
            self._call_socket_unregister_write()
        return rc

    def _handle_on_message(self, message: MQTTMessage) -> None:
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            on_message(self, self._userdata, message)


def make_client(
    settings: Settings, target: MqttTarget, client_id: str | None = None
) -> BufferedClient:
    """A client for ``settings.bridge_id`` with a persistent session and manual acks; or, with
    another ``client_id``, a publishing client with a clean session (nothing to resume: what it
    had not published is read again from Kafka)."""
    persistent = client_id is None
    name = settings.bridge_id if client_id is None else client_id
    if settings.mqtt_protocol == "5":
        client = BufferedClient(
            CallbackAPIVersion.VERSION2, client_id=name, protocol=MQTTv5, manual_ack=persistent
        )
    else:
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=name,
            protocol=MQTTv311,
            clean_session=not persistent,
            manual_ack=persistent,
        )
    if not persistent:
        # No window of paho's own: the caller bounds what is unacknowledged. paho walks every
        # unacknowledged message at each PUBACK while any waits for room in its window.
        client.max_inflight_messages_set(0)
    client.connect_timeout = CONNECT_TIMEOUT_S
    target.configure(client)
    return client


def connect_blocking(
    client: Client, target: MqttTarget, settings: Settings, *, persistent: bool = True
) -> None:
    """Open the socket and send CONNECT (blocking; raises OSError when the broker is unreachable).

    The CONNACK arrives later, through the client's ``on_connect``.
    """
    if settings.mqtt_protocol == "5":
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = settings.bridge_session_expiry_s if persistent else 0
        rc = client.connect(
            target.host, target.port, KEEPALIVE_S, clean_start=not persistent, properties=props
        )
    else:
        rc = client.connect(target.host, target.port, KEEPALIVE_S)
    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        raise OSError(f"sending CONNECT failed: {rc.name}")
