"""The few MQTT 3.1.1 packets the benchmark's feeder writes and reads, as bytes. Pure.

A feeder that writes pre-encoded PUBLISH packets costs a few microseconds per message, so the
devices' side of a benchmark takes little of the CPU that the measured processes share.
"""

from __future__ import annotations

import struct

CONNECT = 0x10
CONNACK = 0x20
PUBLISH_QOS1 = 0x32
PUBACK = 0x40
SUBSCRIBE = 0x82
SUBACK = 0x90
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0
MAX_PACKET_ID = 0xFFFF
_CLEAN_SESSION = 0x02
_USERNAME = 0x80
_PASSWORD = 0x40


class ProtocolError(ValueError):
    """The broker sent something the feeder does not expect."""


def remaining_length(n: int) -> bytes:
    """MQTT's variable-length encoding of a packet's remaining length."""
    if not 0 <= n < 268_435_456:
        raise ValueError("remaining length out of range")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def connect(
    client_id: str,
    *,
    clean_session: bool,
    keepalive_s: int,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    flags = _CLEAN_SESSION if clean_session else 0
    body = _string(client_id.encode())
    if username is not None:
        flags |= _USERNAME
        body += _string(username.encode())
        if password is not None:
            flags |= _PASSWORD
            body += _string(password.encode())
    header = _string(b"MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s)
    variable = header + body
    return bytes([CONNECT]) + remaining_length(len(variable)) + variable


def publish_qos1(topic: bytes, packet_id: int, payload: bytes) -> bytes:
    size = 2 + len(topic) + 2 + len(payload)
    return b"".join(
        (
            bytes([PUBLISH_QOS1]),
            remaining_length(size),
            struct.pack("!H", len(topic)),
            topic,
            struct.pack("!H", packet_id),
            payload,
        )
    )


def subscribe(packet_id: int, topic_filter: str, qos: int = 1) -> bytes:
    body = struct.pack("!H", packet_id) + _string(topic_filter.encode()) + bytes([qos])
    return bytes([SUBSCRIBE]) + remaining_length(len(body)) + body


def pingreq() -> bytes:
    return bytes([PINGREQ, 0])


def disconnect() -> bytes:
    return bytes([DISCONNECT, 0])


def split_packets(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Complete packets at the start of ``buffer`` as (type byte, body), and the rest."""
    packets: list[tuple[int, bytes]] = []
    pos, size = 0, len(buffer)
    while pos + 2 <= size:
        length, shift, i = 0, 0, pos + 1
        while True:
            if i >= size:
                return packets, buffer[pos:]
            digit = buffer[i]
            length |= (digit & 0x7F) << shift
            i += 1
            if not digit & 0x80:
                break
            shift += 7
            if shift > 21:
                raise ProtocolError("malformed remaining length")
        end = i + length
        if end > size:
            break
        packets.append((buffer[pos], buffer[i:end]))
        pos = end
    return packets, buffer[pos:]


def connack_ok(body: bytes) -> bool:
    """Whether a CONNACK body accepts the connection."""
    return len(body) == 2 and body[1] == 0
