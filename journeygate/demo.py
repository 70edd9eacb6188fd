"""``journeygate demo``: embedded stack, every stage as a process, a simulated fleet, a summary."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from database.inspect import store_counts
from journeygate.embedded.pipeline import PipelineProcesses
from journeygate.embedded.stack import StackEndpoints, embedded_stack
from kernel.deadletters import count_by_reason, read_dead_letters
from kernel.errors import InfrastructureError
from kernel.settings import Settings

if TYPE_CHECKING:
    from simulator.runner import SimulationResult
    from simulator.scenario.params import SimulationParams

console = Console(width=None if sys.stdout.isatty() else 120)
"""A terminal's own width; 120 columns into a file or pipe (80, rich's default there, cut the
funnel's headings), as the other commands' tables."""

BRIDGE_READY_METRIC = "journeygate_bridge_connected"


def wait_for_bridge(pipeline: PipelineProcesses, timeout_s: float = 60.0) -> None:
    """Block until the bridge reports a subscribed MQTT session (earlier messages would be lost)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pipeline.check_alive()
        if pipeline.scrape("bridge").get(BRIDGE_READY_METRIC) == 1.0:
            return
        time.sleep(0.1)
    raise InfrastructureError(f"the bridge did not connect to MQTT within {timeout_s:.0f}s")


def wait_for_drain(
    pipeline: PipelineProcesses,
    settings: Settings,
    expected_samples: int,
    expected_dead_letters: int,
    timeout_s: float,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Poll the store and the DLQ until they hold what was sent (or the timeout passes)."""
    task = progress.add_task("stored samples", total=expected_samples) if progress else None
    deadline = time.monotonic() + timeout_s
    samples = letters = 0
    while time.monotonic() < deadline:
        pipeline.check_alive()
        samples = store_counts(settings.database_url).samples
        letters = len(asyncio.run(read_dead_letters(settings)))
        if progress is not None and task is not None:
            progress.update(task, completed=samples)
        if samples >= expected_samples and letters >= expected_dead_letters:
            break
        time.sleep(0.5)
    return samples, letters


DEFAULTS: dict[str, Any] = {
    "vehicles": 300,
    "days": 28,
    "seed": 42,
    "duplicate_rate": 0.01,
    "malformed_rate": 0.002,
}
"""The demo's fleet without a scenario: small enough to run through in well under a minute."""


def simulation_params(
    scenario: str | None, truth_path: Path, now: str | None, **given: Any
) -> SimulationParams:
    """The run the demo simulates: ``scenario`` (else the built-in one at :data:`DEFAULTS`),
    with the values ``given`` (``None``: not given) in place of its own."""
    from simulator.scenario.files import named_scenario, parse_now
    from simulator.scenario.params import SimulationParams

    base, source = named_scenario(scenario)
    if scenario is None:
        given = {k: DEFAULTS.get(k) if v is None else v for k, v in given.items()}
    return SimulationParams(
        scenario=base,
        scenario_source=source,
        now=parse_now(now),
        truth_path=truth_path,
        **given,
    )


def _summary(
    result: SimulationResult,
    settings: Settings,
    pipeline: PipelineProcesses,
    elapsed_s: float,
    endpoints: StackEndpoints,
    keep_running: bool,
    scenario: str,
) -> bool:
    from simulator.truth.verify import collect_verdict

    assert result.truth_path is not None
    verdict = collect_verdict(settings, result.truth_path)
    letters = asyncio.run(read_dead_letters(settings))
    by_reason = count_by_reason(letters)
    norm = pipeline.scrape("normalize")
    store = pipeline.scrape("store")
    table = Table(title="journeygate demo", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("scenario", scenario)
    table.add_row("vehicles registered", f"{result.vehicles:,}")
    table.add_row("MQTT messages published (QoS 1)", f"{result.messages_published:,}")
    table.add_row(
        "  valid messages / samples", f"{result.valid_messages:,} / {result.valid_samples:,}"
    )
    table.add_row("  duplicate publishes", f"{result.duplicates:,}")
    table.add_row("  malformed", f"{sum(result.malformed.values()):,}")
    table.add_row("samples stored exactly once", f"{verdict.stored_once:,}")
    table.add_row(
        "  missing / stored twice", f"{verdict.missing_samples} / {verdict.doubled_samples}"
    )
    table.add_row("dead-lettered", f"{len(letters):,}")
    for (stage, reason), n in sorted(by_reason.items()):
        table.add_row(f"  {stage}: {reason}", f"{n:,}")
    dup_norm = norm.get("journeygate_normalize_duplicates_total", 0.0)
    dup_store = store.get("journeygate_store_duplicates_absorbed_total", 0.0)
    table.add_row("duplicates absorbed (normalizer + store)", f"{int(dup_norm)} + {int(dup_store)}")
    rate = result.messages_published / elapsed_s if elapsed_s > 0 else 0.0
    table.add_row("end-to-end throughput", f"{rate:,.0f} msg/s over {elapsed_s:.1f} s")
    console.print(table)
    if verdict.passed:
        console.print(
            "[green]verdict: every valid sample stored exactly once, every malformed message "
            "dead-lettered with its expected reason[/]"
        )
    else:
        console.print(
            f"[red]verdict: the pipeline does not match what was sent[/] {verdict.examples}"
        )
    console.print(f"MQTT broker: {endpoints.mqtt_kind} at {endpoints.mqtt_url}")
    console.print(f"Kafka (Tansu): {endpoints.kafka_bootstrap}")
    if keep_running:
        console.print(f"PostgreSQL: [bold]psql {endpoints.database_url}[/]")
    else:
        console.print(
            f"PostgreSQL data: {endpoints.root / 'postgres'} (servers stop now; "
            "--keep-running keeps them up and prints a psql command)"
        )
    console.print(f"Truth file: {result.truth_path}   Stage logs: {pipeline.log_dir}")
    return verdict.passed


def _predictions(
    result: SimulationResult, settings: Settings, pipeline: PipelineProcesses, timeout_s: float
) -> None:
    """What the pipeline is for: a few vehicles' predictions, and their score."""
    from journeygate.demo_predictions import (
        predictions_table,
        score_table,
        usage_shifts,
        wait_for_signals,
    )

    with console.status("waiting for the signals processor..."):
        caught_up = wait_for_signals(settings, pipeline, timeout_s)
    if not caught_up:
        console.print("[red]the signals processor did not catch up; no predictions shown[/]")
        return
    console.print(predictions_table(settings.database_url))
    console.print(usage_shifts(settings))
    if result.truth_path is not None:
        console.print(score_table(result.truth_path, settings.database_url))
    _journey(settings, pipeline, timeout_s)


def _journey(settings: Settings, pipeline: PipelineProcesses, timeout_s: float) -> None:
    """The alerts the fleet raised, by type, and the funnel (once the journey caught up)."""
    from journeygate.demo_alerts import alerts_table, wait_for_journey
    from journeygate.funnel import funnel_tables, read_funnel

    with console.status("waiting for the journey processor..."):
        caught_up = wait_for_journey(settings, pipeline, timeout_s)
    if not caught_up:
        console.print("[red]the journey processor did not catch up; no alerts shown[/]")
        return
    console.print(alerts_table(settings.database_url))
    funnel = read_funnel(settings.database_url, None, None, 30)
    for table in funnel_tables(funnel, totals_only=True):
        console.print(table)


def demo(
    vehicles: Annotated[
        int | None,
        typer.Option(
            min=1, max=100_000, help=f"Fleet size [{DEFAULTS['vehicles']}, or the scenario's]."
        ),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=3650,
            help=f"Simulated days, ending at --now [{DEFAULTS['days']}, or the scenario's].",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help=f"Seed of the simulated fleet [{DEFAULTS['seed']}, or the scenario's]."),
    ] = None,
    duplicate_rate: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=0.5,
            help="Share of valid messages sent twice "
            f"[{DEFAULTS['duplicate_rate']}, or the scenario's].",
        ),
    ] = None,
    malformed_rate: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=0.5,
            help="Malformed messages per valid one "
            f"[{DEFAULTS['malformed_rate']}, or the scenario's].",
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Scenario file, or the name of a shipped one (mixed-fleet, rural-seasonal, "
            "...): its fleet, period, faults and seed, unless given here."
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            help="End of the simulated period, ISO 8601 with zone "
            "(default: now, or the scenario's end)."
        ),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option("--dir", help="Where the servers keep their data.")
    ] = Path("var/demo"),
    mqtt_broker: Annotated[
        str, typer.Option(help="auto (Mosquitto if installed, else amqtt), mosquitto or amqtt")
    ] = "auto",
    keep_running: Annotated[
        bool, typer.Option(help="Keep the servers up after the summary until Ctrl-C.")
    ] = False,
    drain_timeout_s: Annotated[float, typer.Option(min=1)] = 300.0,
    horizon_days: Annotated[
        int, typer.Option(min=0, max=730, help="Hidden future the predictions are scored on.")
    ] = 180,
) -> None:
    """Start the embedded stack, run a simulated fleet through every stage, print what happened."""
    # Ctrl-C stops everything even when started with SIGINT ignored (a background job of a
    # non-interactive shell inherits that, and Python then installs no handler of its own).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from simulator.runner import run_simulation

    if mqtt_broker not in ("auto", "mosquitto", "amqtt"):
        raise typer.BadParameter("must be auto, mosquitto or amqtt", param_hint="--mqtt-broker")
    # Checked before any server starts: a bad scenario or value is one line, nothing to stop.
    params = simulation_params(
        scenario,
        data_dir / "truth.jsonl",
        vehicles=vehicles,
        days=days,
        seed=seed,
        duplicate_rate=duplicate_rate,
        malformed_rate=malformed_rate,
        now=now,
        horizon_days=horizon_days,
    )
    passed = interrupted = False
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    with console.status("starting PostgreSQL, MQTT broker and Kafka-protocol broker..."):
        stack_cm = embedded_stack(data_dir.resolve(), mqtt=mqtt_broker)
        endpoints = stack_cm.__enter__()
    try:
        settings = endpoints.settings()
        pipeline = PipelineProcesses(endpoints.env(), data_dir / "logs")
        try:
            with console.status(
                "starting bridge, normalizer, store writer, signals and journey..."
            ):
                pipeline.start_all()
                wait_for_bridge(pipeline)
            started = time.monotonic()
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                pub = progress.add_task("published messages", total=None)

                def on_progress(published: int, total: int) -> None:
                    progress.update(pub, completed=published, total=total)

                result = run_simulation(settings, params, progress=on_progress)
                wait_for_drain(
                    pipeline,
                    settings,
                    result.valid_samples,
                    sum(result.malformed.values()),
                    drain_timeout_s,
                    progress,
                )
            elapsed = time.monotonic() - started
            passed = _summary(
                result,
                settings,
                pipeline,
                elapsed,
                endpoints,
                keep_running,
                params.effective().scenario.name,
            )
            _predictions(result, settings, pipeline, drain_timeout_s)
            if keep_running:
                console.print("Servers and stages keep running; press Ctrl-C to stop them.")
                while True:
                    pipeline.check_alive()
                    time.sleep(1)
        finally:
            with console.status("stopping stages..."):
                pipeline.stop_all()
    except KeyboardInterrupt:
        console.print("interrupted; stopping everything")
        interrupted = True
    finally:
        with console.status("stopping servers..."):
            stack_cm.__exit__(None, None, None)
    console.print("all processes stopped")
    if interrupted:
        raise typer.Exit(130)
    if not passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
