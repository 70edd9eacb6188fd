"""docker-compose.yml is a valid Compose file whose cold start cannot race its servers: the jobs
wait for healthy servers and retry, every image is pinned, every stage runs, and Prometheus
scrapes every stage that serves metrics.

Validated by Compose itself (``docker compose config``, or Debian's ``docker-compose``); without
either, these tests fail: install Debian's docker-compose package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "JOURNEYGATE_BRIDGE_MQTT_PASSWORD": "bridge-secret",
    "JOURNEYGATE_MQTT_HEALTHCHECK_PASSWORD": "health-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
}
SERVERS = ("mosquitto", "kafka", "timescaledb")
STAGES = ("bridge-1", "bridge-2", "normalize", "store", "signals", "journey", "webhooks", "api")


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        pytest.fail("neither `docker compose` nor docker-compose: install Debian's docker-compose")
    return [legacy]


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS and k != "COMPOSE_FILE"}
    return subprocess.run(
        [*_compose_command(), "--project-directory", str(ROOT), "-f", "docker-compose.yml",
         "--profile", "simulate", "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


@cache
def config() -> dict[str, Any]:
    result = _config(SECRETS)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = yaml.safe_load(result.stdout)
    return doc


def services() -> dict[str, Any]:
    found: dict[str, Any] = config()["services"]
    return found


def _waits_for(service: str) -> dict[str, str]:
    depends = services()[service].get("depends_on", {})
    return {name: spec["condition"] for name, spec in depends.items()}


def test_a_missing_secret_stops_compose_with_its_name() -> None:
    for name in SECRETS:
        result = _config({k: v for k, v in SECRETS.items() if k != name})
        assert result.returncode != 0
        assert name in result.stderr or "set it" in result.stderr, result.stderr


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, service in services().items():
        if "build" in service:
            continue
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+(-[\w.]+)?", image), f"{name}: {image}"


def test_the_servers_have_healthchecks() -> None:
    for name in SERVERS:
        check = services()[name]["healthcheck"]
        assert check["test"] and not check.get("disable"), name


def test_the_jobs_wait_for_healthy_servers_and_retry() -> None:
    assert _waits_for("migrate") == {"timescaledb": "service_healthy"}
    assert _waits_for("topics") == {"kafka": "service_healthy"}
    for job in ("migrate", "topics"):
        command = services()[job]["command"]
        assert "--wait-s" in command and float(command[command.index("--wait-s") + 1]) >= 60
        assert services()[job]["restart"] == "no"


def test_every_stage_runs_after_the_jobs() -> None:
    commands = {name: services()[name]["command"] for name in (*STAGES, "api")}
    assert commands["normalize"] == ["process", "normalize"]
    assert commands["store"] == ["process", "store"]
    assert commands["signals"] == ["process", "signals"]
    assert commands["journey"] == ["process", "journey"]
    assert commands["webhooks"] == ["webhooks"] and commands["api"][0] == "api"
    for name in STAGES:
        assert _waits_for(name)["migrate"] == "service_completed_successfully", name
    for name in ("bridge-1", "bridge-2", "normalize", "store", "signals", "journey"):
        assert _waits_for(name)["topics"] == "service_completed_successfully", name


def test_two_bridges_share_one_subscription() -> None:
    envs = [services()[name]["environment"] for name in ("bridge-1", "bridge-2")]
    assert {env["JOURNEYGATE_BRIDGE_ID"] for env in envs} == {"bridge-1", "bridge-2"}
    assert {env["JOURNEYGATE_BRIDGE_SHARE_GROUP"] for env in envs} == {"journeygate"}
    for env in envs:
        assert env["JOURNEYGATE_MQTT_URL"].startswith("mqtt://journeygate-bridge:bridge-secret@")
    for name in ("bridge-1", "bridge-2"):
        assert _waits_for(name)["mosquitto"] == "service_healthy"


def test_mosquitto_persists_and_authenticates() -> None:
    mosquitto = services()["mosquitto"]
    mounts = {m.split(":")[1] if isinstance(m, str) else m["target"] for m in mosquitto["volumes"]}
    assert {"/mosquitto/config/passwd", "/mosquitto/config/acl", "/mosquitto/data"} <= mounts
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text().splitlines()
    for line in ("allow_anonymous false", "persistence true", "#listener 8883"):
        assert line in conf  # the TLS listener is documented, on once its files are made


def test_the_simulator_publishes_as_its_own_user_only_when_asked() -> None:
    simulate = services()["simulate"]
    assert simulate["profiles"] == ["simulate"]
    assert simulate["environment"]["JOURNEYGATE_MQTT_URL"].startswith(
        "mqtt://journeygate-simulator:"
    )


def test_prometheus_scrapes_every_stage_with_metrics() -> None:
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target.split(":")[0]: group.get("labels", {}).get("stage")
        for job in prometheus["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert set(targets) == set(STAGES)
    for name in STAGES:
        assert services()[name]["environment"]["JOURNEYGATE_METRICS_PORT"] == "9100"
    assert targets["bridge-2"] == "bridge" and targets["store"] == "store"
