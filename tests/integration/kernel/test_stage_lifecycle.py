"""Every long-running stage as its own process: ``/healthz`` and ``/readyz`` on its metrics
port, waiting for servers that are not up yet, and a SIGTERM that ends it with status 0 and no
traceback whether or not its servers are reachable."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from stage_kit import StageProcess, get, stage_env

from database.migrate import ensure_database, migrate
from journeygate.embedded.kafka import EmbeddedKafka
from journeygate.embedded.postgres import EmbeddedPostgres
from journeygate.embedded.procs import free_port
from kernel.settings import Settings, load_settings

pytestmark = pytest.mark.integration

WAITING = ("bridge", "normalize", "store", "signals", "journey", "webhooks", "api")
# Every stage that reads or writes the store.
UNMIGRATED = ("normalize", "store", "signals", "journey", "webhooks", "api")
SECRET = "s3cr3t-never-logged"
# Lines a stage may write while it waits a few seconds for servers that never come, and stops.
MAX_LINES = 12


def test_every_stage_waits_for_absent_servers_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()  # nothing listens there
    unreachable = load_settings(
        mqtt_url=f"mqtt://bridge:{SECRET}@127.0.0.1:{port}",
        kafka_bootstrap=f"127.0.0.1:{port}",
        database_url=f"postgresql://jg:{SECRET}@127.0.0.1:{port}/journeygate",
        kafka_idempotence=False,
    )
    json_logs = stage_env(unreachable, JOURNEYGATE_LOG_FORMAT="json")
    stages = [
        StageProcess(name, json_logs if name == "normalize" else stage_env(unreachable)).start()
        for name in WAITING
    ]
    try:
        for stage in stages:
            _, why = stage.wait_for(lambda s, b: s == 503, "503 while servers are down")
            assert why.startswith("not ready: "), why
        time.sleep(3)  # several attempts to reach the servers
        for stage in stages:
            assert stage.ready()[0] == 503 and set(stage.health) == {200}, stage.name
    finally:
        results = {stage.name: stage.stop() for stage in stages}
    for name, (code, err) in results.items():
        assert code == 0, f"{name}: {err}"
        assert "Traceback" not in err, f"{name}: {err}"
        assert len(err.splitlines()) <= MAX_LINES, f"{name}: {err}"
        assert SECRET not in err, f"{name}: {err}"
        assert "starting with" in err and "***" in err, f"{name}: {err}"
    for line in results["normalize"][1].splitlines():
        doc = json.loads(line)
        assert doc["time"].endswith("Z") and doc["level"] and doc["logger"], line
        assert doc["message"], line


def test_a_stage_started_before_its_servers_becomes_ready_once_they_are_up(
    tmp_path: Path,
) -> None:
    kafka = EmbeddedKafka(tmp_path / "kafka")  # its port chosen, not started yet
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False)
    settings = load_settings(
        kafka_bootstrap=kafka.bootstrap,
        database_url=pg.url("journeygate"),
        kafka_idempotence=False,
        kafka_partitions=2,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
    )
    stage = StageProcess("normalize", stage_env(settings)).start()
    try:
        stage.wait_for(lambda s, b: s == 503 and "kafka" in b, "503 naming Kafka")
        time.sleep(1)
        kafka.start()
        pg.start()
        ensure_database(settings.database_url)
        migrate(settings.database_url)
        stage.wait_for(lambda s, b: s == 200, "readiness once Kafka and PostgreSQL are up", 60)
        assert set(stage.health) == {200}
    finally:  # the stage too, whatever failed: a stage left running outlives the suite
        code, err = stage.stop()
        kafka.stop()
        pg.stop()
    assert code == 0 and "Traceback" not in err, err
    assert "succeeded after" in err, err


def test_ready_only_with_partitions_assigned_and_metrics_on_every_other_path(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    env = stage_env(settings)
    store = StageProcess("store", env).start()
    bridge = StageProcess("bridge", env).start()
    webhooks = StageProcess("webhooks", env).start()
    try:
        _, why = store.wait_for(
            lambda s, b: s == 503 and "partitions" in b and "kafka" not in b,
            "503 for partitions alone",
        )
        assert "postgresql" not in why, why
        store.wait_for(lambda s, b: s == 200, "readiness with partitions assigned")
        bridge.wait_for(lambda s, b: s == 200, "readiness with an MQTT session")
        webhooks.wait_for(lambda s, b: s == 200, "readiness of a running sender")
        assert set(store.health) == {200} and set(bridge.health) == {200}
        for path in ("/metrics", "/", "/anything"):
            status, body = get(store.port, path)
            assert status == 200 and "journeygate_store_" in body, path
        assert "journeygate_bridge_" in get(bridge.port, "/metrics")[1]
    finally:
        results = [stage.stop() for stage in (store, bridge, webhooks)]
    for code, err in results:
        assert code == 0 and "Traceback" not in err, err


def test_every_stage_on_a_database_not_migrated_yet_waits_for_migrate(
    make_settings: Callable[..., Settings], bare_database: str
) -> None:
    """Stages started while the migrate job still runs (as a deployment starts them) report it
    on ``/readyz`` and go on once the schema is there: no crash, no traceback."""
    settings = make_settings(database_url=bare_database)  # its own topics, no schema
    env = stage_env(settings)
    stages = [StageProcess(name, env).start() for name in UNMIGRATED]
    try:
        for stage in stages:
            stage.wait_for(lambda s, b: s == 503 and "migrate" in b, "503 asking for migrate", 60)
        time.sleep(2)  # several attempts
        for stage in stages:
            status, body = stage.ready()
            assert status == 503 and "migrate" in body, (stage.name, body)
        migrate(bare_database)
        for stage in stages:
            stage.wait_for(lambda s, b: s == 200, "readiness once migrated", 60)
    finally:
        results = {stage.name: stage.stop() for stage in stages}
    for name, (code, err) in results.items():
        assert code == 0 and "Traceback" not in err, f"{name}: {err}"
