"""The bridge's buffered socket hands paho the bytes of one large read, as the socket would,
and writes what one ``loop_write`` sends in as few ``send`` calls as the socket takes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.client import MQTTv311
from paho.mqtt.enums import CallbackAPIVersion

from ingest.mqtt_client import READ_CHUNK_BYTES, BufferedClient, BufferedSocket


class ScriptedSocket:
    """Stands in for a non-blocking socket: each ``recv`` returns the next scripted chunk,
    ``None`` meaning nothing is available now."""

    def __init__(self, chunks: list[bytes | None], send_sizes: list[int | None] | None = None):
        self.chunks = chunks
        self.recv_calls = 0
        self.sent: list[bytes] = []
        self.send_sizes = send_sizes or []
        self.closed = False
        self.timeout: float | None = None

    def recv(self, size: int) -> bytes:
        self.recv_calls += 1
        assert size == READ_CHUNK_BYTES
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if chunk is None:
            raise BlockingIOError
        return chunk

    def send(self, buffer: bytes | bytearray) -> int:
        """Takes the next scripted number of bytes (all when unscripted); None: would block."""
        size = self.send_sizes.pop(0) if self.send_sizes else len(buffer)
        if size is None:
            raise BlockingIOError
        self.sent.append(bytes(buffer[:size]))
        return min(size, len(buffer))

    def sendall(self, buffer: bytes) -> None:
        self.sent.append(buffer)

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def close(self) -> None:
        self.closed = True

    def fileno(self) -> int:
        return 7

    def setblocking(self, flag: bool) -> None: ...


@given(st.lists(st.binary(min_size=1, max_size=50), max_size=6), st.integers(1, 9))
def test_small_reads_return_the_stream_in_order_with_one_recv_per_chunk(
    chunks: list[bytes], size: int
) -> None:
    sock = ScriptedSocket(list(chunks))
    buffer = BufferedSocket(sock)
    out = b""
    while piece := buffer.recv(size):
        assert len(piece) <= size
        out += piece
    assert out == b"".join(chunks)
    assert sock.recv_calls == len(chunks) + 1


def test_nothing_to_read_raises_and_says_so_then_reading_resumes() -> None:
    buffer = BufferedSocket(ScriptedSocket([b"abc", None, b"d"]))
    assert buffer.recv(2) == b"ab"
    assert buffer.buffered == 1 and not buffer.would_block
    assert buffer.recv(2) == b"c"
    with pytest.raises(BlockingIOError):
        buffer.recv(2)
    assert buffer.would_block and buffer.buffered == 0
    assert buffer.recv(2) == b"d"
    assert not buffer.would_block


def test_the_rest_of_the_socket_is_passed_through() -> None:
    buffer = BufferedSocket(ScriptedSocket([]))
    assert buffer.fileno() == 7
    assert buffer.send(b"xyz") == 3
    assert buffer.recv(1) == b""


def test_uncorked_sends_go_straight_to_the_socket() -> None:
    sock = ScriptedSocket([])
    buffer = BufferedSocket(sock)
    assert buffer.send(b"ab") == 2
    assert sock.sent == [b"ab"] and buffer.unsent == 0


def test_corked_sends_leave_in_one_system_call_in_order() -> None:
    sock = ScriptedSocket([])
    buffer = BufferedSocket(sock)
    buffer.cork()
    for n in range(100):
        assert buffer.send(b"\x40\x02%c%c" % (n >> 8, n & 0xFF)) == 4
    assert sock.sent == [] and buffer.unsent == 400
    assert buffer.flush()
    assert sock.sent == [b"".join(b"\x40\x02%c%c" % (n >> 8, n & 0xFF) for n in range(100))]
    assert buffer.unsent == 0


def test_what_the_socket_does_not_take_waits_and_later_sends_queue_behind_it() -> None:
    sock = ScriptedSocket([], send_sizes=[3, None, 10])
    buffer = BufferedSocket(sock)
    buffer.cork()
    buffer.send(b"abcdef")
    assert not buffer.flush()  # took "abc", then would block
    assert buffer.unsent == 3
    assert buffer.send(b"gh") == 2  # not corked, but must not overtake "def"
    assert sock.sent == [b"abc"]
    assert buffer.flush()
    assert b"".join(sock.sent) == b"abcdefgh"


def test_close_first_writes_what_is_left() -> None:
    sock = ScriptedSocket([], send_sizes=[None])
    buffer = BufferedSocket(sock)
    buffer.cork()
    buffer.send(b"\xe0\x00")  # a DISCONNECT
    assert not buffer.flush()
    buffer.close()
    assert sock.sent == [b"\xe0\x00"] and sock.closed and sock.timeout is not None


def _client(sock: ScriptedSocket) -> BufferedClient:
    client = BufferedClient(
        CallbackAPIVersion.VERSION2,
        client_id="bridge-test",
        protocol=MQTTv311,
        clean_session=False,
        manual_ack=True,
    )
    client._sock = BufferedSocket(sock)  # as if connected through it
    return client


def test_one_loop_write_sends_a_batch_of_pubacks_at_once_in_order() -> None:
    sock = ScriptedSocket([])
    client = _client(sock)
    writes: list[str] = []
    client.on_socket_register_write = lambda *_: writes.append("register")
    client.on_socket_unregister_write = lambda *_: writes.append("unregister")
    for mid in range(1, 301):
        client.ack(mid, 1)
    assert sock.sent == []
    client.loop_write()
    assert sock.sent == [b"".join(b"\x40\x02" + mid.to_bytes(2, "big") for mid in range(1, 301))]
    assert not client.want_write() and writes == ["register", "unregister"]


def test_a_write_the_socket_defers_keeps_the_client_wanting_to_write() -> None:
    sock = ScriptedSocket([], send_sizes=[None, 100])
    client = _client(sock)
    client.on_socket_register_write = lambda *_: None
    client.on_socket_unregister_write = lambda *_: None
    client.ack(7, 1)
    client.loop_write()
    assert client.want_write() and sock.sent == []
    client.loop_write()
    assert sock.sent == [b"\x40\x02\x00\x07"] and not client.want_write()


def test_a_publish_goes_straight_to_on_message() -> None:
    topic, payload = b"vehicles/WJGBNCH05RA012345/telemetry", b'{"v":1}'
    body = len(topic).to_bytes(2, "big") + topic + b"\x00\x2a" + payload
    sock = ScriptedSocket([b"\x32" + bytes([len(body)]) + body])
    client = _client(sock)
    got: list[tuple[str, int, int, bytes]] = []
    client.on_message = lambda _c, _u, m: got.append((m.topic, m.mid, m.qos, m.payload))
    client.loop_read()
    assert got == [(topic.decode(), 42, 1, payload)]
