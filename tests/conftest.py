"""Shared fixtures: real servers for the whole session, isolated names for each test.

By default a private PostgreSQL, MQTT broker and Kafka-protocol broker are started on free
loopback ports (the same embedded stack as ``make demo``). To use existing servers instead, set
all three of ``JOURNEYGATE_TEST_MQTT_URL``, ``JOURNEYGATE_TEST_KAFKA_BOOTSTRAP`` and
``JOURNEYGATE_TEST_DATABASE_URL`` (the database URL's user must be allowed to create databases
and roles).
``JOURNEYGATE_TEST_MQTT_BROKER=amqtt`` forces the amqtt broker for the embedded stack.

Each test gets its own Kafka topic prefix, MQTT topic root and database, so tests never see each
other's data even on shared servers.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from psycopg import sql

from database.migrate import ensure_database, migrate
from journeygate.embedded.stack import StackEndpoints, embedded_stack
from kernel.kafka import ensure_topics
from kernel.native import PACKAGES, prefer_sources, stale
from kernel.settings import Settings, load_settings

_counter = itertools.count()
ROOT = Path(__file__).resolve().parents[1]
PURE_PYTHON = os.environ.get("JOURNEYGATE_TEST_PURE_PYTHON") == "1"
if PURE_PYTHON:  # the sources of compiled modules (tests/unit/test_pure_python.py)
    for package in PACKAGES:
        prefer_sources(ROOT, package)


# The suite runs on three workers beside servers and pipelines: input generation and examples can
# be slow for reasons that are not the code under test, so neither is judged by the clock.
hypothesis_settings.register_profile(
    "journeygate", suppress_health_check=[HealthCheck.too_slow], deadline=None
)
# The plain-Python rerun of the compiled modules' tests checks that the same code passes them
# uncompiled: a quarter of the examples, since the search itself is the compiled run's.
hypothesis_settings.register_profile(
    "journeygate-plain", parent=hypothesis_settings.get_profile("journeygate"), max_examples=25
)
hypothesis_settings.load_profile("journeygate-plain" if PURE_PYTHON else "journeygate")


def pytest_configure(config: pytest.Config) -> None:
    # A compiled module is imported in place of its source (setup.py): a test run after an edit
    # would test the code as it was.
    changed = [str(p.relative_to(ROOT)) for d in PACKAGES for p in stale(ROOT / d)]
    if changed and not PURE_PYTHON:
        raise pytest.UsageError(
            f"{', '.join(changed)} changed since compiled: run make (or make COMPILE=0)"
        )


def _external_endpoints() -> StackEndpoints | None:
    mqtt = os.environ.get("JOURNEYGATE_TEST_MQTT_URL")
    kafka = os.environ.get("JOURNEYGATE_TEST_KAFKA_BOOTSTRAP")
    db = os.environ.get("JOURNEYGATE_TEST_DATABASE_URL")
    if not (mqtt and kafka and db):
        return None
    return StackEndpoints(
        mqtt_url=mqtt,
        mqtt_kind="external",
        kafka_bootstrap=kafka,
        database_url=db,
        root=Path("/nonexistent"),
    )


@pytest.fixture(scope="session")
def servers() -> Iterator[StackEndpoints]:
    """The session's MQTT, Kafka-protocol and PostgreSQL servers."""
    external = _external_endpoints()
    if external is not None:
        yield external
        return
    # Not under pytest's base temp: another pytest session would reset its permissions, and the
    # PostgreSQL server runs as an unprivileged user when the suite runs as root.
    root = Path(tempfile.mkdtemp(prefix="journeygate-test-stack-"))
    prefer = os.environ.get("JOURNEYGATE_TEST_MQTT_BROKER", "auto")
    try:
        with embedded_stack(root, mqtt=prefer, durable_postgres=False) as endpoints:
            yield endpoints
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def template_db(servers: StackEndpoints) -> Iterator[str]:
    """A migrated database that per-test databases are copied from."""
    name = f"jg_template_{uuid.uuid4().hex[:8]}"
    url = _with_db(servers.database_url, name)
    ensure_database(url)
    migrate(url)
    admin_url = _with_db(servers.database_url, "postgres")
    # TimescaleDB's scheduler and policy jobs connect to every database with the extension, and
    # CREATE DATABASE ... TEMPLATE fails while any session is on the template: close it to
    # connections (it can still be copied) and end the sessions already on it.
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    yield name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def make_settings(servers: StackEndpoints, template_db: str) -> Iterator[Callable[..., Settings]]:
    """Factory of isolated settings: fresh topics, MQTT topic root and migrated database."""
    created: list[str] = []
    admin_url = _with_db(servers.database_url, "postgres")

    def factory(**overrides: object) -> Settings:
        n = next(_counter)
        tag = f"{uuid.uuid4().hex[:6]}{n}"
        dbname = f"jg_test_{tag}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(dbname), sql.Identifier(template_db)
                )
            )
        created.append(dbname)
        values: dict[str, object] = {
            "mqtt_url": servers.mqtt_url,
            "kafka_bootstrap": servers.kafka_bootstrap,
            "database_url": _with_db(servers.database_url, dbname),
            "kafka_idempotence": False,
            "kafka_partitions": 4,
            "topic_prefix": f"t{tag}.",
            "mqtt_topic_root": f"t{tag}/vehicles",
            "bridge_id": f"bridge-{tag}",
            # A consumer joins a Tansu group after half its session timeout: keep tests quick.
            "kafka_session_timeout_ms": 3000,
            "kafka_heartbeat_interval_ms": 500,
        }
        values.update(overrides)
        settings = load_settings(**values)
        asyncio.run(ensure_topics(settings))
        return settings

    yield factory

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for dbname in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Isolated settings for one test."""
    return make_settings()


@pytest.fixture
def bare_database(servers: StackEndpoints) -> Iterator[str]:
    """The URL of a database that exists but was never migrated."""
    name = f"jg_bare_{uuid.uuid4().hex[:8]}"
    url = _with_db(servers.database_url, name)
    ensure_database(url)
    yield url
    with psycopg.connect(_with_db(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
