"""Routing decisions of the bridge: topic parsing, dead-letter records, URL parsing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.logic import (
    Inbound,
    RouteConfig,
    ack_publishes,
    parse_topic,
    route,
    subscription_filter,
)
from kernel import headers as h
from kernel.acks import encode_ack, encode_ack_lines
from kernel.deadletters import Reason
from kernel.errors import ConfigError, DataError
from kernel.kafka import Topics, header
from kernel.mqtt import parse_mqtt_url

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
vins = st.text(alphabet=VIN_ALPHABET, min_size=17, max_size=17)
roots = st.lists(
    st.text(
        alphabet=st.characters(blacklist_characters="/+#\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=12,
    ),
    min_size=1,
    max_size=3,
).map("/".join)
TOPICS = Topics(
    raw="p.telemetry.raw",
    dlq="p.telemetry.dlq",
    frames="f",
    signals="s",
    alerts="a",
    services="v",
    consent="c",
)
CFG = RouteConfig(mqtt_root="vehicles", bridge_id="bridge-7", max_payload_bytes=64, topics=TOPICS)
VIN = "WVWZZZ1JZXW000001"


def inbound(topic: str, payload: bytes = b'{"v":1}', mid: int = 5) -> Inbound:
    return Inbound(
        mid=mid, qos=1, topic=topic, payload=payload, received_s=1.0, ingest_ts_ms=1_700_000_000_123
    )


@given(root=roots, vin=vins)
def test_a_valid_vin_round_trips_through_its_topic(root: str, vin: str) -> None:
    assert parse_topic(root, f"{root}/{vin}/telemetry") == vin


@given(root=roots, vin=vins, data=st.data())
def test_a_malformed_topic_is_a_bad_topic(root: str, vin: str, data: st.DataObject) -> None:
    bad_slot = data.draw(
        st.one_of(
            st.text(alphabet=VIN_ALPHABET, max_size=30).filter(lambda s: len(s) != 17),
            st.builds(
                lambda i, c: vin[:i] + c + vin[i + 1 :],
                st.integers(0, 16),
                st.sampled_from("IOQabz-_ "),
            ),
        )
    )
    topic = data.draw(
        st.sampled_from(
            [
                f"{root}/{bad_slot}/telemetry",
                f"{root}/{vin}/telemetry/extra",
                f"{root}/{vin}/telemetr",
                f"{root}/{vin}",
                f"{root}x/{vin}/telemetry",
                f"{root}/{vin}/{vin}/telemetry",
                f"{vin}/telemetry",
            ]
        )
    )
    with pytest.raises(DataError) as caught:
        parse_topic(root, topic)
    assert caught.value.reason == Reason.BAD_TOPIC


def test_the_subscription_filter_uses_a_shared_group_when_given() -> None:
    assert subscription_filter("t1/vehicles") == "t1/vehicles/+/telemetry"
    assert subscription_filter("vehicles", "bridges") == "$share/bridges/vehicles/+/telemetry"
    with pytest.raises(ConfigError):
        subscription_filter("vehicles", "a/b")


def test_a_good_message_is_forwarded_unchanged_with_its_headers() -> None:
    payload = b'{"v":1,"boot_id":"b","seq":1}'
    out = route(inbound(f"vehicles/{VIN}/telemetry", payload), CFG)
    assert (out.topic, out.key, out.value, out.reason) == (TOPICS.raw, VIN.encode(), payload, None)
    assert out.timestamp_ms == 1_700_000_000_123
    assert out.headers == [
        (h.HEADER_MQTT_TOPIC, f"vehicles/{VIN}/telemetry".encode()),
        (h.HEADER_INGEST_TS_MS, b"1700000000123"),
        (h.HEADER_BRIDGE_ID, b"bridge-7"),
    ]


def test_a_payload_at_the_limit_is_forwarded_and_one_byte_more_is_oversize() -> None:
    topic = f"vehicles/{VIN}/telemetry"
    assert route(inbound(topic, b"x" * 64), CFG).topic == TOPICS.raw
    out = route(inbound(topic, b"y" * 65), CFG)
    assert (out.topic, out.key, out.reason) == (TOPICS.dlq, VIN.encode(), Reason.OVERSIZE)
    assert out.value == b"y" * 64
    assert header(out.headers, h.HEADER_DLQ_REASON) == b"oversize"
    detail = header(out.headers, h.HEADER_DLQ_DETAIL)
    assert detail is not None and b"64 of 65 bytes" in detail
    assert header(out.headers, h.HEADER_DLQ_ORIGINAL_BYTES) == b"65"
    digest = hashlib.sha256(b"y" * 65).hexdigest().encode()
    assert header(out.headers, h.HEADER_DLQ_ORIGINAL_SHA256) == digest


def test_a_bad_topic_is_dead_lettered_without_key_and_with_its_provenance() -> None:
    out = route(inbound("vehicles/NOTAVIN/telemetry", b"{}"), CFG)
    assert (out.topic, out.key, out.value, out.reason) == (TOPICS.dlq, None, b"{}", "bad_topic")
    expected = {
        h.HEADER_MQTT_TOPIC: b"vehicles/NOTAVIN/telemetry",
        h.HEADER_BRIDGE_ID: b"bridge-7",
        h.HEADER_INGEST_TS_MS: b"1700000000123",
        h.HEADER_DLQ_STAGE: b"bridge",
        h.HEADER_DLQ_REASON: b"bad_topic",
        h.HEADER_DLQ_SOURCE_TOPIC: b"vehicles/NOTAVIN/telemetry",
        h.HEADER_DLQ_SOURCE_PARTITION: b"-1",
        h.HEADER_DLQ_SOURCE_OFFSET: b"-1",
    }
    assert {k: header(out.headers, k) for k in expected} == expected
    assert header(out.headers, h.HEADER_DLQ_ORIGINAL_SHA256) is None  # the value is whole


def test_mqtt_urls_give_host_port_and_credentials_without_showing_the_password() -> None:
    t = parse_mqtt_url("mqtt://user:s3cret@broker.example:2883")
    assert (t.host, t.port, t.tls, t.username, t.password) == (
        "broker.example",
        2883,
        False,
        "user",
        "s3cret",
    )
    assert "s3cret" not in repr(t) and t.address == "broker.example:2883"
    assert parse_mqtt_url("mqtt://h").port == 1883
    assert parse_mqtt_url("mqtts://h").port == 8883 and parse_mqtt_url("mqtts://h").tls
    with pytest.raises(ConfigError):
        parse_mqtt_url("mqtt://h:99999")


def test_acknowledgements_go_to_their_vehicle_s_ack_topic_the_highest_per_boot() -> None:
    other = "WVWZZZ1JZXW000002"
    values = [
        encode_ack_lines([(VIN, "b1", 4), (other, "x", 0), (VIN, "b2", 1)]),
        b"garbage\n" + encode_ack_lines([(VIN, "b1", 6), (VIN, "b1", 5)]),
        None,
    ]
    publishes, bad = ack_publishes("t/vehicles", values)
    assert publishes == [
        (f"t/vehicles/{VIN}/ack", encode_ack("b1", 6)),
        (f"t/vehicles/{other}/ack", encode_ack("x", 0)),
        (f"t/vehicles/{VIN}/ack", encode_ack("b2", 1)),
    ]
    assert bad == 2
