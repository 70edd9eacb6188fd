"""Runs a simulation: plan (pure), register the fleet, publish at the chosen pace, record truth.

:func:`run_simulation` is what the ``simulate`` command, the demo and the tests call. Setting the
``stop`` event ends the run cleanly: nothing more is published, the publishes already made are
awaited (up to ``drain_timeout_s``) and the truth file ends with an ``end`` line saying so.

With ``publish.services`` (the default) Kafka must be reachable before anything is registered or
sent. Once the fleet is registered, each vehicle's service history at its dealer (the visits of
the ``publish.service_history_years`` years before the period) goes to ``vehicle.services``, before
any telemetry; once the telemetry is published (and acknowledged), the dealer visits of the period
up to the last simulated time reached follow. On a vehicle's partition (key = VIN) its visits are
thus in time order. Each published visit is recorded by a ``service_published`` truth line.
The owners' consent changes of the period go to ``vehicle.consent`` as the publishing passes
their time (:mod:`simulator.publishing.consent`), the rest of them at the end.

With ``publish.acks = "honour"`` (the default) each device keeps its messages until the
pipeline acknowledges them on ``{root}/{VIN}/ack`` and sends again what stays unconfirmed
(:mod:`simulator.publishing.downlink`); the run ends once everything is confirmed, or
confirmations stopped coming for ``confirm_timeout_s``. Sending again is not planning anew:
the truth file lists each planned message once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime

import numpy as np

from database.market_index import upsert_market_index
from kernel.errors import ConfigError, InfrastructureError
from kernel.settings import Settings
from reference.catalog import Catalog, load_catalog
from simulator.publishing import metrics
from simulator.publishing.clock import Pacer
from simulator.publishing.consent import ConsentPublisher, period_changes
from simulator.publishing.downlink import Downlink
from simulator.publishing.logic import KIND_DUPLICATE, KIND_MALFORMED, KIND_VALID, Plan, build_plan
from simulator.publishing.outbox import Outboxes
from simulator.publishing.publisher import Publisher
from simulator.publishing.registry import market_index, register_fleet, vehicle_records
from simulator.publishing.services import (
    Delivered,
    history_records,
    prepare_services_topic,
    publish_visits,
    visit_records,
)
from simulator.publishing.tally import (
    ProgressCallback,
    SimulationProgress,
    SimulationResult,
    StatusCallback,
    Tally,
)
from simulator.scenario.params import GenerationParams, SimulationParams
from simulator.scenario.profiles import Profile, load_profiles
from simulator.truth.record import (
    TruthWriter,
    end_line,
    header_line,
    message_line,
    service_published_line,
    world_lines,
)
from simulator.world.usage import from_ms, to_ms

__all__ = [
    "GenerationParams",
    "ProgressCallback",
    "SimulationParams",
    "SimulationProgress",
    "SimulationResult",
    "StatusCallback",
    "check_period",
    "plan_for",
    "run_simulation",
]

PROGRESS_EVERY = 250
TELEMETRY_LEAF = "telemetry"
MAX_DEDICATED_CONNECTIONS = 2000


def topic_for(root: str, vin: str) -> str:
    return f"{root}/{vin}/{TELEMETRY_LEAF}"


def plan_for(
    settings: Settings,
    params: SimulationParams,
    catalog: Catalog | None = None,
    profiles: dict[str, Profile] | None = None,
) -> Plan:
    """The run's plan, sized against the pipeline's payload limit and future tolerance."""
    catalog = catalog or load_catalog()
    generation = params.generation(
        catalog,
        profiles or load_profiles(),
        max_payload_bytes=settings.bridge_max_payload_bytes,
        future_tolerance_ms=settings.future_tolerance_s * 1000,
    )
    end = params.effective().scenario.end
    now = end if end is not None else datetime.now(UTC)
    return build_plan(np.random.default_rng(generation.seed), generation, catalog, now)


def check_period(settings: Settings, plan: Plan) -> None:
    """ConfigError when the plan's period ends after the wall clock (past the pipeline's future
    tolerance): every message would be rejected as ``future_timestamp``."""
    wall_ms = to_ms(datetime.now(UTC))
    if to_ms(plan.now) > wall_ms + settings.future_tolerance_s * 1000:
        raise ConfigError(
            f"the simulated period ends at {plan.now.isoformat()}, after the wall clock: the"
            " pipeline would reject its messages as future_timestamp"
        )


def run_simulation(
    settings: Settings,
    params: SimulationParams,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    *,
    status: StatusCallback | None = None,
    catalog: Catalog | None = None,
) -> SimulationResult:
    """Generate, register and publish a fleet's telemetry; see the module docstring."""
    started = time.monotonic()
    stop = stop if stop is not None else threading.Event()
    catalog = catalog or load_catalog()
    scenario = params.effective()
    publish = scenario.publish
    plan = plan_for(settings, params, catalog)
    check_period(settings, plan)
    dedicated: list[str] = []
    if publish.connection_per_vehicle:
        topics = {topic_for(settings.mqtt_topic_root, m.topic_vin): None for m in plan.messages}
        dedicated = list(topics)
        if len(dedicated) > MAX_DEDICATED_CONNECTIONS:
            raise ConfigError(
                f"--connection-per-vehicle: {len(dedicated)} topics, at most"
                f" {MAX_DEDICATED_CONNECTIONS} connections; use --connections instead"
            )
    if publish.services:
        _check_kafka(settings)
    registered = register_fleet(settings.database_url, vehicle_records(plan))
    upsert_market_index(settings.database_url, [market_index(plan)])
    pacer = Pacer(to_ms(plan.start), publish.speedup, publish.rate, publish.max_rate)
    tally = Tally()
    downlink = (
        Downlink(settings.mqtt_topic_root, Outboxes(publish.device_buffer, publish.resend_after_s))
        if publish.acks == "honour"
        else None
    )
    publisher = Publisher(
        settings,
        connections=publish.connections,
        max_inflight=publish.max_inflight,
        connect_timeout_s=params.connect_timeout_s,
        ack_timeout_s=params.ack_timeout_s,
        dedicated_topics=dedicated,
        downlink_root=None if downlink is None else settings.mqtt_topic_root,
        on_downlink=None if downlink is None else downlink.on_downlink,
        on_reconnect=None if downlink is None else downlink.on_reconnect,
    )
    live_metrics = metrics.PublishMetrics()
    planned_sent = 0  # messages of the plan published (sent again or not)

    def report(sim_ms: int) -> None:
        live_metrics.update(
            tally.kinds,
            publisher.acknowledged,
            publisher.outstanding,
            tally.faults,
            publisher.rejected_reasons,
            None if downlink is None else downlink.counts(),
        )
        if progress is not None:
            progress(planned_sent, len(plan.messages))
        if status is not None:
            status(
                SimulationProgress(
                    planned=len(plan.messages),
                    published=planned_sent,
                    acknowledged=min(planned_sent, publisher.acknowledged),
                    valid=tally.kinds[KIND_VALID],
                    duplicates=tally.kinds[KIND_DUPLICATE],
                    malformed=tally.kinds[KIND_MALFORMED],
                    sim_time=from_ms(sim_ms),
                    faults=dict(tally.faults),
                    rejected=publisher.rejected,
                )
            )

    delivered: list[Delivered] | None = None
    history: list[Delivered] | None = None
    consent: ConsentPublisher | None = None
    consent_published: int | None = None
    with TruthWriter(params.truth_path) as truth:
        truth.write(
            header_line(plan, scenario, publish, settings.mqtt_topic_root, params.scenario_source)
        )
        for line in world_lines(plan, catalog):
            truth.write(line)
        interrupted = False
        sim_ms = to_ms(plan.start)
        try:
            if publish.services:
                records = (
                    [] if stop.is_set() else history_records(plan, publish.service_history_years)
                )
                history = publish_visits(settings, records)
                for d in history:
                    truth.write(service_published_line(d, history=True))
                consent = ConsentPublisher(settings, period_changes(plan))
            with publisher:
                origin = time.monotonic()
                last_sent: float | None = None
                try:
                    for n, msg in enumerate(plan.messages):
                        due = pacer.due_s(n, msg.publish_ms, last_sent)
                        delay = due - (time.monotonic() - origin)
                        if delay > 0 and stop.wait(delay):
                            break
                        topic = topic_for(settings.mqtt_topic_root, msg.topic_vin)
                        if consent is not None:
                            consent.until(msg.publish_ms)
                        if stop.is_set() or not publisher.publish(topic, msg.payload, stop):
                            break
                        planned_sent += 1
                        if downlink is not None:
                            if msg.device is not None:  # the device's own sequence
                                downlink.keep(msg.vin, msg.boot_id, msg.seq, topic, msg.payload)
                            downlink.resend(publisher, stop)
                        last_sent = time.monotonic() - origin
                        sim_ms = msg.publish_ms
                        truth.write(message_line(n, msg))
                        tally.add(msg)
                        if n % PROGRESS_EVERY == 0:
                            report(sim_ms)
                finally:
                    publisher.drain(params.drain_timeout_s)
                    if downlink is not None and not stop.is_set():
                        downlink.settle(publisher, stop, params.confirm_timeout_s)
                        publisher.drain(params.drain_timeout_s)
                    interrupted = planned_sent < len(plan.messages)
                    report(sim_ms)
            if publish.services:
                until_ms = sim_ms if interrupted else to_ms(plan.now)
                if consent is not None:
                    consent.until(until_ms)
                    consent_published = consent.close()
                    consent = None
                delivered = publish_visits(settings, visit_records(plan, until_ms))
                for d in delivered:
                    truth.write(service_published_line(d))
        finally:
            if consent is not None:  # interrupted by an error: stop the background producer
                with contextlib.suppress(InfrastructureError):
                    consent.close()
            counts = None if downlink is None else downlink.counts()
            truth.write(
                end_line(
                    published=planned_sent,
                    acknowledged=min(planned_sent, publisher.acknowledged),
                    rejected=publisher.rejected,
                    planned=len(plan.messages),
                    interrupted=planned_sent < len(plan.messages),
                    elapsed_s=time.monotonic() - started,
                    services_published=None if delivered is None else len(delivered),
                    history_published=None if history is None else len(history),
                    consent_published=consent_published,
                    downlink=counts,
                )
            )
    counts = None if downlink is None else downlink.counts()
    return SimulationResult(
        vehicles=len(plan.fleet),
        registered=registered,
        planned_messages=len(plan.messages),
        messages_published=planned_sent,
        acknowledged=min(planned_sent, publisher.acknowledged),
        rejected=publisher.rejected,
        valid_messages=tally.kinds[KIND_VALID],
        valid_samples=tally.samples,
        duplicates=tally.kinds[KIND_DUPLICATE],
        malformed=dict(sorted(tally.reasons.items())),
        faults=dict(sorted(tally.faults.items())),
        elapsed_s=time.monotonic() - started,
        interrupted=interrupted,
        truth_path=params.truth_path,
        services_published=None if delivered is None else len(delivered),
        history_published=None if history is None else len(history),
        consent_published=consent_published,
        rejected_reasons=dict(sorted(publisher.rejected_reasons.items())),
        downlink=counts,
    )


def _check_kafka(settings: Settings) -> None:
    """Kafka must take the service visits before anything is registered or sent."""
    try:
        prepare_services_topic(settings)
    except InfrastructureError as exc:
        raise InfrastructureError(
            f"{exc} (service visits go to Kafka; --no-services simulates without them)"
        ) from exc
