"""Option types and helpers shared by every command line of the project (one line per error).

Settings are imported when a command reads them, not with this module: ``journeygate --help``
does not wait for pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from kernel.errors import ConfigError

if TYPE_CHECKING:
    from kernel.settings import Settings

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

WaitS = Annotated[
    float,
    typer.Option(
        "--wait-s",
        min=0,
        help="Retry an unreachable server with backoff for up to this many seconds (0: try once)",
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    typer.echo(f"journeygate: {message}", err=True)
    return typer.Exit(code)


def settings_from(**flags: Any) -> Settings:
    from kernel.settings import load_settings

    try:
        return load_settings(**flags)
    except ConfigError as exc:
        raise fail(str(exc)) from None
