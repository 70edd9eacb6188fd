"""Stage processes for the lifecycle and health tests: start one with settings in its
environment, read its ``/healthz`` and ``/readyz``, stop it with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from journeygate.embedded.procs import free_port
from kernel.settings import Settings

STAGE_ARGS = {
    "bridge": ("bridge",),
    "normalize": ("process", "normalize"),
    "store": ("process", "store"),
    "signals": ("process", "signals"),
    "journey": ("process", "journey"),
    "webhooks": ("webhooks", "--poll", "0.2"),
    "api": ("api", "--port", "0"),
}
ENV_OF = (
    "mqtt_url",
    "kafka_bootstrap",
    "database_url",
    "kafka_idempotence",
    "topic_prefix",
    "mqtt_topic_root",
    "bridge_id",
    "kafka_session_timeout_ms",
    "kafka_heartbeat_interval_ms",
    "kafka_partitions",
)


def stage_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment, less every JOURNEYGATE_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYGATE_")}
    values = settings.model_dump()
    for name in ENV_OF:
        value = values[name]
        env[f"JOURNEYGATE_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    env.update(extra)
    return env


def get(port: int, path: str) -> tuple[int, str]:
    """Status and body of ``GET path``; (0, why) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


@dataclass
class StageProcess:
    """A stage started as ``python -m journeygate ...`` with its metrics port."""

    name: str
    env: Mapping[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None
    health: list[int] = field(default_factory=list)
    """Every /healthz status seen by :meth:`ready` since the port first answered (0: nothing
    answered)."""

    def start(self) -> StageProcess:
        env = {**self.env, "JOURNEYGATE_METRICS_PORT": str(self.port)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "journeygate", *STAGE_ARGS[self.name]],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def ready(self) -> tuple[int, str]:
        """(/readyz status, body), after checking /healthz."""
        status = get(self.port, "/healthz")[0]
        if status or self.health:
            self.health.append(status)
        return get(self.port, "/readyz")

    def wait_for(
        self, wanted: Callable[[int, str], bool], what: str, timeout_s: float = 30.0
    ) -> tuple[int, str]:
        """Poll /readyz (and /healthz) until ``wanted(status, body)``."""
        deadline = time.monotonic() + timeout_s
        seen = (0, "")
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.stop()[1]
            seen = self.ready()
            if wanted(*seen):
                return seen
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {what} in {timeout_s} s; last /readyz {seen}")

    def stop(self, timeout_s: float = 30.0) -> tuple[int | None, str]:
        """SIGTERM, then the exit status and everything it wrote to stderr."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            return None, err
        return self.proc.returncode, err
