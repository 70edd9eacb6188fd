"""The feeder's MQTT packets: encodings checked against paho's decoding and the MQTT spec."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journeygate.bench import mqttwire as w


@given(st.integers(min_value=0, max_value=268_435_455))
def test_remaining_length_round_trips(n: int) -> None:
    encoded = w.remaining_length(n)
    assert 1 <= len(encoded) <= 4
    packets, rest = w.split_packets(bytes([w.PUBACK]) + encoded + bytes(min(n, 64)))
    if n <= 64:
        assert packets == [(w.PUBACK, bytes(n))] and rest == b""
    else:
        assert packets == [] and rest.startswith(bytes([w.PUBACK]))


def test_remaining_length_refuses_what_mqtt_cannot_carry() -> None:
    with pytest.raises(ValueError):
        w.remaining_length(268_435_456)


@given(
    st.text(min_size=1, max_size=80).map(str.encode),
    st.integers(min_value=1, max_value=65_535),
    st.binary(max_size=2000),
)
def test_a_qos1_publish_carries_topic_packet_id_and_payload(
    topic: bytes, packet_id: int, payload: bytes
) -> None:
    packets, rest = w.split_packets(w.publish_qos1(topic, packet_id, payload) + b"\x40")
    assert rest == b"\x40"
    [(kind, body)] = packets
    assert kind == w.PUBLISH_QOS1
    (size,) = struct.unpack_from("!H", body)
    assert body[2 : 2 + size] == topic
    assert struct.unpack_from("!H", body, 2 + size) == (packet_id,)
    assert body[4 + size :] == payload


@given(st.lists(st.integers(min_value=1, max_value=65_535), max_size=50), st.integers(1, 7))
def test_pubacks_split_however_the_stream_is_cut(ids: list[int], cut: int) -> None:
    stream = b"".join(bytes([w.PUBACK, 2]) + struct.pack("!H", i) for i in ids)
    got: list[int] = []
    buffer = b""
    for start in range(0, len(stream), cut):
        packets, buffer = w.split_packets(buffer + stream[start : start + cut])
        got += [struct.unpack("!H", body)[0] for kind, body in packets if kind == w.PUBACK]
    assert got == ids and buffer == b""


def test_connect_sets_the_session_flag_and_credentials() -> None:
    persistent = w.connect("bridge-1", clean_session=False, keepalive_s=60, username="u")
    [(kind, body)] = w.split_packets(persistent)[0]
    assert kind == w.CONNECT
    assert body[:7] == b"\x00\x04MQTT\x04"
    flags = body[7]
    assert flags & 0x02 == 0 and flags & 0x80
    assert struct.unpack_from("!H", body, 8) == (60,)
    clean = w.split_packets(w.connect("x", clean_session=True, keepalive_s=5))[0][0][1]
    assert clean[7] == 0x02


def test_connack_accepts_only_return_code_zero() -> None:
    assert w.connack_ok(b"\x00\x00")
    assert not w.connack_ok(b"\x00\x05")
