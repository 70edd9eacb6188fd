"""The ``journeygate`` command line. Entry points are a few lines each; the work lives elsewhere.

Commands that live beside their package (the simulator, the demo, the benchmark, the dealer API,
...) are loaded only when used: their modules import much (numpy, the Kafka and database
clients, the benchmark), and ``journeygate --help`` or ``--version`` should not wait for that.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from kernel.cliopts import (
    DatabaseUrl,
    KafkaBootstrap,
    MetricsPort,
    MqttUrl,
    TopicPrefix,
    WaitS,
    fail,
    settings_from,
)
from kernel.errors import ConfigError, InfrastructureError

# Commands loaded on use: name -> (module with ``register(app)``, the command's summary as its
# help shows it; tests/integration/journeygate/test_cli.py checks both against the real one).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": (
        "simulator.cli",
        "Publish a reproducible fleet's telemetry over MQTT, registering its vehicles first.",
    ),
    "verify": (
        "simulator.cli",
        "Judge what the store and telemetry.dlq hold against a simulation's truth file.",
    ),
    "score": (
        "simulator.cli",
        "Score the store's predictions against a simulation's hidden future.",
    ),
    "demo": (
        "journeygate.demo",
        "Start the embedded stack, run a simulated fleet through every stage, print what happened.",
    ),
    "funnel": (
        "journeygate.funnel_cli",
        "Per gate and dealer: entered, alerted, acknowledged, came in; where owners left; bills.",
    ),
    "registry": ("journeygate.registry_cli", "Import or export the vehicle registry."),
    "services": ("journeygate.services_cli", "Import completed service visits."),
    "bench": (
        "journeygate.bench.cli",
        "Measure throughput, CPU cost per message, latency and scale against raw ceilings.",
    ),
    "dealers": ("dealers.cli", "Dealers of the HTTP API and their keys."),
    "api": (
        "dealers.cli",
        "Serve the dealer HTTP API (docs/api.md; OpenAPI at /openapi.json) and the dealer inbox"
        " page (/inbox).",
    ),
    "webhooks": (
        "dealers.cli",
        'Deliver dealer alert webhooks until Ctrl-C or SIGTERM (docs/api.md, "Webhooks").',
    ),
    "dlq": (
        "journeygate.dlq_cli",
        "Read the dead-letter topic and replay dead letters after a fix.",
    ),
    "status": (
        "journeygate.status_cli",
        "Where each stage stands, and whether the pipeline is healthy (exit 1 if not).",
    ),
    "soak": (
        "journeygate.soak_cli",
        "Run the pipeline under a fleet with random faults; judge it and show memory over time.",
    ),
}


# Typed Any below: the click classes are typer's (vendored in recent releases, click's own in
# older ones).


def load_command(name: str) -> Any:
    """The real command ``name`` of :data:`LAZY_COMMANDS` (a click command), importing its
    module."""
    module, _ = LAZY_COMMANDS[name]
    scratch = typer.Typer()
    importlib.import_module(module).register(scratch)
    return typer.main.get_group(scratch).commands[name]


class LazyGroup(TyperGroup):
    """The top-level group: :data:`LAZY_COMMANDS` are listed from their summaries and loaded
    only when one of them is run (or its own help asked for)."""

    def list_commands(self, ctx: Any) -> list[str]:
        eager = super().list_commands(ctx)
        return eager + [name for name in LAZY_COMMANDS if name not in eager]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in LAZY_COMMANDS:
            return found
        # A stand-in that only tells its summary, for the list of commands in --help.
        return TyperCommand(cmd_name, help=LAZY_COMMANDS[cmd_name][1])

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] in LAZY_COMMANDS and args[0] not in self.commands:
            self.add_command(load_command(args[0]), args[0])
        return super().resolve_command(ctx, args)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"journeygate {version('journeygate')}")
        raise typer.Exit()


app = typer.Typer(
    name="journeygate",
    help="Connected-vehicle telemetry pipeline: MQTT → Kafka → PostgreSQL, and its tools.",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed version and exit",
        ),
    ] = False,
) -> None:
    """Connected-vehicle telemetry pipeline: MQTT → Kafka → PostgreSQL, and its tools."""


process_app = typer.Typer(help="Run one stream processor.", no_args_is_help=True)
app.add_typer(process_app, name="process")


@app.command()
def migrate(
    database_url: DatabaseUrl = None,
    wait_s: WaitS = 0.0,
    status: Annotated[
        bool,
        typer.Option("--status", help="List applied and pending migrations; exit 1 if pending"),
    ] = False,
) -> None:
    """Create the database if needed and apply pending migrations."""
    from database.migrate import apply_policies, migrate_within, policies

    settings = settings_from(database_url=database_url)
    if status:
        _migration_status(settings.database_url)
        return
    chosen = policies(settings.store_retention_days, settings.store_compress_after_days)
    try:
        applied = migrate_within(settings.database_url, wait_s)
        timescale = apply_policies(settings.database_url, chosen)
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    if applied:
        for m in applied:
            typer.echo(f"applied {m.version:04d}_{m.name}")
    else:
        typer.echo("database is up to date")
    if timescale:
        for p in chosen:
            keep = "forever" if p.retention_days == -1 else f"{p.retention_days:g} days"
            pack = (
                "never" if p.compress_after_days == -1 else f"after {p.compress_after_days:g} days"
            )
            typer.echo(f"TimescaleDB {p.table}: kept {keep}, compressed {pack}")


def _migration_status(database_url: str) -> None:
    from database.migrate import migration_status
    from database.schema import available_migrations

    try:
        states = migration_status(database_url)
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    shipped = {m.version for m in available_migrations()}
    for m in states:
        when = "pending" if m.applied_at is None else f"applied {m.applied_at.isoformat()}"
        extra = "" if m.version in shipped else " (not in this release: a newer one ran here)"
        typer.echo(f"{m.version:04d}_{m.name:<28} {when}{extra}")
    pending = sum(m.applied_at is None for m in states)
    typer.echo(f"{pending} pending" if pending else "database is up to date")
    if pending:
        raise typer.Exit(1)


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
    from kernel.runtime import run_stage

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
    from kernel.runtime import run_stage
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
    from kernel.runtime import run_stage
    from processors.store.runner import run_store

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        metrics_port=metrics_port,
    )
    raise typer.Exit(run_stage("store", run_store, settings))


@process_app.command("signals")
def process_signals(
    kafka_bootstrap: KafkaBootstrap = None,
    database_url: DatabaseUrl = None,
    topic_prefix: TopicPrefix = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Turn telemetry.frames and vehicle.services into vehicle.signals and vehicle_state."""
    from kernel.runtime import run_stage
    from processors.signals.runner import run_signals

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        metrics_port=metrics_port,
    )
    raise typer.Exit(run_stage("signals", run_signals, settings))


@process_app.command("journey")
def process_journey(
    kafka_bootstrap: KafkaBootstrap = None,
    database_url: DatabaseUrl = None,
    topic_prefix: TopicPrefix = None,
    metrics_port: MetricsPort = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Alert rules file (default: processors/journey/alert_rules.toml; docs/journey.md)",
        ),
    ] = None,
) -> None:
    """Turn vehicle.signals, vehicle.services and vehicle.consent into gates and dealer.alerts."""
    import asyncio

    from kernel.runtime import run_stage
    from kernel.settings import Settings
    from processors.journey.rules import load_rules
    from processors.journey.runner import JourneyOptions, run_journey_with

    settings = settings_from(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        metrics_port=metrics_port,
    )
    load_rules(rules)  # a bad file stops here with one line naming file, entry and field
    options = JourneyOptions(rules_path=rules)

    async def main(stage_settings: Settings, stop: asyncio.Event) -> None:
        await run_journey_with(stage_settings, stop, options)

    raise typer.Exit(run_stage("journey", main, settings))


@app.command()
def topics(
    kafka_bootstrap: KafkaBootstrap = None, topic_prefix: TopicPrefix = None, wait_s: WaitS = 0.0
) -> None:
    """Create the missing Kafka topics, then list each with its partitions and retention.

    A topic is made with JOURNEYGATE_KAFKA_PARTITIONS and its retention (docs/operations.md,
    "Topics and migrations"); an existing topic is never altered."""
    import asyncio

    from kernel.kafka import describe_topics, ensure_topics_within

    settings = settings_from(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    try:
        ensure_topics_within(settings, wait_s)
        described = asyncio.run(describe_topics(settings))
    except InfrastructureError as exc:
        raise fail(str(exc), 1) from None
    for t in described:
        note = ""
        if t.retention_ms is not None and t.retention_ms != t.wanted_retention_ms:
            note = f" (setting: {_retention(t.wanted_retention_ms)}; the topic was made before)"
        typer.echo(
            f"{t.name:<32} {t.partitions:>4} partitions  retention {_retention(t.retention_ms)}"
            + note
        )


def _retention(ms: int | None) -> str:
    if ms is None:
        return "not reported"
    if ms < 0:
        return "forever"
    return f"{ms / 86_400_000:g} d"


@app.command("score-alerts")
def score_alerts(
    truth: Annotated[
        Path, typer.Option("--truth", help="Truth file of `journeygate simulate --truth FILE`")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON document instead of the table")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Score the dealer alerts in the store against a simulation's truth (docs/journey.md)."""
    import orjson
    from rich.console import Console

    from reference.catalog import default_catalog
    from simulator.scoring.alerts import (
        alerts_score_table,
        read_alert_truth,
        read_stored_alerts,
    )
    from simulator.scoring.alerts import score_alerts as compute

    settings = settings_from(database_url=database_url)
    try:
        doc = compute(
            read_alert_truth(truth), read_stored_alerts(settings.database_url), default_catalog()
        )
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except InfrastructureError as exc:
        raise fail(str(exc), 3) from None
    if as_json:
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        Console(width=160).print(alerts_score_table(doc))


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"journeygate: {exc}", err=True)
        sys.exit(2)
    except InfrastructureError as exc:
        typer.echo(f"journeygate: {exc}", err=True)
        sys.exit(1)
