"""The MQTT broker address every client uses: parsed once from ``mqtt://`` URLs, credentials kept
out of logs, applied to a paho client in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from paho.mqtt.client import Client

from kernel.errors import ConfigError
from kernel.settings import mask_url


@dataclass(frozen=True, slots=True)
class MqttTarget:
    """Where the MQTT broker is; ``address`` is safe to log, the password never is."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def configure(self, client: Client) -> None:
        """Give ``client`` this broker's credentials and TLS (system CA store) if any."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set()


def parse_mqtt_url(url: str) -> MqttTarget:
    """Split ``mqtt://[user:password@]host[:port]`` (``mqtts://`` for TLS) into its parts."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ConfigError(f"invalid MQTT URL {mask_url(url)}: bad port") from None
    if not parts.hostname:
        raise ConfigError(f"invalid MQTT URL {mask_url(url)}: no host")
    return MqttTarget(parts.hostname, port, tls, parts.username, parts.password)
