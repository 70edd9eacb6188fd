"""The simulator against real servers: registry rows, and exactly the planned MQTT messages."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from journeygate.embedded.procs import free_port
from kernel.errors import InfrastructureError
from kernel.metrics import registry
from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings
from simulator.cli import register
from simulator.publishing import metrics as sim_metrics
from simulator.publishing.publisher import Publisher
from simulator.publishing.registry import register_fleet, vehicle_records
from simulator.runner import plan_for, run_simulation, topic_for
from simulator.scenario.files import Scenario
from simulator.scenario.kinds import FAULT_KINDS
from simulator.scenario.params import SimulationParams

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Every malformed kind at least once, so that a small fleet still shows them all.
EVERY_KIND = Scenario.model_validate({"faults": {"malformed": {"min_each": 1}}})


@dataclass
class Inbox:
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)

    def add(self, topic: str, payload: bytes) -> None:
        self.times_s.append(time.monotonic())
        self.messages.append((topic, payload))


@contextmanager
def subscriber(settings: Settings) -> Iterator[Inbox]:
    """A plain paho client subscribed (QoS 1) to every vehicle topic before anything is sent."""
    inbox = Inbox()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{time.monotonic_ns()}")
    client.on_message = lambda c, u, msg: inbox.add(msg.topic, bytes(msg.payload))
    client.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()
    broker = parse_mqtt_url(settings.mqtt_url)
    broker.configure(client)
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.subscribe(f"{settings.mqtt_topic_root}/+/telemetry", qos=1)
    assert subscribed.wait(10), "no SUBACK"
    try:
        yield inbox
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def published_metric(kind: str) -> float:
    value = registry(sim_metrics.STAGE).get_sample_value(
        "journeygate_simulator_messages_published_total", {"kind": kind}
    )
    return value or 0.0


def fault_metric(fault: str) -> float:
    value = registry(sim_metrics.STAGE).get_sample_value(
        "journeygate_simulator_faults_injected_total", {"fault": fault}
    )
    return value or 0.0


def read_truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_subscriber_receives_exactly_the_planned_messages(
    make_settings: Callable[..., Settings], tmp_path: Path, protocol: str
) -> None:
    settings = make_settings(mqtt_protocol=protocol)
    params = SimulationParams(
        acks="ignore",  # a bare broker: no pipeline acknowledges
        scenario=EVERY_KIND,
        vehicles=6,
        days=3,
        seed=5,
        now=NOW,
        duplicate_rate=0.1,
        malformed_rate=0.3,
        connections=3,
        max_inflight=8,
        truth_path=tmp_path / "truth.jsonl",
    )
    plan = plan_for(settings, params)
    calls: list[tuple[int, int]] = []
    oversize_before = fault_metric("oversize")
    with subscriber(settings) as inbox:
        result = run_simulation(settings, params, progress=lambda p, t: calls.append((p, t)))
        wait_for(lambda: len(inbox.messages) >= result.messages_published)
    received = inbox.messages
    expected = Counter(
        (topic_for(settings.mqtt_topic_root, m.topic_vin), m.payload) for m in plan.messages
    )
    assert Counter(received) == expected
    assert result.messages_published == result.acknowledged == len(plan.messages)
    assert not result.interrupted
    assert calls[-1] == (len(plan.messages), len(plan.messages))
    assert result.valid_messages + result.duplicates + sum(result.malformed.values()) == len(
        plan.messages
    )
    assert result.valid_samples == sum(m.sample_count for m in plan.messages if m.kind == "valid")
    assert set(result.malformed) >= {"bad_topic", "oversize", "unknown_vin", "invalid_json"}
    assert set(result.faults) >= set(FAULT_KINDS)
    assert fault_metric("oversize") - oversize_before == result.faults["oversize"]
    # Per topic, messages arrive in publish order (one connection per topic).
    for vin in {m.topic_vin for m in plan.messages}:
        topic = topic_for(settings.mqtt_topic_root, vin)
        sent = [m.payload for m in plan.messages if m.topic_vin == vin]
        assert [p for t, p in received if t == topic] == sent

    lines = read_truth(tmp_path / "truth.jsonl")
    assert lines[0]["type"] == "header" and lines[0]["seed"] == 5
    assert lines[0]["scenario"]["fleet"]["vehicles"] == 6
    assert [x["vin"] for x in lines if x["type"] == "vehicle"] == [v.vin for v in plan.fleet]
    assert [x["vin"] for x in lines if x["type"] == "trajectory"] == [v.vin for v in plan.fleet]
    messages = [x for x in lines if x["type"] == "message"]
    assert [x["sha256"] for x in messages] == [
        hashlib.sha256(m.payload).hexdigest() for m in plan.messages
    ]
    assert lines[-1]["type"] == "end" and lines[-1]["interrupted"] is False
    assert lines[-1]["published"] == lines[-1]["acknowledged"] == len(plan.messages)


def test_fleet_is_registered_before_publishing_and_idempotently(settings: Settings) -> None:
    params = SimulationParams(
        acks="ignore", vehicles=12, days=1, seed=9, now=NOW, malformed_rate=0.0
    )
    before = published_metric("valid")
    result = run_simulation(settings, params)
    assert published_metric("valid") - before == result.valid_messages
    plan = plan_for(settings, params)
    assert result.registered == 12
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT vin, brand, model, model_year, powertrain, delivery_date, dealer_id"
            " FROM vehicles ORDER BY vin"
        ).fetchall()
    assert rows == sorted(
        (v.vin, v.brand, v.model, v.model_year, v.powertrain, v.delivery_date, v.dealer_id)
        for v in plan.fleet
    )
    assert register_fleet(settings.database_url, vehicle_records(plan)) == 0
    assert run_simulation(settings, params).registered == 0


def test_stop_ends_cleanly_and_truth_records_what_was_sent(
    settings: Settings, tmp_path: Path
) -> None:
    stop = threading.Event()
    params = SimulationParams(
        acks="ignore",  # a bare broker: no pipeline acknowledges
        vehicles=30,
        days=7,
        seed=4,
        now=NOW,
        truth_path=tmp_path / "t.jsonl",
        malformed_kinds=FAULT_KINDS[:3],
    )
    result = run_simulation(settings, params, progress=lambda p, t: stop.set(), stop=stop)
    assert result.interrupted
    assert 0 < result.messages_published < result.planned_messages
    assert result.acknowledged == result.messages_published
    lines = read_truth(tmp_path / "t.jsonl")
    messages = [x for x in lines if x["type"] == "message"]
    assert len(messages) == result.messages_published
    assert [x["n"] for x in messages] == list(range(len(messages)))
    assert lines[-1] == {
        **lines[-1],
        "type": "end",
        "interrupted": True,
        "published": result.messages_published,
    }


@pytest.mark.parametrize("pacing", ["max_rate_per_s", "rate_per_s"])
def test_rate_target_and_cap_space_publishes(settings: Settings, pacing: str) -> None:
    params = SimulationParams(
        acks="ignore",  # a bare broker: no pipeline acknowledges
        vehicles=2,
        days=1,
        seed=1,
        now=NOW,
        malformed_rate=0.0,
        duplicate_rate=0.0,
        **{pacing: 100.0},  # type: ignore[arg-type]
    )
    with subscriber(settings) as inbox:
        result = run_simulation(settings, params)
        wait_for(lambda: len(inbox.messages) >= result.messages_published)
    assert result.messages_published >= 5
    span_s = inbox.times_s[-1] - inbox.times_s[0]
    assert span_s >= 0.9 * (result.messages_published - 1) / 100.0


def test_one_connection_per_vehicle(settings: Settings, tmp_path: Path) -> None:
    params = SimulationParams(
        acks="ignore",  # a bare broker: no pipeline acknowledges
        vehicles=5,
        days=1,
        seed=3,
        now=NOW,
        malformed_rate=0.0,
        connection_per_vehicle=True,
    )
    plan = plan_for(settings, params)
    topics = sorted({topic_for(settings.mqtt_topic_root, m.topic_vin) for m in plan.messages})
    with Publisher(settings, connections=1, max_inflight=10, dedicated_topics=topics) as pub:
        assert pub.connections == len(topics) == 5
    with subscriber(settings) as inbox:
        result = run_simulation(settings, params)
        wait_for(lambda: len(inbox.messages) >= result.messages_published)
    assert Counter(inbox.messages) == Counter(
        (topic_for(settings.mqtt_topic_root, m.topic_vin), m.payload) for m in plan.messages
    )
    for topic in topics:
        sent = [
            m.payload
            for m in plan.messages
            if topic_for(settings.mqtt_topic_root, m.topic_vin) == topic
        ]
        assert [p for t, p in inbox.messages if t == topic] == sent


def test_unreachable_broker_is_an_infrastructure_error(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(InfrastructureError, match="cannot reach MQTT broker"):
        run_simulation(settings, SimulationParams(acks="ignore", vehicles=2, days=1, now=NOW))


def test_simulate_command(settings: Settings, tmp_path: Path) -> None:
    import typer

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    common = [
        "simulate",
        "--acks",
        "ignore",
        "--mqtt-url",
        settings.mqtt_url,
        "--database-url",
        settings.database_url,
        "--mqtt-topic-root",
        settings.mqtt_topic_root,
        "--kafka-bootstrap",
        settings.kafka_bootstrap,
        "--topic-prefix",
        settings.topic_prefix,
    ]
    truth = tmp_path / "cli.jsonl"
    # The embedded Kafka-protocol broker has no idempotent producers.
    ok = CliRunner(env={"JOURNEYGATE_KAFKA_IDEMPOTENCE": "false"}).invoke(
        app,
        [
            *common,
            "--vehicles",
            "3",
            "--days",
            "2",
            "--now",
            "2026-03-01T12:00:00Z",
            "--truth",
            str(truth),
            "--malformed-kinds",
            "oversize,bad_vin",
            "--malformed-rate",
            "0.2",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "published" in ok.output
    assert read_truth(truth)[-1]["interrupted"] is False
    bad = CliRunner().invoke(app, [*common, "--duplicate-rate", "2"])
    assert bad.exit_code == 2
    assert "--duplicate-rate: Input should be less than or equal to 1" in bad.output
    future = CliRunner().invoke(app, [*common, "--vehicles", "2", "--now", "2999-01-01T00:00:00Z"])
    assert future.exit_code == 2 and "after the wall clock" in future.output
    planned = CliRunner().invoke(app, [*common, "--scenario", "smoke", "--plan-only"])
    assert planned.exit_code == 0, planned.output
    assert "vehicles      8" in planned.output and "oversize" in planned.output
    missing = CliRunner().invoke(app, [*common, "--scenario", "nope", "--plan-only"])
    assert missing.exit_code == 2 and "cannot read scenario" in missing.output


def test_publisher_never_exceeds_its_window(settings: Settings) -> None:
    seen: list[int] = []
    never = threading.Event()
    with (
        subscriber(settings) as inbox,
        Publisher(settings, connections=2, max_inflight=3) as publisher,
    ):
        for i in range(300):
            topic = topic_for(settings.mqtt_topic_root, f"VIN{i % 7:014d}")
            assert publisher.publish(topic, b"%d" % i, never)
            seen.append(publisher.outstanding)
        assert publisher.drain(10)
        wait_for(lambda: len(inbox.messages) == 300)
    assert max(seen) <= 3
    assert publisher.acknowledged == 300


@contextmanager
def silent_broker() -> Iterator[str]:
    """A TCP endpoint that accepts one MQTT 3.1.1 session and never acknowledges a publish."""
    server = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
            conn.settimeout(0.1)
            while not done.is_set():
                try:
                    if not conn.recv(65536):
                        return
                except TimeoutError:
                    continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"mqtt://127.0.0.1:{server.getsockname()[1]}"
    finally:
        done.set()
        thread.join(5)
        server.close()


def test_publisher_blocks_then_fails_when_no_puback_arrives(
    make_settings: Callable[..., Settings],
) -> None:
    with silent_broker() as url:
        settings = make_settings(mqtt_url=url)
        never = threading.Event()
        with Publisher(settings, connections=1, max_inflight=2, ack_timeout_s=0.5) as publisher:
            assert publisher.publish("r/VIN/telemetry", b"1", never)
            assert publisher.publish("r/VIN/telemetry", b"2", never)
            started = time.monotonic()
            with pytest.raises(InfrastructureError, match="no PUBACK"):
                publisher.publish("r/VIN/telemetry", b"3", never)
            assert time.monotonic() - started >= 0.5
            assert publisher.published == 2
            stop = threading.Event()
            stop.set()
            assert publisher.publish("r/VIN/telemetry", b"4", stop) is False
            assert publisher.drain(0.2) is False
