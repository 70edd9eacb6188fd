"""The bridge's paho client: broker address, persistent session, manual acks.

The client id is fixed and the session persistent (``clean_session=False`` on MQTT 3.1.1,
``clean_start=False`` plus a session expiry on MQTT 5), and acks are manual: a message not acked
before a connection ends is redelivered by the broker on the next connection with this id.
"""

from __future__ import annotations

from paho.mqtt.client import Client, MQTTv5, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from journeygate.mqtt import MqttTarget
from journeygate.settings import Settings

KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 5.0


def make_client(settings: Settings, target: MqttTarget) -> Client:
    """A client for ``settings.bridge_id`` with a persistent session and manual acks."""
    if settings.mqtt_protocol == "5":
        client = Client(
            CallbackAPIVersion.VERSION2, client_id=settings.bridge_id, protocol=MQTTv5,
            manual_ack=True,
        )
    else:
        client = Client(
            CallbackAPIVersion.VERSION2, client_id=settings.bridge_id, protocol=MQTTv311,
            clean_session=False, manual_ack=True,
        )
    client.connect_timeout = CONNECT_TIMEOUT_S
    target.configure(client)
    return client


def connect_blocking(client: Client, target: MqttTarget, settings: Settings) -> None:
    """Open the socket and send CONNECT (blocking; raises OSError when the broker is unreachable).

    The CONNACK arrives later, through the client's ``on_connect``.
    """
    if settings.mqtt_protocol == "5":
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = settings.bridge_session_expiry_s
        rc = client.connect(
            target.host, target.port, KEEPALIVE_S, clean_start=False, properties=props
        )
    else:
        rc = client.connect(target.host, target.port, KEEPALIVE_S)
    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        raise OSError(f"sending CONNECT failed: {rc.name}")
