"""The bridge when servers are missing or go away, and as its own process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from bridge_kit import (
    consume_until,
    metric,
    publish,
    running_bridge,
    subscribed,
    topic_for,
    vin,
    wait_until,
)

from ingest.forwarder import Forwarder, KafkaUnavailable
from ingest.logic import RouteConfig
from ingest.mqtt_loop import MqttLink
from ingest.runner import run_bridge
from journeygate.embedded.kafka import EmbeddedKafka
from journeygate.embedded.mqtt import EmbeddedMqtt
from journeygate.embedded.procs import free_port
from kernel.kafka import Topics, ensure_topics, make_producer
from kernel.settings import Settings

pytestmark = pytest.mark.integration


def test_unreachable_kafka_at_start_is_waited_for_until_stopped(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    broken = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{port}"})

    async def scenario() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(2.5, stop.set)
        await run_bridge(broken, stop)  # returns once stopped, raising nothing

    with caplog.at_level(logging.WARNING, logger="journeygate.bridge"):
        asyncio.run(scenario())
    waits = [rec for rec in caplog.records if rec.name == "journeygate.bridge"]
    assert len(waits) == 1, [rec.getMessage() for rec in waits]  # one line, not one per attempt
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in waits[0].getMessage()


def test_an_mqtt_broker_not_up_at_start_is_waited_for_with_one_line(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    broken = settings.model_copy(
        update={"mqtt_url": f"mqtt://bridge:pw-never-logged@127.0.0.1:{port}"}
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(3.0, stop.set)
        await run_bridge(broken, stop)

    with caplog.at_level(logging.WARNING, logger="journeygate.bridge"):
        asyncio.run(scenario())
    waits = [rec for rec in caplog.records if rec.name == "journeygate.bridge"]
    assert len(waits) == 1, [rec.getMessage() for rec in waits]
    assert f"cannot reach MQTT broker at 127.0.0.1:{port}" in waits[0].getMessage()
    assert all("pw-never-logged" not in rec.getMessage() for rec in caplog.records)


def test_the_bridge_reconnects_and_resubscribes_after_the_broker_restarts(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    broker = EmbeddedMqtt(tmp_path / "mqtt", prefer="mosquitto")
    broker.start()
    try:
        settings = make_settings(mqtt_url=broker.url)
        raw = Topics.from_settings(settings).raw
        car = vin(3)
        reconnects_before = metric("journeygate_bridge_reconnects_total")

        async def scenario() -> list[bytes]:
            async with running_bridge(settings):
                await publish(settings, [(topic_for(settings, car), b"before")])
                await consume_until(settings, raw, lambda rs: len(rs) >= 1)
                await asyncio.to_thread(broker.stop)
                await wait_until(lambda: not subscribed(), "the bridge to notice the loss")
                await asyncio.to_thread(broker.start)
                await wait_until(subscribed, "the bridge to subscribe again")
                await publish(settings, [(topic_for(settings, car), b"after")])
                records = await consume_until(settings, raw, lambda rs: len(rs) >= 2)
                return [rec.value for rec in records]

        assert asyncio.run(scenario()) == [b"before", b"after"]
        assert metric("journeygate_bridge_reconnects_total") - reconnects_before == 1
    finally:
        broker.stop()


def test_nothing_is_acked_past_a_failed_kafka_delivery_so_the_broker_redelivers_it(
    settings: Settings, tmp_path: Path
) -> None:
    """A forwarder on a Kafka that dies: it stops acking, and a bridge started afterwards on a
    healthy Kafka receives from the broker exactly the messages that were not acked."""
    doomed = EmbeddedKafka(tmp_path / "kafka")
    doomed.start()
    try:
        on_doomed = settings.model_copy(update={"kafka_bootstrap": doomed.bootstrap})
        asyncio.run(ensure_topics(on_doomed))
        topic = topic_for(settings, vin(9))
        raw = Topics.from_settings(settings).raw

        async def failing_session() -> int:
            producer = make_producer(on_doomed, request_timeout_ms=1500, linger_ms=0)
            await producer.start()
            forwarder = Forwarder(producer, RouteConfig.from_settings(on_doomed))
            link = MqttLink(on_doomed, forwarder.accept)
            await link.open(5)
            task = asyncio.create_task(forwarder.run(link, asyncio.Event(), drain_s=1))
            try:
                await publish(settings, [(topic, b"m0")])
                await wait_until(lambda: forwarder.acked == 1, "the first ack")
                await asyncio.to_thread(doomed.child.kill)  # type: ignore[union-attr]
                await publish(settings, [(topic, f"m{n}".encode()) for n in range(1, 21)])
                with pytest.raises(KafkaUnavailable):
                    await asyncio.wait_for(task, 20)
                return forwarder.acked
            finally:
                await link.close()
                await asyncio.wait([asyncio.ensure_future(producer.stop())], timeout=2)

        assert asyncio.run(failing_session()) == 1

        async def recovered() -> list[bytes]:
            async with running_bridge(settings):
                await publish(settings, [(topic, b"sentinel")])
                records = await consume_until(
                    settings, raw, lambda rs: any(rec.value == b"sentinel" for rec in rs)
                )
                return [rec.value for rec in records]

        assert asyncio.run(recovered()) == [f"m{n}".encode() for n in range(1, 21)] + [b"sentinel"]
    finally:
        doomed.stop()


def test_the_bridge_command_runs_as_its_own_process_and_stops_cleanly_on_sigterm(
    settings: Settings,
) -> None:
    metrics_port = free_port()
    env = {
        **os.environ,
        "JOURNEYGATE_MQTT_URL": settings.mqtt_url,
        "JOURNEYGATE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "JOURNEYGATE_KAFKA_IDEMPOTENCE": "false",
        "JOURNEYGATE_TOPIC_PREFIX": settings.topic_prefix,
        "JOURNEYGATE_MQTT_TOPIC_ROOT": settings.mqtt_topic_root,
        "JOURNEYGATE_BRIDGE_ID": settings.bridge_id,
    }
    argv = [sys.executable, "-m", "journeygate", "bridge", "--metrics-port", str(metrics_port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while b"journeygate_bridge_connected 1.0" not in _scrape(metrics_port):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the bridge process did not subscribe"
            time.sleep(0.05)
        served = _scrape(metrics_port).decode()
        others = ("journeygate_simulator_", "journeygate_normalize_", "journeygate_store_")
        assert not [line for line in served.splitlines() if line.startswith(others)]
        car = vin(5)
        sent = [(topic_for(settings, car), f"m{n}".encode()) for n in range(100)]
        raw = Topics.from_settings(settings).raw

        async def forwarded() -> list[bytes]:
            await publish(settings, sent)
            records = await consume_until(settings, raw, lambda rs: len(rs) >= len(sent))
            return [rec.value for rec in records]

        assert asyncio.run(forwarded()) == [payload for _, payload in sent]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0, stderr.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _scrape(port: int) -> bytes:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            body: bytes = response.read()
            return body
    except OSError:
        return b""
