"""``journeygate registry import|export``: the vehicle registry as a CSV or JSON-lines file;
``journeygate registry market-index``: the markets' used-car value indices.

Exit status of ``import`` and ``market-index``: 0 when every row was accepted, 1 when any row was
rejected (the accepted rows are still written, in one transaction), 2 for a bad option or an
unreadable file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kernel.cliopts import (
    DatabaseUrl,
    KafkaBootstrap,
    TopicPrefix,
    fail,
    json_lines_for,
    read_rows,
    settings_from,
)

registry_app = typer.Typer(help="Import or export the vehicle registry.", no_args_is_help=True)
EXIT_REJECTED = 1

Format = Annotated[
    str | None,
    typer.Option(
        "--format", help="csv or jsonl (default: from the file name; csv for standard output)"
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


@registry_app.command("import")
def import_registry(
    file: Annotated[Path, typer.Argument(help="Registry file (CSV with a header, or JSON lines)")],
    fmt: Format = None,
    database_url: DatabaseUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish/--no-publish",
            help="Publish the consent changes stored on Kafka vehicle.consent (docs/journey.md)",
        ),
    ] = True,
) -> None:
    """Upsert the vehicles of FILE; report each rejected row with its line number and reason."""
    from database.registry_file import parse_registry
    from database.vehicles import upsert_vehicles
    from journeygate.consent_publish import publisher

    json_lines = json_lines_for(fmt, file)
    settings = settings_from(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix
    )
    accepted, rejected = read_rows(file, lambda t: parse_registry(t, json_lines=json_lines))
    published: list[int] = []
    written = upsert_vehicles(
        settings.database_url,
        accepted,
        source=f"import:{file.name}",
        on_consent_changes=publisher(settings, published) if publish else None,
    )
    note = f", {sum(published)} consent changes published" if publish else ""
    typer.echo(f"{written} vehicles upserted, {len(rejected)} rows rejected{note}")
    if rejected:
        raise typer.Exit(EXIT_REJECTED)


@registry_app.command("export")
def export_registry(
    file: Annotated[
        Path | None, typer.Argument(help="Write here (default: standard output)")
    ] = None,
    fmt: Format = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write every registered vehicle, with the consent in force, in the import format."""
    from database.registry_file import format_registry
    from database.vehicles import read_vehicles

    json_lines = json_lines_for(fmt, file)
    settings = settings_from(database_url=database_url)
    text = format_registry(read_vehicles(settings.database_url), json_lines=json_lines)
    if file is None:
        sys.stdout.write(text)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {file}: {exc}") from None


@registry_app.command("market-index")
def import_market_index(
    file: Annotated[
        Path, typer.Argument(help="Index file: market, as_of, factor, source (CSV or JSON lines)")
    ],
    fmt: Format = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Upsert the market value indices of FILE (what used cars fetch against the catalog's
    depreciation curves); report each rejected row with its line number and reason."""
    from database.market_index import parse_market_index, upsert_market_index

    json_lines = json_lines_for(fmt, file)
    settings = settings_from(database_url=database_url)
    accepted, rejected = read_rows(file, lambda t: parse_market_index(t, json_lines=json_lines))
    written = upsert_market_index(settings.database_url, accepted)
    typer.echo(f"{written} market indices upserted, {len(rejected)} rows rejected")
    if rejected:
        raise typer.Exit(EXIT_REJECTED)
