"""The ``journeygate simulate``, ``verify`` and ``score`` commands: thin shells."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from kernel.cliopts import (
    DatabaseUrl,
    KafkaBootstrap,
    MetricsPort,
    MqttUrl,
    TopicPrefix,
    fail,
    settings_from,
)
from kernel.errors import ConfigError, InfrastructureError
from simulator.console import plan_summary, progress_bar, summary
from simulator.publishing.metrics import STAGE as METRICS_STAGE
from simulator.runner import check_period, plan_for, run_simulation
from simulator.scenario.files import named_scenario, parse_now
from simulator.scenario.kinds import FAULT_KINDS
from simulator.scenario.params import SimulationParams
from simulator.score_cli import score
from simulator.verify_cli import verify

EXIT_INTERRUPTED = 130


def register(app: typer.Typer) -> None:
    """Add the ``simulate``, ``verify`` and ``score`` commands to ``app``."""
    app.command("simulate")(simulate)
    app.command("verify")(verify)
    app.command("score")(score)


def simulate(
    scenario: Annotated[
        str | None,
        typer.Option(help="Scenario file, or the name of a shipped one (smoke, mixed-fleet, ...)"),
    ] = None,
    vehicles: Annotated[int | None, typer.Option(help="Vehicles in the fleet [300]")] = None,
    days: Annotated[int | None, typer.Option(help="Simulated days, ending at --now [28]")] = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(help="Days simulated after --now, never published: truth only [0]"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed: same seed, same messages")] = None,
    now: Annotated[
        str | None,
        typer.Option(help="End of the simulated period, ISO 8601 with zone (default: now)"),
    ] = None,
    speedup: Annotated[
        float | None, typer.Option(help="Pace by simulated time: simulated s per wall s")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Pace at a steady target of messages per second")
    ] = None,
    max_rate: Annotated[
        float | None, typer.Option(help="Never more than this many messages per second")
    ] = None,
    duplicate_rate: Annotated[
        float | None, typer.Option(help="Share of valid messages published twice [0.01]")
    ] = None,
    malformed_rate: Annotated[
        float | None, typer.Option(help="Malformed messages per valid message [0.005]")
    ] = None,
    malformed_kinds: Annotated[
        str | None, typer.Option(help=f"Comma-separated subset of: {', '.join(FAULT_KINDS)}")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Write the record of what was sent (JSON lines)")
    ] = None,
    connections: Annotated[
        int | None, typer.Option(help="MQTT connections shared by the fleet [2]")
    ] = None,
    connection_per_vehicle: Annotated[
        bool | None,
        typer.Option(
            "--connection-per-vehicle/--shared-connections",
            help="One MQTT connection per vehicle, as real devices",
        ),
    ] = None,
    max_inflight: Annotated[
        int | None, typer.Option(help="Unacknowledged publishes allowed [1000]")
    ] = None,
    services: Annotated[
        bool | None,
        typer.Option(
            "--services/--no-services",
            help="Publish dealer service visits (the history, then the period's) to Kafka"
            " vehicle.services [on]",
        ),
    ] = None,
    acks: Annotated[
        str | None,
        typer.Option(
            help="honour: devices keep each message until the pipeline acknowledges it on"
            " {root}/{VIN}/ack and send again what is not; ignore: they forget it at its"
            " PUBACK [honour]"
        ),
    ] = None,
    resend_after_s: Annotated[
        float | None,
        typer.Option(help="Seconds before an unconfirmed message is sent again (doubling) [30]"),
    ] = None,
    device_buffer: Annotated[
        int | None,
        typer.Option(help="Unconfirmed messages a device keeps; past it the oldest drops [10000]"),
    ] = None,
    plan_only: Annotated[
        bool, typer.Option("--plan-only", help="Check the scenario and print the plan; send none")
    ] = False,
    mqtt_url: MqttUrl = None,
    database_url: DatabaseUrl = None,
    kafka_bootstrap: KafkaBootstrap = None,
    topic_prefix: TopicPrefix = None,
    mqtt_topic_root: Annotated[
        str | None,
        typer.Option("--mqtt-topic-root", help="Topic root (env JOURNEYGATE_MQTT_TOPIC_ROOT)"),
    ] = None,
    mqtt_protocol: Annotated[
        str | None,
        typer.Option("--mqtt-protocol", help="3.1.1 or 5 (env JOURNEYGATE_MQTT_PROTOCOL)"),
    ] = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Publish a reproducible fleet's telemetry over MQTT, registering its vehicles first."""
    settings = settings_from(
        mqtt_url=mqtt_url,
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        mqtt_topic_root=mqtt_topic_root,
        mqtt_protocol=mqtt_protocol,
        metrics_port=metrics_port,
    )
    quiet_kafka_client()
    try:
        base, source = named_scenario(scenario)
        kinds = None
        if malformed_kinds is not None:
            kinds = tuple(k.strip() for k in malformed_kinds.split(",") if k.strip())
        params = SimulationParams(
            scenario=base,
            scenario_source=source,
            vehicles=vehicles,
            days=days,
            horizon_days=horizon_days,
            seed=seed,
            now=parse_now(now),
            duplicate_rate=duplicate_rate,
            malformed_rate=malformed_rate,
            malformed_kinds=kinds,
            speedup=speedup,
            rate_per_s=rate,
            max_rate_per_s=max_rate,
            connections=connections,
            connection_per_vehicle=connection_per_vehicle,
            max_inflight=max_inflight,
            services=services,
            acks=acks,
            resend_after_s=resend_after_s,
            device_buffer=device_buffer,
            truth_path=truth,
        )
        if plan_only:
            publish = params.publish
            plan = plan_for(settings, params)
            plan_summary(plan, publish.services, publish.service_history_years)
            check_period(settings, plan)  # as the run would: after the plan, which shows why
            return
    except ConfigError as exc:
        raise fail(str(exc)) from None
    stop = threading.Event()
    try:
        with (
            _stop_on_sigint(stop),
            _metrics_served(settings.metrics_port),
            progress_bar() as on_status,
        ):
            result = run_simulation(settings, params, stop=stop, status=on_status)
    except (ConfigError, InfrastructureError) as exc:
        raise fail(str(exc), 2 if isinstance(exc, ConfigError) else 1) from None
    summary(result)
    if result.rejected:
        reasons = ", ".join(f"{k} {v}" for k, v in result.rejected_reasons.items())
        raise fail(
            f"the broker rejected {result.rejected} of {result.messages_published} publishes"
            f" ({reasons}): they were not delivered",
            1,
        )
    if result.acknowledged < result.messages_published:
        raise fail("some publishes were never acknowledged by the broker", 1)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@contextmanager
def _metrics_served(port: int) -> Iterator[None]:
    """Serve the simulator's metrics on ``port`` (0: not at all) while the run lasts."""
    if not port:
        yield
        return
    from kernel.health import serve
    from kernel.metrics import served_registry

    try:
        server = serve(port, METRICS_STAGE, served_registry(METRICS_STAGE))
    except OSError as exc:
        raise ConfigError(f"--metrics-port {port}: {exc}") from None
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def quiet_kafka_client() -> None:
    """The Kafka client logs each failed connection; the command says it in one line."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


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
