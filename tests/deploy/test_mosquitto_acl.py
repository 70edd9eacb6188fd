"""The shipped ACL (deploy/mosquitto/acl) on a real Mosquitto: a vehicle writes only its own
telemetry and reads only its own downlink and acknowledgements, the bridge reads telemetry
through its share group and writes the acknowledgements, nobody else reads telemetry.

Mosquitto grants every SUBSCRIBE and filters what it delivers, so "reads nothing" is shown with a
sentinel: a message the subscriber may read, published after the one it must not get; once the
sentinel arrived, the other one would have too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from paho.mqtt.client import CallbackAPIVersion, Client, MQTTMessage
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from journeygate.embedded.mqtt import find_mosquitto
from journeygate.embedded.procs import Child, free_port

pytestmark = pytest.mark.integration

ACL = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "acl"
VIN_A = "1HGCM82633A004352"
VIN_B = "5YJ3E1EA7KF317000"
PASSWORDS = {
    VIN_A: "secret-a",
    VIN_B: "secret-b",
    "journeygate-bridge": "secret-bridge",
    "journeygate-simulator": "secret-simulator",
    "journeygate-healthcheck": "secret-health",
    # not in the shipped ACL: a stand-in for whatever will send vehicles their downlink
    "test-downlink-writer": "secret-writer",
}
TEST_ONLY_ACL = "\nuser test-downlink-writer\ntopic write vehicles/+/downlink/#\n"
# PUBACK reason codes: accepted (16: accepted, no subscriber matched), refused.
ACCEPTED = (0, 16)
NOT_AUTHORIZED = 135
WAIT_S = 5.0


@pytest.fixture(scope="module")
def broker_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    mosquitto = find_mosquitto()
    passwd_tool = shutil.which("mosquitto_passwd")
    assert mosquitto and passwd_tool, "needs Debian's mosquitto (mosquitto, mosquitto_passwd)"
    root = tmp_path_factory.mktemp("mosquitto-acl")
    passwd = root / "passwd"
    for n, (user, password) in enumerate(PASSWORDS.items()):
        create = ["-c"] if n == 0 else []
        subprocess.run([passwd_tool, *create, "-b", str(passwd), user, password], check=True)
    acl = root / "acl"
    acl.write_text(ACL.read_text() + TEST_ONLY_ACL)
    port = free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "log_type error",
    ]
    if os.geteuid() == 0:  # else Mosquitto drops to its own user, who cannot read these files
        lines.append("user root")
    conf = root / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    child = Child("mosquitto", [mosquitto, "-c", str(conf)], log_path=root / "mosquitto.log")
    try:
        child.wait_for_port("127.0.0.1", port)
        yield port
    finally:
        child.stop()


class Session:
    """An MQTT 5 client that records reason codes and the messages it receives."""

    def __init__(self, port: int, user: str, password: str | None = None) -> None:
        self.client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"acl-{user}-{uuid.uuid4().hex[:6]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.username_pw_set(user, PASSWORDS[user] if password is None else password)
        self.acks: dict[int, int] = {}
        self.grants: dict[int, list[int]] = {}
        self.received: list[tuple[str, bytes]] = []
        self.connack: int | None = None
        self._changed = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._wait(lambda: self.connack is not None, "CONNACK")

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while not done():
                left = deadline - time.monotonic()
                assert left > 0, f"no {what} within {WAIT_S} s"
                self._changed.wait(left)

    def _on_connect(
        self, client: Client, userdata: object, flags: object, rc: ReasonCode, props: object
    ) -> None:
        self.connack = rc.value
        self._notify()

    def _on_publish(
        self, client: Client, userdata: object, mid: int, rc: ReasonCode, props: object
    ) -> None:
        self.acks[mid] = rc.value
        self._notify()

    def _on_subscribe(
        self, client: Client, userdata: object, mid: int, rcs: list[ReasonCode], props: object
    ) -> None:
        self.grants[mid] = [rc.value for rc in rcs]
        self._notify()

    def _on_message(self, client: Client, userdata: object, msg: MQTTMessage) -> None:
        self.received.append((msg.topic, msg.payload))
        self._notify()

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        """The PUBACK's reason code of a QoS 1 publish."""
        mid = self.client.publish(topic, payload, qos=1).mid
        self._wait(lambda: mid in self.acks, f"PUBACK for {topic}")
        return self.acks[mid]

    def subscribe(self, *filters: str) -> list[int]:
        """The SUBACK's reason codes (granted QoS, or an error code)."""
        _, mid = self.client.subscribe([(f, 1) for f in filters])
        self._wait(lambda: mid in self.grants, f"SUBACK for {filters}")
        return self.grants[mid]

    def wait_for(self, topic: str, payload: bytes) -> None:
        self._wait(lambda: (topic, payload) in self.received, f"message on {topic}")

    def wait_for_topic(self, topic: str) -> None:
        self._wait(lambda: any(t == topic for t, _ in self.received), f"message on {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


Connect = Callable[[str], Session]


@pytest.fixture
def connect(broker_port: int) -> Iterator[Connect]:
    sessions: list[Session] = []

    def make(user: str) -> Session:
        sessions.append(Session(broker_port, user))
        return sessions[-1]

    yield make
    for session in sessions:
        session.close()


def _telemetry(vin: str) -> str:
    return f"vehicles/{vin}/telemetry"


def _downlink(vin: str) -> str:
    return f"vehicles/{vin}/downlink/command"


def _ack(vin: str) -> str:
    return f"vehicles/{vin}/ack"


def test_a_wrong_password_is_refused(broker_port: int) -> None:
    session = Session(broker_port, VIN_A, password="not-the-secret")
    try:
        assert session.connack in (134, 135)  # bad user name or password / not authorized
    finally:
        session.close()


def test_a_vehicle_publishes_its_own_telemetry_only(connect: Connect) -> None:
    bridge = connect("journeygate-bridge")
    assert bridge.subscribe(f"$share/journeygate/{_telemetry('+')}") == [1]
    vehicle = connect(VIN_A)
    assert vehicle.publish(_telemetry(VIN_A), b"a-own") in ACCEPTED
    assert vehicle.publish(_telemetry(VIN_B), b"a-as-b") == NOT_AUTHORIZED
    assert vehicle.publish(_downlink(VIN_A), b"a-downlink") == NOT_AUTHORIZED
    assert vehicle.publish("vehicles/other-leaf", b"a-elsewhere") == NOT_AUTHORIZED
    assert vehicle.publish(_telemetry(VIN_A), b"a-again") in ACCEPTED
    bridge.wait_for(_telemetry(VIN_A), b"a-again")
    assert bridge.received == [(_telemetry(VIN_A), b"a-own"), (_telemetry(VIN_A), b"a-again")]


def test_a_vehicle_reads_its_own_downlink_only(connect: Connect) -> None:
    a, b = connect(VIN_A), connect(VIN_B)
    # Granted (Mosquitto checks reads when it delivers), yet A never gets B's messages.
    assert a.subscribe(_downlink(VIN_A), _downlink(VIN_B), _telemetry("+")) == [1, 1, 1]
    assert b.subscribe(_downlink(VIN_B)) == [1]
    writer = connect("test-downlink-writer")
    assert writer.publish(_downlink(VIN_B), b"for-b") in ACCEPTED
    assert b.publish(_telemetry(VIN_B), b"b-telemetry") in ACCEPTED
    assert writer.publish(_downlink(VIN_A), b"for-a") in ACCEPTED
    a.wait_for(_downlink(VIN_A), b"for-a")
    b.wait_for(_downlink(VIN_B), b"for-b")
    assert a.received == [(_downlink(VIN_A), b"for-a")]


def test_a_vehicle_reads_its_own_acknowledgements_only_and_only_the_bridge_writes_them(
    connect: Connect,
) -> None:
    a, b = connect(VIN_A), connect(VIN_B)
    assert a.subscribe(_ack(VIN_A), _ack(VIN_B), "vehicles/+/ack") == [1, 1, 1]
    assert b.subscribe(_ack(VIN_B)) == [1]
    # A vehicle cannot confirm its own messages, nor another's.
    assert a.publish(_ack(VIN_A), b"forged") == NOT_AUTHORIZED
    assert a.publish(_ack(VIN_B), b"forged") == NOT_AUTHORIZED
    assert connect("journeygate-simulator").publish(_ack(VIN_A), b"forged") == NOT_AUTHORIZED
    bridge = connect("journeygate-bridge")
    assert bridge.publish(_ack(VIN_B), b"for-b") in ACCEPTED
    assert bridge.publish(_ack(VIN_A), b"for-a") in ACCEPTED
    a.wait_for(_ack(VIN_A), b"for-a")
    b.wait_for(_ack(VIN_B), b"for-b")
    # (once per matching subscription: Mosquitto delivers overlapping ones apart)
    assert set(a.received) == {(_ack(VIN_A), b"for-a")}
    assert b.received == [(_ack(VIN_B), b"for-b")]


def test_the_simulator_reads_every_vehicles_acknowledgements(connect: Connect) -> None:
    simulator = connect("journeygate-simulator")
    assert simulator.subscribe("vehicles/+/ack") == [1]
    bridge = connect("journeygate-bridge")
    assert bridge.publish(_ack(VIN_A), b"a") in ACCEPTED
    assert bridge.publish(_ack(VIN_B), b"b") in ACCEPTED
    simulator.wait_for(_ack(VIN_B), b"b")
    assert simulator.received == [(_ack(VIN_A), b"a"), (_ack(VIN_B), b"b")]


def test_only_the_bridge_reads_telemetry_through_a_share_group(connect: Connect) -> None:
    bridge = connect("journeygate-bridge")
    bridge.subscribe(f"$share/journeygate/{_telemetry('+')}")
    other = connect(VIN_B)
    assert other.subscribe(f"$share/other/{_telemetry('+')}", _downlink(VIN_B)) == [1, 1]
    simulator = connect("journeygate-simulator")
    assert simulator.subscribe(f"$share/journeygate/{_telemetry('+')}") == [1]
    vehicle = connect(VIN_A)
    assert vehicle.publish(_telemetry(VIN_A), b"shared") in ACCEPTED
    bridge.wait_for(_telemetry(VIN_A), b"shared")
    sentinel = connect("test-downlink-writer")
    assert sentinel.publish(_downlink(VIN_B), b"sentinel") in ACCEPTED
    other.wait_for(_downlink(VIN_B), b"sentinel")
    assert other.received == [(_downlink(VIN_B), b"sentinel")]
    assert simulator.received == []


def test_the_share_group_name_is_not_checked(connect: Connect) -> None:
    """Documented in deploy/mosquitto/README.md: Mosquitto checks the right to read a topic,
    not the group a subscription names, so the bridge's user also receives in another group."""
    stray = connect("journeygate-bridge")
    stray.subscribe(f"$share/other/{_telemetry('+')}")
    vehicle = connect(VIN_A)
    assert vehicle.publish(_telemetry(VIN_A), b"any-group") in ACCEPTED
    stray.wait_for(_telemetry(VIN_A), b"any-group")


def test_the_simulator_writes_any_vehicles_telemetry_and_nothing_else(connect: Connect) -> None:
    simulator = connect("journeygate-simulator")
    assert simulator.publish(_telemetry(VIN_A)) in ACCEPTED
    assert simulator.publish(_telemetry(VIN_B)) in ACCEPTED
    assert simulator.publish(_downlink(VIN_A)) == NOT_AUTHORIZED


def test_the_healthcheck_reads_the_uptime(connect: Connect) -> None:
    health = connect("journeygate-healthcheck")
    assert health.subscribe("$SYS/broker/uptime") == [1]
    health.wait_for_topic("$SYS/broker/uptime")
