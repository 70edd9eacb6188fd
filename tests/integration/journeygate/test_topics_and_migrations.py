"""``journeygate topics`` and ``journeygate migrate --status`` against real servers: topics made
with their retention and listed as the broker has them; migrations listed, pending ones named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from kernel.settings import Settings

pytestmark = pytest.mark.integration


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeygate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def topics(settings: Settings, prefix: str, **env: str) -> subprocess.CompletedProcess[str]:
    flags = ["--kafka-bootstrap", settings.kafka_bootstrap, "--topic-prefix", prefix]
    return run_cli("topics", *flags, env={"JOURNEYGATE_KAFKA_PARTITIONS": "3", **env})


def listed(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines()}


def test_topics_are_made_with_their_retention_and_listed_as_the_broker_has_them(
    settings: Settings,
) -> None:
    prefix = f"r{uuid.uuid4().hex[:6]}."
    retention = {"JOURNEYGATE_KAFKA_RETENTION_DAYS": json.dumps({"telemetry.raw": 3})}
    made = topics(settings, prefix, **retention)
    assert made.returncode == 0, made.stderr
    lines = listed(made.stdout)
    assert len(lines) == 9
    assert "3 partitions  retention 3 d" in lines[f"{prefix}telemetry.raw"]
    assert "retention 7 d" in lines[f"{prefix}telemetry.receipts"]
    assert "retention 1 d" in lines[f"{prefix}telemetry.acks"]
    assert "retention 30 d" in lines[f"{prefix}telemetry.frames"]
    assert "retention forever" in lines[f"{prefix}vehicle.services"]

    again = listed(topics(settings, prefix).stdout)  # the default for raw is 7 days
    assert (
        "retention 3 d (setting: 7 d; the topic was made before)" in again[f"{prefix}telemetry.raw"]
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"telemetry.nope": 3}', "'telemetry.nope' is not a topic"),
        ('{"telemetry.raw": 0}', "telemetry.raw: 0.0 (positive up to 36500, or -1: forever)"),
        ('{"telemetry.raw": NaN}', "telemetry.raw: nan (positive up to 36500"),
        ('{"telemetry.raw": 1e12}', "telemetry.raw: 1000000000000.0 (positive up to 36500"),
    ],
)
def test_a_bad_retention_setting_is_one_line(settings: Settings, value: str, message: str) -> None:
    out = topics(settings, "bad.", JOURNEYGATE_KAFKA_RETENTION_DAYS=value)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and out.stderr.count("\n") == 1


def test_migrate_status_lists_applied_and_pending_migrations(settings: Settings) -> None:
    up = run_cli("migrate", "--status", "--database-url", settings.database_url)
    assert up.returncode == 0, up.stderr
    assert "0001_foundation" in up.stdout and "pending" not in up.stdout
    assert up.stdout.strip().endswith("database is up to date")

    parts = urlsplit(settings.database_url)
    empty = f"jg_empty_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(empty)))
    try:
        url = urlunsplit((parts.scheme, parts.netloc, f"/{empty}", "", ""))
        fresh = run_cli("migrate", "--status", "--database-url", url)
        assert fresh.returncode == 1
        assert "0001_foundation" in fresh.stdout and " pending" in fresh.stdout
        assert "database is up to date" not in fresh.stdout
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(empty))
            )
