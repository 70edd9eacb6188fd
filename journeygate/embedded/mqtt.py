"""A private MQTT broker: Mosquitto when it is installed, else amqtt in its own process.

Mosquitto's queue for an offline or lagging persistent-session client is sized so that the
bridge can be down for the outage the project promises to survive (see docs/operations.md):
the stock ``max_queued_messages 1000`` silently drops QoS 1 messages past the limit.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from pathlib import Path

from journeygate.embedded.procs import Child, free_port

# Messages queued per client while the bridge is away or behind. At a fleet rate of 5,000 msg/s
# this covers 10 minutes of bridge outage; raise it (and mind memory) for longer promises.
MAX_QUEUED_MESSAGES = 3_000_000
# Outgoing QoS 1 messages in flight per client: ack latency x this window caps bridge throughput.
MAX_INFLIGHT_MESSAGES = 1000


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def mosquitto_config(port: int, persistence_dir: Path | None) -> str:
    lines = [
        # Started as root, Mosquitto switches to the user named here (by default "mosquitto");
        # changing its user would clear the death signal that stops it with its parent
        # (procs.Child), and a SIGKILLed demo or test would leave it running. It stays the user
        # that started it.
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        "max_queued_bytes 0",
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        "max_keepalive 300",
        "set_tcp_nodelay true",
        "persistent_client_expiration 7d",
        "log_type error",
        "log_type warning",
    ]
    if persistence_dir is not None:
        lines += ["persistence true", f"persistence_location {persistence_dir}/"]
    return "\n".join(lines) + "\n"


# Clients of the embedded broker log in with this user name. amqtt keeps QoS 1 messages for an
# offline persistent session only when its client is not anonymous.
EMBEDDED_USER = "journeygate"


def amqtt_config(port: int) -> str:
    """Loopback only; any named user is admitted, anonymous clients are not."""
    return (
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "    max_connections: 0\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: false\n"
    )


class EmbeddedMqtt:
    def __init__(self, root: Path, *, prefer: str = "auto") -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = free_port()
        self.prefer = prefer
        self.kind = ""
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{EMBEDDED_USER}@{self.host}:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        mosquitto = find_mosquitto() if self.prefer in ("auto", "mosquitto") else None
        if mosquitto is not None:
            self.kind = "mosquitto"
            conf = self.root / "mosquitto.conf"
            conf.write_text(mosquitto_config(self.port, None))
            argv = [mosquitto, "-c", str(conf)]
        else:
            self.kind = "amqtt"
            conf = self.root / "amqtt.yaml"
            conf.write_text(amqtt_config(self.port))
            argv = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]
        self.child = Child(self.kind, argv, log_path=self.root / f"{self.kind}.log")
        self.child.wait_for_port(self.host, self.port)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None
