"""Runs a simulation: plan (pure), register the fleet, publish at the simulated pace, record truth.

:func:`run_simulation` is what the ``simulate`` command, the demo and the tests call. Setting the
``stop`` event ends the run cleanly: nothing more is published, the publishes already made are
awaited (up to ``drain_timeout_s``) and the truth file ends with an ``end`` line saying so.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from journeygate.settings import Settings
from simulator import metrics
from simulator.catalog import Catalog, load_catalog
from simulator.clock import Pacer
from simulator.faults import FAULTS
from simulator.logic import KIND_DUPLICATE, KIND_MALFORMED, KIND_VALID, Outgoing, Plan, build_plan
from simulator.params import GenerationParams, SimulationParams
from simulator.publisher import Publisher
from simulator.registry import register_fleet
from simulator.truth import TruthWriter, end_line, header_line, message_line, vehicle_line
from simulator.usage import from_ms, to_ms

__all__ = [
    "GenerationParams",
    "ProgressCallback",
    "SimulationParams",
    "SimulationProgress",
    "SimulationResult",
    "StatusCallback",
    "run_simulation",
]

PROGRESS_EVERY = 250
TELEMETRY_LEAF = "telemetry"


@dataclass(frozen=True, slots=True)
class SimulationProgress:
    """Live counts for a progress display."""

    planned: int
    published: int
    acknowledged: int
    valid: int
    duplicates: int
    malformed: int
    sim_time: datetime


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What a run did. ``malformed`` counts malformed publishes by expected rejection reason;
    ``registered`` counts vehicles that were not in the registry yet."""

    vehicles: int
    registered: int
    planned_messages: int
    messages_published: int
    acknowledged: int
    rejected: int
    valid_messages: int
    valid_samples: int
    duplicates: int
    malformed: dict[str, int]
    elapsed_s: float
    interrupted: bool
    truth_path: Path | None


# progress(published, planned): called every few hundred publishes and at the end.
ProgressCallback = Callable[[int, int], None]
StatusCallback = Callable[[SimulationProgress], None]


def topic_for(root: str, vin: str) -> str:
    return f"{root}/{vin}/{TELEMETRY_LEAF}"


def plan_for(settings: Settings, params: SimulationParams, catalog: Catalog | None = None) -> Plan:
    """The run's plan: oversize faults are sized against the bridge's payload limit."""
    generation = params.generation(max_payload_bytes=settings.bridge_max_payload_bytes)
    now = params.now if params.now is not None else datetime.now(UTC)
    rng = np.random.default_rng(generation.seed)
    return build_plan(rng, generation, catalog or load_catalog(), now)


class _Tally:
    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.samples = 0
        self.reasons: Counter[str] = Counter()

    def add(self, msg: Outgoing) -> None:
        self.kinds[msg.kind] += 1
        if msg.kind == KIND_VALID:
            self.samples += msg.sample_count
        elif msg.fault is not None:
            self.reasons[FAULTS[msg.fault].reason] += 1


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
    plan = plan_for(settings, params, catalog)
    registered = register_fleet(settings.database_url, plan.fleet)
    pacer = Pacer(to_ms(plan.start), params.speedup, params.rate_per_s)
    tally = _Tally()
    publisher = Publisher(
        settings,
        connections=params.connections,
        max_inflight=params.max_inflight,
        connect_timeout_s=params.connect_timeout_s,
        ack_timeout_s=params.ack_timeout_s,
    )

    live_metrics = metrics.PublishMetrics()

    def report(sim_ms: int) -> None:
        live_metrics.update(tally.kinds, publisher.acknowledged, publisher.outstanding)
        if progress is not None:
            progress(publisher.published, len(plan.messages))
        if status is not None:
            status(
                SimulationProgress(
                    planned=len(plan.messages),
                    published=publisher.published,
                    acknowledged=publisher.acknowledged,
                    valid=tally.kinds[KIND_VALID],
                    duplicates=tally.kinds[KIND_DUPLICATE],
                    malformed=tally.kinds[KIND_MALFORMED],
                    sim_time=from_ms(sim_ms),
                )
            )

    with TruthWriter(params.truth_path) as truth:
        truth.write(header_line(plan, params, settings.mqtt_topic_root))
        for vehicle in plan.fleet:
            truth.write(vehicle_line(vehicle))
        with publisher:
            origin = time.monotonic()
            last_sent: float | None = None
            sim_ms = to_ms(plan.start)
            try:
                for n, msg in enumerate(plan.messages):
                    delay = pacer.due_s(msg.publish_ms, last_sent) - (time.monotonic() - origin)
                    if delay > 0 and stop.wait(delay):
                        break
                    topic = topic_for(settings.mqtt_topic_root, msg.topic_vin)
                    if stop.is_set() or not publisher.publish(topic, msg.payload, stop):
                        break
                    last_sent = time.monotonic() - origin
                    sim_ms = msg.publish_ms
                    truth.write(message_line(n, msg))
                    tally.add(msg)
                    if n % PROGRESS_EVERY == 0:
                        report(sim_ms)
            finally:
                publisher.drain(params.drain_timeout_s)
                interrupted = publisher.published < len(plan.messages)
                elapsed_s = time.monotonic() - started
                truth.write(
                    end_line(
                        published=publisher.published,
                        acknowledged=publisher.acknowledged,
                        planned=len(plan.messages),
                        interrupted=interrupted,
                        elapsed_s=elapsed_s,
                    )
                )
                report(sim_ms)
    return SimulationResult(
        vehicles=len(plan.fleet),
        registered=registered,
        planned_messages=len(plan.messages),
        messages_published=publisher.published,
        acknowledged=publisher.acknowledged,
        rejected=publisher.rejected,
        valid_messages=tally.kinds[KIND_VALID],
        valid_samples=tally.samples,
        duplicates=tally.kinds[KIND_DUPLICATE],
        malformed=dict(sorted(tally.reasons.items())),
        elapsed_s=time.monotonic() - started,
        interrupted=interrupted,
        truth_path=params.truth_path,
    )
