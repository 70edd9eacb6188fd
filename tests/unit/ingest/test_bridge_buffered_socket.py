"""The bridge's read buffer hands paho the bytes of one large read, as the socket would."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.mqtt_client import READ_CHUNK_BYTES, ReadBuffer


class ScriptedSocket:
    """Stands in for a non-blocking socket: each ``recv`` returns the next scripted chunk,
    ``None`` meaning nothing is available now."""

    def __init__(self, chunks: list[bytes | None]) -> None:
        self.chunks = chunks
        self.recv_calls = 0

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
        return len(buffer)

    def close(self) -> None: ...

    def fileno(self) -> int:
        return 7

    def setblocking(self, flag: bool) -> None: ...


@given(st.lists(st.binary(min_size=1, max_size=50), max_size=6), st.integers(1, 9))
def test_small_reads_return_the_stream_in_order_with_one_recv_per_chunk(
    chunks: list[bytes], size: int
) -> None:
    sock = ScriptedSocket(list(chunks))
    buffer = ReadBuffer(sock)
    out = b""
    while piece := buffer.recv(size):
        assert len(piece) <= size
        out += piece
    assert out == b"".join(chunks)
    assert sock.recv_calls == len(chunks) + 1


def test_nothing_to_read_raises_and_says_so_then_reading_resumes() -> None:
    buffer = ReadBuffer(ScriptedSocket([b"abc", None, b"d"]))
    assert buffer.recv(2) == b"ab"
    assert buffer.buffered == 1 and not buffer.would_block
    assert buffer.recv(2) == b"c"
    with pytest.raises(BlockingIOError):
        buffer.recv(2)
    assert buffer.would_block and buffer.buffered == 0
    assert buffer.recv(2) == b"d"
    assert not buffer.would_block


def test_the_rest_of_the_socket_is_passed_through() -> None:
    buffer = ReadBuffer(ScriptedSocket([]))
    assert buffer.fileno() == 7
    assert buffer.send(b"xyz") == 3
    assert buffer.recv(1) == b""
