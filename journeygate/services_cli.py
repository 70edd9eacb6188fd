"""``journeygate services import FILE``: completed service visits from a CSV or JSON-lines file
onto Kafka ``vehicle.services`` (docs/services.md).

Exit status: 0 when every row was accepted and published, 1 when any row was rejected (the
accepted rows are still published) or Kafka failed, 2 for a bad option or an unreadable file.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from kernel.cliopts import (
    KafkaBootstrap,
    TopicPrefix,
    fail,
    json_lines_for,
    read_rows,
    settings_from,
)
from kernel.errors import InfrastructureError

services_app = typer.Typer(help="Import completed service visits.", no_args_is_help=True)
EXIT_REJECTED = 1


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")


@services_app.command("import")
def import_services(
    file: Annotated[Path, typer.Argument(help="Visits file (CSV with a header, or JSON lines)")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the file name)")
    ] = None,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
) -> None:
    """Publish the visits of FILE to vehicle.services; name each rejected row with its line."""
    from kernel.kafka import VEHICLE_SERVICES
    from schemas.services_file import parse_services
    from simulator.publishing.services import publish_visits

    json_lines = json_lines_for(fmt, file)
    settings = settings_from(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    now = datetime.now(UTC)
    accepted, rejected = read_rows(
        file, lambda t: parse_services(t, json_lines=json_lines, now=now)
    )
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        delivered = publish_visits(settings, accepted)
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    topic = settings.topic(VEHICLE_SERVICES)
    typer.echo(f"{len(delivered)} visits published to {topic}, {len(rejected)} rows rejected")
    if rejected:
        raise typer.Exit(EXIT_REJECTED)
