"""The bridge against the real MQTT broker and Kafka-protocol broker of the test session."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from bridge_kit import (
    Record,
    consume_until,
    metric,
    publish,
    running_bridge,
    subscribed,
    topic_for,
    vin,
    wait_until,
)

from kernel import headers as h
from kernel.kafka import Topics, header
from kernel.settings import Settings

pytestmark = pytest.mark.integration


def payload(vehicle: str, seq: int, pad: int = 0) -> bytes:
    return json.dumps({"v": 1, "vin": vehicle, "seq": seq, "pad": "x" * pad}).encode()


def seq_of(record: Record) -> int:
    return int(json.loads(record.value)["seq"])


def test_2000_messages_reach_telemetry_raw_keyed_by_vin_in_order(settings: Settings) -> None:
    vins = [vin(n) for n in range(8)]
    sent = [(topic_for(settings, v), payload(v, seq)) for seq in range(250) for v in vins]
    raw = Topics.from_settings(settings).raw
    forwarded_before = metric("journeygate_bridge_forwarded_total")

    async def scenario() -> list[Record]:
        async with running_bridge(settings):
            started_ms = time.time_ns() // 1_000_000
            await publish(settings, sent)
            records = await consume_until(settings, raw, lambda rs: len(rs) >= len(sent))
            for rec in records:
                ts = int(header(rec.headers, h.HEADER_INGEST_TS_MS) or b"0")
                assert started_ms <= ts <= time.time_ns() // 1_000_000
            await wait_until(
                lambda: metric("journeygate_bridge_inflight_messages") == 0,
                "every message to be acked",
            )
            return records

    records = asyncio.run(scenario())

    assert sorted((rec.key, rec.value) for rec in records) == sorted(
        (t.split("/")[-2].encode(), p) for t, p in sent
    )
    by_vin: dict[bytes, list[int]] = defaultdict(list)
    for rec in records:
        topic = header(rec.headers, h.HEADER_MQTT_TOPIC)
        assert topic == topic_for(settings, rec.key.decode()).encode()
        assert header(rec.headers, h.HEADER_BRIDGE_ID) == settings.bridge_id.encode()
        by_vin[rec.key].append(seq_of(rec))
    assert {k.decode(): v for k, v in by_vin.items()} == {v: list(range(250)) for v in vins}
    assert metric("journeygate_bridge_forwarded_total") - forwarded_before == len(sent)


def test_bad_topics_and_oversize_payloads_are_dead_lettered_between_good_messages(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(bridge_max_payload_bytes=1024)
    topics = Topics.from_settings(settings)
    good = vin(1)
    root = settings.mqtt_topic_root
    sent = [
        (topic_for(settings, good), payload(good, 0)),
        (f"{root}/NOTAVIN/telemetry", b'{"v":1}'),
        (f"{root}/JG0TESTI000000001/telemetry", b'{"v":1}'),  # 17 chars, but I is not allowed
        (topic_for(settings, good), b"o" * 1025),
        (topic_for(settings, good), b"k" * 1024),
        (topic_for(settings, good), payload(good, 1)),
    ]
    bad_before = metric("journeygate_bridge_dead_lettered_total", reason="bad_topic")
    big_before = metric("journeygate_bridge_dead_lettered_total", reason="oversize")

    async def scenario() -> tuple[list[Record], list[Record]]:
        async with running_bridge(settings):
            await publish(settings, sent)
            dlq = await consume_until(settings, topics.dlq, lambda rs: len(rs) >= 3)
            raw = await consume_until(settings, topics.raw, lambda rs: len(rs) >= 3)
            return raw, dlq

    raw, dlq = asyncio.run(scenario())

    assert [rec.value for rec in raw] == [payload(good, 0), b"k" * 1024, payload(good, 1)]
    assert len(dlq) == 3
    by_topic = {header(rec.headers, h.HEADER_DLQ_SOURCE_TOPIC): rec for rec in dlq}
    for bad_topic in (sent[1][0], sent[2][0]):
        rec = by_topic[bad_topic.encode()]
        assert (rec.key, rec.value) == (None, b'{"v":1}')
        assert header(rec.headers, h.HEADER_DLQ_REASON) == b"bad_topic"
    oversize = by_topic[topic_for(settings, good).encode()]
    assert (oversize.key, oversize.value) == (good.encode(), b"o" * 1024)
    assert header(oversize.headers, h.HEADER_DLQ_REASON) == b"oversize"
    assert header(oversize.headers, h.HEADER_DLQ_ORIGINAL_BYTES) == b"1025"
    digest = hashlib.sha256(b"o" * 1025).hexdigest().encode()
    assert header(oversize.headers, h.HEADER_DLQ_ORIGINAL_SHA256) == digest
    for rec in dlq:
        assert header(rec.headers, h.HEADER_DLQ_STAGE) == b"bridge"
        assert header(rec.headers, h.HEADER_DLQ_SOURCE_PARTITION) == b"-1"
        assert header(rec.headers, h.HEADER_DLQ_SOURCE_OFFSET) == b"-1"
        assert header(rec.headers, h.HEADER_BRIDGE_ID) == settings.bridge_id.encode()
        assert header(rec.headers, h.HEADER_INGEST_TS_MS) is not None
    assert metric("journeygate_bridge_dead_lettered_total", reason="bad_topic") - bad_before == 2
    assert metric("journeygate_bridge_dead_lettered_total", reason="oversize") - big_before == 1


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_messages_published_while_the_bridge_is_down_arrive_once_after_restart(
    make_settings: Callable[..., Settings], protocol: str
) -> None:
    """One VIN, so one partition: Kafka's order is the bridge's order, and a repeat (a message
    redelivered because it was not acked before the stop) would show before the sentinel."""
    settings = make_settings(mqtt_protocol=protocol)
    raw = Topics.from_settings(settings).raw
    car = vin(7)
    topic = topic_for(settings, car)

    async def scenario() -> list[Record]:
        async with running_bridge(settings):
            await publish(settings, [(topic, payload(car, 0))])
            await consume_until(settings, raw, lambda rs: len(rs) >= 1)
        assert not subscribed()
        await publish(settings, [(topic, payload(car, seq)) for seq in range(1, 501)])
        async with running_bridge(settings):
            await publish(settings, [(topic, payload(car, 501))])
            return await consume_until(
                settings, raw, lambda rs: any(seq_of(rec) == 501 for rec in rs)
            )

    records = asyncio.run(scenario())

    assert [seq_of(rec) for rec in records] == list(range(502))
    assert {rec.key for rec in records} == {car.encode()}


def test_bridges_in_a_share_group_forward_every_message_once_between_them(
    make_settings: Callable[..., Settings],
) -> None:
    first = make_settings(bridge_share_group="bridges")
    second = first.model_copy(update={"bridge_id": f"{first.bridge_id}-b"})
    raw = Topics.from_settings(first).raw
    sent = [(topic_for(first, vin(n % 4)), payload(vin(n % 4), n)) for n in range(400)]

    async def scenario() -> list[Record]:
        async with running_bridge(first), running_bridge(second):
            await publish(first, sent)
            return await consume_until(first, raw, lambda rs: len(rs) >= len(sent))

    records = asyncio.run(scenario())

    assert sorted(rec.value for rec in records) == sorted(p for _, p in sent)
    ids = {header(rec.headers, h.HEADER_BRIDGE_ID) for rec in records}
    assert ids <= {first.bridge_id.encode(), second.bridge_id.encode()}


@pytest.mark.parametrize(("protocol", "repeats"), [("5", 0), ("3.1.1", 1)])
def test_a_retained_publish_is_forwarded_when_published_and_not_again_under_mqtt_5(
    make_settings: Callable[..., Settings], protocol: str, repeats: int
) -> None:
    """docs/payload.md, "Retained publishes": the broker keeps a retained message and sends it to
    each new subscription. Under MQTT 5 the bridge subscribes with Retain Handling 2 (never at
    subscription); under 3.1.1 the broker re-sends it at each subscription, and the repeat is
    absorbed downstream as any repeat of (vin, boot_id, seq)."""
    settings = make_settings(mqtt_protocol=protocol)
    raw = Topics.from_settings(settings).raw
    car = vin(8)
    topic = topic_for(settings, car)

    async def scenario() -> list[Record]:
        async with running_bridge(settings):
            await publish(settings, [(topic, payload(car, 0))], retain=True)
            await consume_until(settings, raw, lambda rs: len(rs) >= 1)
        async with running_bridge(settings):
            await publish(settings, [(topic, payload(car, 1))])
            return await consume_until(settings, raw, lambda rs: any(seq_of(r) == 1 for r in rs))

    try:
        records = asyncio.run(scenario())
    finally:
        asyncio.run(publish(settings, [(topic, b"")], retain=True))  # clears the retained message
    assert [seq_of(rec) for rec in records] == [0] * (1 + repeats) + [1]
