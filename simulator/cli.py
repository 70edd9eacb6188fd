"""The ``journeygate simulate`` command: a thin shell around ``run_simulation``."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from journeygate.cli import DatabaseUrl, MqttUrl, fail, settings_from
from journeygate.errors import ConfigError, InfrastructureError
from simulator.faults import FAULT_KINDS
from simulator.params import SimulationParams
from simulator.runner import (
    SimulationProgress,
    SimulationResult,
    StatusCallback,
    run_simulation,
)

EXIT_INTERRUPTED = 130


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""
    app.command("simulate")(simulate)


def simulate(
    vehicles: Annotated[int, typer.Option(help="Vehicles in the fleet")] = 300,
    days: Annotated[int, typer.Option(help="Simulated days, ending at --now")] = 28,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and --now, same messages")] = 42,
    now: Annotated[
        str | None, typer.Option(help="End of the simulated period, ISO 8601 with zone [now]")
    ] = None,
    speedup: Annotated[
        float, typer.Option(help="Simulated seconds per wall second (0: as fast as possible)")
    ] = 0.0,
    rate: Annotated[
        float, typer.Option(help="At most this many messages per second (0: no cap)")
    ] = 0.0,
    duplicate_rate: Annotated[float, typer.Option(help="Share of messages published twice")] = 0.01,
    malformed_rate: Annotated[
        float, typer.Option(help="Malformed messages per valid message")
    ] = 0.005,
    malformed_kinds: Annotated[
        str | None, typer.Option(help=f"Comma-separated subset of: {', '.join(FAULT_KINDS)}")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Write the record of what was sent (JSON lines)")
    ] = None,
    connections: Annotated[int, typer.Option(help="MQTT connections to publish over")] = 2,
    max_inflight: Annotated[int, typer.Option(help="Unacknowledged publishes allowed")] = 1000,
    mqtt_url: MqttUrl = None,
    database_url: DatabaseUrl = None,
    mqtt_topic_root: Annotated[
        str | None,
        typer.Option("--mqtt-topic-root", help="Topic root (env JOURNEYGATE_MQTT_TOPIC_ROOT)"),
    ] = None,
    mqtt_protocol: Annotated[
        str | None,
        typer.Option("--mqtt-protocol", help="3.1.1 or 5 (env JOURNEYGATE_MQTT_PROTOCOL)"),
    ] = None,
) -> None:
    """Publish a reproducible fleet's telemetry over MQTT, registering its vehicles first."""
    settings = settings_from(
        mqtt_url=mqtt_url,
        database_url=database_url,
        mqtt_topic_root=mqtt_topic_root,
        mqtt_protocol=mqtt_protocol,
    )
    try:
        kinds = (
            FAULT_KINDS
            if malformed_kinds is None
            else tuple(k.strip() for k in malformed_kinds.split(",") if k.strip())
        )
        params = SimulationParams(
            vehicles=vehicles,
            days=days,
            seed=seed,
            duplicate_rate=duplicate_rate,
            malformed_rate=malformed_rate,
            malformed_kinds=kinds,
            now=_parse_now(now),
            speedup=speedup,
            rate_per_s=rate,
            connections=connections,
            max_inflight=max_inflight,
            truth_path=truth,
        )
    except ConfigError as exc:
        raise fail(str(exc)) from None
    stop = threading.Event()
    try:
        with _stop_on_sigint(stop), _progress_bar() as on_status:
            result = run_simulation(settings, params, stop=stop, status=on_status)
    except (ConfigError, InfrastructureError) as exc:
        raise fail(str(exc), 2 if isinstance(exc, ConfigError) else 1) from None
    _summary(result)
    if result.acknowledged + result.rejected < result.messages_published:
        raise fail("some publishes were never acknowledged by the broker", 1)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--now {text!r} is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise ConfigError("--now needs a time zone, e.g. 2026-03-01T12:00:00Z")
    return moment


@contextmanager
def _stop_on_sigint(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C stops the run cleanly; a second one aborts."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _progress_bar() -> Iterator[StatusCallback]:
    columns = (
        TextColumn("[bold]simulate"),
        BarColumn(bar_width=12),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("simulate", total=None, detail="registering fleet")

        def update(p: SimulationProgress) -> None:
            detail = (
                f"ack {p.acknowledged} dup {p.duplicates} bad {p.malformed}"
                f" {p.sim_time:%Y-%m-%d %H:%M}"
            )
            bar.update(task, total=p.planned, completed=p.published, detail=detail)

        yield update


def _summary(r: SimulationResult) -> None:
    bad = ", ".join(f"{k} {v}" for k, v in r.malformed.items()) or "none"
    lines = [
        f"vehicles      {r.vehicles} ({r.registered} newly registered)",
        f"published     {r.messages_published} of {r.planned_messages}"
        f" ({r.acknowledged} acknowledged, {r.rejected} rejected by the broker)",
        f"valid         {r.valid_messages} messages, {r.valid_samples} samples",
        f"duplicates    {r.duplicates}",
        f"malformed     {bad}",
        f"elapsed       {r.elapsed_s:.1f} s" + ("  (interrupted)" if r.interrupted else ""),
    ]
    if r.truth_path is not None:
        lines.append(f"truth         {r.truth_path}")
    typer.echo("\n".join(lines))
