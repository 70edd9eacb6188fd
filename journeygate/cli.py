"""The ``journeygate`` command line. Entry points are a few lines each; the work lives elsewhere."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from journeygate.errors import ConfigError, InfrastructureError
from journeygate.settings import Settings, load_settings

app = typer.Typer(
    name="journeygate",
    help="Connected-vehicle telemetry pipeline: MQTT → Kafka → PostgreSQL, and its tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
process_app = typer.Typer(help="Run one stream processor.", no_args_is_help=True)
app.add_typer(process_app, name="process")

MqttUrl = Annotated[
    str | None, typer.Option("--mqtt-url", help="MQTT broker URL (env JOURNEYGATE_MQTT_URL)")
]
KafkaBootstrap = Annotated[
    str | None,
    typer.Option(
        "--kafka-bootstrap", help="Kafka bootstrap servers (env JOURNEYGATE_KAFKA_BOOTSTRAP)"
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="PostgreSQL URL (env JOURNEYGATE_DATABASE_URL)"),
]
TopicPrefix = Annotated[
    str | None,
    typer.Option("--topic-prefix", help="Kafka topic prefix (env JOURNEYGATE_TOPIC_PREFIX)"),
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        help="Serve Prometheus metrics on this port (0: off) (env JOURNEYGATE_METRICS_PORT)",
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    typer.echo(f"journeygate: {message}", err=True)
    return typer.Exit(code)


def settings_from(**flags: Any) -> Settings:
    try:
        return load_settings(**flags)
    except ConfigError as exc:
        raise fail(str(exc)) from None


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Create the database if needed and apply pending migrations."""
    from journey.migrate import ensure_database
    from journey.migrate import migrate as apply

    settings = settings_from(database_url=database_url)
    try:
        ensure_database(settings.database_url)
        applied = apply(settings.database_url)
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    if applied:
        for m in applied:
            typer.echo(f"applied {m.version:04d}_{m.name}")
    else:
        typer.echo("database is up to date")


@app.command()
def bridge(
    mqtt_url: MqttUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
    metrics_port: MetricsPort = None,
    bridge_id: Annotated[
        str | None,
        typer.Option(
            "--bridge-id",
            help="Fixed MQTT client id of this bridge instance (env JOURNEYGATE_BRIDGE_ID)",
        ),
    ] = None,
    share_group: Annotated[
        str | None,
        typer.Option(
            "--share-group",
            help="Subscribe via $share/GROUP/ to scale out (env JOURNEYGATE_BRIDGE_SHARE_GROUP)",
        ),
    ] = None,
) -> None:
    """Forward vehicle telemetry from MQTT to Kafka, acking only what Kafka has stored."""
    from ingest.runner import run_bridge
    from journeygate.runtime import run_stage

    settings = settings_from(
        mqtt_url=mqtt_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        metrics_port=metrics_port,
        bridge_id=bridge_id,
        bridge_share_group=share_group,
    )
    raise typer.Exit(run_stage("bridge", run_bridge, settings))


@process_app.command("normalize")
def process_normalize(
    kafka_bootstrap: KafkaBootstrap = None,
    database_url: DatabaseUrl = None,
    topic_prefix: TopicPrefix = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Decode and validate telemetry.raw into telemetry.frames; bad messages to telemetry.dlq."""
    from journeygate.runtime import run_stage
    from processors.normalize.runner import run_normalizer

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        metrics_port=metrics_port,
    )
    raise typer.Exit(run_stage("normalize", run_normalizer, settings))


@process_app.command("store")
def process_store(
    kafka_bootstrap: KafkaBootstrap = None,
    database_url: DatabaseUrl = None,
    topic_prefix: TopicPrefix = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Write telemetry.frames into the telemetry table, exactly once."""
    from journeygate.runtime import run_stage
    from processors.store.runner import run_store

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        metrics_port=metrics_port,
    )
    raise typer.Exit(run_stage("store", run_store, settings))


@app.command()
def topics(kafka_bootstrap: KafkaBootstrap = None, topic_prefix: TopicPrefix = None) -> None:
    """Create the pipeline's Kafka topics if they are missing."""
    import asyncio

    from journeygate.kafka import Topics, ensure_topics

    settings = settings_from(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    try:
        asyncio.run(ensure_topics(settings))
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    for name in Topics.from_settings(settings).__slots__:
        typer.echo(getattr(Topics.from_settings(settings), name))


def _register_optional() -> None:
    """Commands that live beside their package (simulator, demo, bench)."""
    from bench.cli import register as register_bench
    from journeygate.demo import register as register_demo
    from simulator.cli import register as register_simulator

    register_simulator(app)
    register_demo(app)
    register_bench(app)


def main() -> None:
    _register_optional()
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"journeygate: {exc}", err=True)
        sys.exit(2)
    except InfrastructureError as exc:
        typer.echo(f"journeygate: {exc}", err=True)
        sys.exit(1)
