"""The servers a benchmark runs against, and isolated scenarios on them.

Every measurement gets a :class:`Scenario` of its own: Kafka topic prefix, MQTT topic root,
bridge id and a migrated database copied from a template, so repetitions never see each other's
data. :meth:`Lab.close` drops the databases and deletes the topics it created.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from psycopg import sql

from database.migrate import ensure_database, migrate
from journeygate.bench.feeder import Broker
from journeygate.bench.payloads import Fleet, fleet_vin
from journeygate.embedded.stack import StackEndpoints
from kernel.kafka import Topics, ensure_topics
from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings
from reference.catalog import default_catalog
from reference.markets import Market
from reference.models import ModelSpec

VEHICLES_COPY = (
    "COPY vehicles (vin, brand, model, model_year, powertrain, delivery_date, delivery_odometer_m,"
    " dealer_id, market, currency, finance_kind, finance_amount, finance_apr_pct,"
    " finance_term_months, finance_start, finance_balloon) FROM STDIN"
)
CONSENT_COPY = "COPY consent_changes (vin, purpose, granted, changed_at, source) FROM STDIN"
FLEET_MARKETS = ("US", "GB", "DE")
FLEET_FINANCE = ("cash", "loan", "pcp", "loan", "lease")
DELIVERED_DAYS_AGO = (30, 90)
"""Delivery 30-89 days before today: the bench fleet's odometers (1,000-2,000 km) then imply
11-67 km a day, an ordinary range."""
FINANCED_SHARE = 0.8
"""Amount financed, as a share of the model's list price in the market."""
BALLOON_SHARE = {"pcp": 0.45, "lease": 0.55}
SESSION_TIMEOUT_MS = 3000  # a Tansu group admits a member after half of it
HEARTBEAT_MS = 500


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@dataclass(frozen=True, slots=True)
class Scenario:
    """One measurement's isolated names and database, and the fleet it sends."""

    settings: Settings
    fleet: Fleet
    log_dir: Path

    @property
    def topics(self) -> Topics:
        return Topics.from_settings(self.settings)

    @property
    def broker(self) -> Broker:
        target = parse_mqtt_url(self.settings.mqtt_url)
        return Broker(target.host, target.port, target.username, target.password)

    def env(self) -> dict[str, str]:
        """``JOURNEYGATE_*`` variables that point a stage process at this scenario."""
        s = self.settings
        return {
            "JOURNEYGATE_MQTT_URL": s.mqtt_url,
            "JOURNEYGATE_MQTT_TOPIC_ROOT": s.mqtt_topic_root,
            "JOURNEYGATE_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "JOURNEYGATE_KAFKA_IDEMPOTENCE": "true" if s.kafka_idempotence else "false",
            "JOURNEYGATE_KAFKA_PARTITIONS": str(s.kafka_partitions),
            "JOURNEYGATE_TOPIC_PREFIX": s.topic_prefix,
            "JOURNEYGATE_DATABASE_URL": s.database_url,
            "JOURNEYGATE_BRIDGE_ID": s.bridge_id,
            "JOURNEYGATE_BRIDGE_SHARE_GROUP": s.bridge_share_group,
            "JOURNEYGATE_KAFKA_SESSION_TIMEOUT_MS": str(s.kafka_session_timeout_ms),
            "JOURNEYGATE_KAFKA_HEARTBEAT_INTERVAL_MS": str(s.kafka_heartbeat_interval_ms),
        }


@dataclass
class Lab:
    """Servers shared by every measurement of one ``journeygate bench`` run."""

    endpoints: StackEndpoints
    root: Path
    partitions: int = 4
    idempotence: bool = False
    _databases: list[str] = field(default_factory=list)
    _topics: list[str] = field(default_factory=list)
    _template: str | None = None
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def _admin_url(self) -> str:
        return with_database(self.endpoints.database_url, "postgres")

    def _template_db(self) -> str:
        if self._template is None:
            name = f"jg_bench_template_{uuid.uuid4().hex[:8]}"
            url = with_database(self.endpoints.database_url, name)
            ensure_database(url)
            migrate(url)
            self._databases.append(name)
            self._template = name
        return self._template

    def scenario(
        self, name: str, fleet_size: int, *, signals: bool = False, **overrides: object
    ) -> Scenario:
        """Fresh names, topics and database for one measurement; with ``signals``, also the
        signals processor's topics (created here so that :meth:`release` deletes them)."""
        n = next(self._counter)
        tag = f"{uuid.uuid4().hex[:6]}{n}"
        template = self._template_db()
        dbname = f"jg_bench_{name}_{tag}"
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(dbname), sql.Identifier(template)
                )
            )
        self._databases.append(dbname)
        values: dict[str, object] = {
            "kafka_partitions": self.partitions,
            "kafka_idempotence": self.idempotence,
            "topic_prefix": f"b{tag}.",
            "mqtt_topic_root": f"b{tag}/vehicles",
            "bridge_id": f"bridge-{tag}",
            "database_url": with_database(self.endpoints.database_url, dbname),
            "kafka_session_timeout_ms": SESSION_TIMEOUT_MS,
            "kafka_heartbeat_interval_ms": HEARTBEAT_MS,
        }
        values.update(overrides)
        settings = self.endpoints.settings(**values)
        topics = Topics.from_settings(settings)
        names = _topic_names(topics, signals)
        asyncio.run(ensure_topics(settings, names))
        self._topics.extend(names)
        log_dir = self.root / "logs" / f"{name}-{tag}"
        log_dir.mkdir(parents=True, exist_ok=True)
        return Scenario(settings, Fleet(fleet_size, tag=n + 1), log_dir)

    def release(self, scenario: Scenario) -> None:
        """Delete a finished scenario's topics and database, freeing the brokers' memory."""
        topics = scenario.topics
        names = [t for t in _topic_names(topics, signals=True) if t in self._topics]
        dbname = urlsplit(scenario.settings.database_url).path.lstrip("/")
        self._drop(names, [dbname] if dbname in self._databases else [])

    def close(self) -> None:
        """Delete the topics and drop the databases this lab created."""
        self._drop(list(self._topics), list(reversed(self._databases)))

    def _drop(self, topics: list[str], databases: list[str]) -> None:
        if topics:
            asyncio.run(_delete_topics(self.endpoints.kafka_bootstrap, topics))
            self._topics = [t for t in self._topics if t not in topics]
        if databases:
            with psycopg.connect(self._admin_url(), autocommit=True) as conn:
                for name in databases:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
            self._databases = [d for d in self._databases if d not in databases]


def _topic_names(topics: Topics, signals: bool) -> list[str]:
    """The topics a scenario's stages use (with ``signals``, the signals and journey
    processors' too)."""
    names = [topics.raw, topics.dlq, topics.frames, topics.receipts, topics.acks]
    if not signals:
        return names
    return [*names, topics.services, topics.signals, topics.consent, topics.alerts]


async def _delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    except KafkaError:
        pass  # deleting is only to free the broker's memory
    finally:
        await admin.close()


def register_fleet(database_url: str, fleet: Fleet) -> None:
    """Register every vehicle of ``fleet`` (one COPY; a million rows take seconds).

    The rows are what a dealer's registry holds (:func:`fleet_row`): models from the reference
    catalog, markets it prices, cash, loans, PCP and leases, so that the signals processor
    forecasts, prices and values every vehicle as it would in production.
    """
    catalog = default_catalog()
    markets = [catalog.market(code) for code in FLEET_MARKETS]
    today = datetime.now(UTC).date()
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        conn.cursor() as cur,
        cur.copy(VEHICLES_COPY) as copy,
    ):
        for i in range(fleet.size):
            copy.write_row(fleet_row(i, catalog.models, markets, today))


def register_consent(database_url: str, rows: Iterable[tuple[object, ...]]) -> None:
    """Record consent changes ``(vin, purpose, granted, changed_at, source)`` (one COPY)."""
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        conn.cursor() as cur,
        cur.copy(CONSENT_COPY) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def fleet_row(
    i: int, models: Sequence[ModelSpec], markets: Sequence[Market], today: date
) -> tuple[object, ...]:
    """The registry row of vehicle ``i`` (columns of :data:`VEHICLES_COPY`)."""
    model = models[i % len(models)]
    market = markets[i // 7 % len(markets)]
    kind = FLEET_FINANCE[i // 3 % len(FLEET_FINANCE)]
    low, high = DELIVERED_DAYS_AGO
    delivered = today - timedelta(days=low + i % (high - low))
    price = model.msrp_usd * market.factor
    finance: tuple[object, ...] = (kind, None, None, None, None, None)
    if kind != "cash":
        balloon = round(price * BALLOON_SHARE.get(kind, 0.0), 2)
        amount = round(price * FINANCED_SHARE, 2)
        finance = (kind, amount, 6.9, 36 if kind != "loan" else 60, delivered, balloon)
    return (
        fleet_vin(i),
        model.brand,
        model.model,
        _model_year(model, delivered.year),
        model.powertrain,
        delivered,
        i % 50 * 1000,
        f"D{i % 50:03d}",
        market.code,
        market.currency,
        *finance,
    )


def _model_year(model: ModelSpec, delivered_year: int) -> int:
    year = delivered_year if model.year_to is None else min(delivered_year, model.year_to)
    return max(model.year_from, year)
