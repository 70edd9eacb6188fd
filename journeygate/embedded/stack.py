"""The embedded stack: private PostgreSQL, MQTT broker and Kafka-protocol broker on free ports.

Used by ``journeygate demo``, ``journeygate stack`` and the test suite. Everything lives under one
directory and every server is stopped when the stack is closed (or its parent dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from database.migrate import ensure_database, migrate
from journeygate.embedded.kafka import EmbeddedKafka
from journeygate.embedded.mqtt import EmbeddedMqtt
from journeygate.embedded.postgres import EmbeddedPostgres
from kernel.kafka import ensure_topics
from kernel.settings import Settings, load_settings

DATABASE = "journeygate"


@dataclass(frozen=True, slots=True)
class StackEndpoints:
    mqtt_url: str
    mqtt_kind: str
    kafka_bootstrap: str
    database_url: str
    root: Path

    def env(self) -> dict[str, str]:
        """Environment variables that point every stage at this stack."""
        return {
            "JOURNEYGATE_MQTT_URL": self.mqtt_url,
            "JOURNEYGATE_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "JOURNEYGATE_DATABASE_URL": self.database_url,
            # The embedded Tansu broker does not implement idempotent producers.
            "JOURNEYGATE_KAFKA_IDEMPOTENCE": "false",
        }

    def settings(self, **overrides: object) -> Settings:
        base: dict[str, object] = {
            "mqtt_url": self.mqtt_url,
            "kafka_bootstrap": self.kafka_bootstrap,
            "database_url": self.database_url,
            "kafka_idempotence": False,
        }
        base.update(overrides)
        return load_settings(**base)


@contextlib.contextmanager
def embedded_stack(
    root: Path | None = None,
    *,
    mqtt: str = "auto",
    durable_postgres: bool = True,
    kafka_partitions: int = 4,
) -> Iterator[StackEndpoints]:
    """Start the three servers, create the database, apply migrations and create the topics."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="journeygate-")))
        pg = EmbeddedPostgres(root / "postgres", durable=durable_postgres)
        broker = EmbeddedMqtt(root / "mqtt", prefer=mqtt)
        kafka = EmbeddedKafka(root / "kafka")
        for server in (pg, broker, kafka):
            stack.callback(server.stop)
            server.start()
        database_url = pg.url(DATABASE)
        ensure_database(database_url)
        migrate(database_url)
        endpoints = StackEndpoints(
            mqtt_url=broker.url,
            mqtt_kind=broker.kind,
            kafka_bootstrap=kafka.bootstrap,
            database_url=database_url,
            root=root,
        )
        asyncio.run(ensure_topics(endpoints.settings(kafka_partitions=kafka_partitions)))
        yield endpoints
