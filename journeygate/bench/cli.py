"""The ``journeygate bench`` command: a thin shell around
:func:`journeygate.bench.runner.run_bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from journeygate.bench.drive import BenchFailed
from journeygate.bench.options import sizes
from journeygate.bench.report import print_report, write_json
from journeygate.bench.runner import PARTS, Servers, run_bench
from journeygate.bench.stats import NotEnoughProgress
from kernel.cliopts import DatabaseUrl, KafkaBootstrap, MqttUrl, fail
from kernel.errors import InfrastructureError

REPORT_WIDTH = 120


def _console() -> Console:
    """The terminal, or a fixed width when the output goes to a file or pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=REPORT_WIDTH)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command to ``app``."""
    app.command("bench")(bench)


def bench(
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A reduced run (about three minutes) instead of the full one"),
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the results to this JSON file")
    ] = None,
    reps: Annotated[
        int | None, typer.Option(min=1, help="Repetitions of each measurement (median reported)")
    ] = None,
    parts: Annotated[
        str, typer.Option(help=f"Comma-separated subset of: {', '.join(PARTS)}")
    ] = ",".join(PARTS),
    scale_fleet: Annotated[
        int | None, typer.Option(min=1, help="Vehicles in the scale run")
    ] = None,
    scale_rounds: Annotated[
        float | None, typer.Option(min=1, help="Report periods (5 min each) the scale run lasts")
    ] = None,
    scale_acceleration: Annotated[
        float | None, typer.Option(min=0.01, help="Simulated seconds per second in the scale run")
    ] = None,
    bridges: Annotated[
        int, typer.Option(min=1, help="Bridge processes (shared subscription) in the scale run")
    ] = 1,
    normalizers: Annotated[
        int, typer.Option(min=1, help="Normalizer processes (one group) in the scale run")
    ] = 1,
    data_dir: Annotated[
        Path | None,
        typer.Option("--dir", help="Where servers and logs live (default: a temporary directory)"),
    ] = None,
    mqtt_url: MqttUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Measure throughput, CPU cost per message, latency and scale against raw ceilings.

    Starts private Mosquitto, Kafka-protocol and PostgreSQL servers (or uses the three given),
    runs each raw ceiling and each stage alone several times, then the whole pipeline, a
    simulated fleet, and the dealer API and webhook sender beside minimal ones, and prints a
    table per stage and the targets met or missed.
    """
    chosen = tuple(p.strip() for p in parts.split(",") if p.strip())
    unknown = set(chosen) - set(PARTS)
    if unknown or not chosen:
        raise typer.BadParameter(f"choose from {', '.join(PARTS)}", param_hint="--parts")
    given = [u for u in (mqtt_url, kafka_bootstrap, database_url) if u]
    if given and len(given) != 3:
        raise fail("give all of --mqtt-url, --kafka-bootstrap and --database-url, or none")
    external = (
        Servers(mqtt_url, kafka_bootstrap, database_url)
        if (mqtt_url and kafka_bootstrap and database_url)
        else None
    )
    try:
        chosen_sizes = sizes(
            quick,
            reps=reps,
            scale_fleet=scale_fleet,
            scale_rounds=scale_rounds,
            scale_acceleration=scale_acceleration,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    console = _console()
    try:
        with console.status("benchmark") as status:
            results = run_bench(
                chosen_sizes,
                quick=quick,
                parts=chosen,
                data_dir=data_dir,
                external=external,
                bridges=bridges,
                normalizers=normalizers,
                say=lambda text: status.update(f"benchmark: {text}"),
            )
    except (BenchFailed, NotEnoughProgress, InfrastructureError) as exc:
        raise fail(f"bench: {exc}", 1) from None
    print_report(results, console)
    if json_path is not None:
        write_json(results, json_path)
        console.print(f"results written to {json_path}")
