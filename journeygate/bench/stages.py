"""One repetition of each ceiling and of each stage alone, on preloaded input.

A stage is started as ``journeygate <command>``, the process production runs, after its input
was preloaded, so it works at its maximum rate from the first poll (the signals processor's
steady-state frames are sent once its warm-up is committed, while it runs: it takes them more
slowly than they are sent). Its run goes from its first
finished output to its last (see :func:`journeygate.bench.stats.active_run`), CPU time read from
outside the process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from journeygate.bench import drive
from journeygate.bench.feeder import FeedPlan, open_session
from journeygate.bench.journey_input import consent_rows, signal_records
from journeygate.bench.kafkaio import (
    SCRAPE_EVERY_S,
    CommittedOffsets,
    Progress,
    Record,
    ScrapedCounter,
    StoredOffsets,
    frame_records,
    produce,
    raw_records,
)
from journeygate.bench.lab import Lab, Scenario, register_consent, register_fleet
from journeygate.bench.stats import Probe, Run, active_run
from processors.journey.runner import GROUP as JOURNEY_GROUP
from processors.normalize.runner import GROUP as NORMALIZE_GROUP
from processors.signals.runner import GROUP as SIGNALS_GROUP
from processors.store.runner import GROUP as STORE_GROUP

STAGE_TIMEOUT_S = 600.0
BRIDGE_FORWARDED = "journeygate_bridge_forwarded_total"
BURST_SAMPLES = 10  # a store-and-forward burst: what a device sends after a dead zone
QUEUE_CHECK_IDLE_S = 3.0
QUEUE_CHECK_FLEET = 10_000
REPORT_PERIOD_MS = 300_000  # a fleet reporting every 5 minutes (the scale run's feed)
SIGNALS_FRAMES_PER_DAY = 10
"""Frames per vehicle and UTC day of event time in the signals processor's input: about what a
car sends (the simulator's profiles: a parked report a day and a few samples a trip, 5 to 15)."""
SIGNALS_PERIOD_MS = 86_400_000 // SIGNALS_FRAMES_PER_DAY
SIGNALS_TRIPS = (16, 3)
"""One frame in 16 of the signals processor's input is a trip sent as one batch of three samples
(departure, midway, arrival): 4 to 7 % of the frames of the simulator's runs are such batches,
nearly all of three samples (the built-in world 6.5 %, noisy-days 4.5 %)."""

Rep = Callable[[Lab, int, int], Run]
"""One repetition: (lab, fleet size, message count) → the measured run."""


def subscription(scenario: Scenario) -> str:
    return f"{scenario.settings.mqtt_topic_root}/+/telemetry"


def preload_mqtt(scenario: Scenario, client_id: str, count: int, first: int = 0) -> None:
    """Queue ``count`` messages in the broker for ``client_id``'s persistent session."""
    open_session(scenario.broker, client_id, subscription(scenario))
    plan = FeedPlan(
        scenario.broker,
        f"feed-{client_id}",
        scenario.settings.mqtt_topic_root,
        scenario.fleet.size,
        scenario.fleet.tag,
        first,
        count,
    )
    drive.feed(plan, scenario.log_dir)


def check_offline_queue(lab: Lab, count: int) -> None:
    """Fail unless the MQTT broker keeps ``count`` QoS 1 messages for an offline persistent
    session, as the bridge and pipeline measurements need (a broker past its
    ``max_queued_messages`` drops the rest silently, and the measurement would wait for them)."""
    sc = lab.scenario("queue-check", min(count, QUEUE_CHECK_FLEET))
    try:
        client_id = f"{sc.settings.bridge_id}-queue"
        preload_mqtt(sc, client_id, count)
        got = drain_session(sc, client_id)
    finally:
        lab.release(sc)
    if got < count:
        raise drive.BenchFailed(
            f"the MQTT broker kept {got:,} of {count:,} messages for an offline session: raise "
            f"its max_queued_messages to at least {count:,} (see docs/operations.md)"
        )


def drain_session(scenario: Scenario, client_id: str) -> int:
    """Connect as ``client_id`` and count the queued messages, until none came for a while."""
    from paho.mqtt.client import Client, MQTTMessage, MQTTv311
    from paho.mqtt.enums import CallbackAPIVersion

    broker = scenario.broker
    client = Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTv311, clean_session=False
    )
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    got = 0

    def on_message(_c: Client, _u: object, _m: MQTTMessage) -> None:
        nonlocal got
        got += 1

    client.on_message = on_message
    client.connect(broker.host, broker.port, 60)
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < QUEUE_CHECK_IDLE_S:
        client.loop(timeout=0.1)
        if got != last:
            last, quiet_since = got, time.monotonic()
    client.disconnect()
    return got


def _measure(
    scenario: Scenario,
    stage: str,
    progress: Callable[[drive.Stage], Progress],
    goal: int,
    every_s: float = drive.PROBE_INTERVAL_S,
) -> Run:
    running = drive.start_stage(scenario, stage)
    try:
        probes = asyncio.run(
            drive.watch(
                progress(running), [running], goal, timeout_s=STAGE_TIMEOUT_S, every_s=every_s
            )
        )
    finally:
        drive.stop_all([running])
    return active_run(probes[running.name], goal)


# --- ceilings --------------------------------------------------------------------------------


def paho_ceiling(lab: Lab, fleet: int, count: int) -> Run:
    sc = lab.scenario("paho", fleet)
    try:
        client_id = f"{sc.settings.bridge_id}-paho"
        preload_mqtt(sc, client_id, count)
        b = sc.broker
        args = {
            "host": b.host,
            "port": b.port,
            "username": b.username,
            "password": b.password,
            "client_id": client_id,
            "count": count,
        }
        return drive.ceiling("paho", args, sc.log_dir)
    finally:
        lab.release(sc)


def _kafka_ceiling(name: str, sink: bool) -> Rep:
    def rep(lab: Lab, fleet: int, count: int) -> Run:
        sc = lab.scenario(name, fleet)
        try:
            records = raw_records(sc.settings, sc.fleet, count)
            asyncio.run(produce(sc.settings, sc.topics.raw, records))
            args = {
                "group": f"{sc.settings.topic_prefix}{name}",
                "source": sc.topics.raw,
                "sink": sc.topics.frames if sink else None,
                "count": count,
            }
            return drive.ceiling(name, args, sc.log_dir, sc.env())
        finally:
            lab.release(sc)

    return rep


passthrough_ceiling = _kafka_ceiling("passthrough", sink=True)
passthrough_batch_ceiling = _kafka_ceiling("passthrough_batch", sink=True)
consume_ceiling = _kafka_ceiling("consume", sink=False)


def copy_ceiling(lab: Lab, fleet: int, count: int) -> Run:
    sc = lab.scenario("copy", fleet)
    try:
        args = {
            "database_url": sc.settings.database_url,
            "fleet_size": fleet,
            "fleet_tag": sc.fleet.tag,
            "count": count,
            "batch_rows": sc.settings.batch_max_records,
        }
        return drive.ceiling("copy", args, sc.log_dir)
    finally:
        lab.release(sc)


def avro_ceiling(lab: Lab, fleet: int, count: int) -> Run:
    args = {"fleet_size": fleet, "fleet_tag": 1, "count": count}
    return drive.ceiling("avro", args, lab.root / "logs")


def decoder(name: str) -> Rep:
    """A stage's decoder (or the fastavro path it replaces) on the stage's records:
    :func:`journeygate.bench.ceilings.decode`."""

    def rep(lab: Lab, fleet: int, count: int) -> Run:
        args = {"fleet_size": fleet, "fleet_tag": 1, "count": count, "decoder": name}
        return drive.ceiling("decode", args, lab.root / "logs")

    return rep


# --- stages alone ----------------------------------------------------------------------------


def bridge_alone(lab: Lab, fleet: int, count: int) -> Run:
    sc = lab.scenario("bridge", fleet)
    try:
        preload_mqtt(sc, sc.settings.bridge_id, count)
        return _measure(
            sc,
            "bridge",
            lambda stage: ScrapedCounter(stage.metrics_port, BRIDGE_FORWARDED),
            count,
            every_s=SCRAPE_EVERY_S,
        )
    finally:
        lab.release(sc)


def normalizer_alone(lab: Lab, fleet: int, count: int) -> Run:
    sc = lab.scenario("normalize", fleet)
    try:
        register_fleet(sc.settings.database_url, sc.fleet)
        asyncio.run(produce(sc.settings, sc.topics.raw, raw_records(sc.settings, sc.fleet, count)))
        group = sc.settings.topic(NORMALIZE_GROUP)
        progress = CommittedOffsets(sc.settings, group, sc.topics.raw)
        return _measure(sc, "normalize", lambda _: progress, count)
    finally:
        lab.release(sc)


def store_alone(lab: Lab, fleet: int, count: int) -> Run:
    return _store(lab, fleet, count, samples=1)


def store_bursts(lab: Lab, fleet: int, count: int) -> Run:
    """The store writer on frames of :data:`BURST_SAMPLES` samples: half as many frames as the
    one-sample run has, and at least three batches of them (so a run has a steady part)."""
    return _store(lab, fleet, count // 2, samples=BURST_SAMPLES, min_batches=3)


def _store(lab: Lab, fleet: int, frames: int, samples: int, min_batches: int = 1) -> Run:
    sc = lab.scenario("store", fleet)
    frames = max(frames, min_batches * sc.settings.batch_max_records)
    try:
        records = frame_records(sc.fleet, frames, samples)
        asyncio.run(produce(sc.settings, sc.topics.frames, records))
        group = sc.settings.topic(STORE_GROUP)
        progress = StoredOffsets(sc.settings.database_url, group)  # frames, not rows
        run = _measure(sc, "store", lambda _: progress, frames)
    finally:
        lab.release(sc)
    return Run(run.count * samples, run.wall_s, run.cpu_s)


def signals_fleet(count: int) -> int:
    """Vehicles of the signals processor's steady-state input of ``count`` frames: a whole day
    (:data:`SIGNALS_FRAMES_PER_DAY` frames) each."""
    return max(1, count // SIGNALS_FRAMES_PER_DAY)


def signals_alone(lab: Lab, fleet: int, count: int) -> Run:
    """The signals processor in its steady state, on frames of a registered fleet (models,
    markets and finance from the reference catalog), each vehicle reporting
    :data:`SIGNALS_FRAMES_PER_DAY` times a day of event time: every vehicle's first frame is
    folded before the measurement starts (as the pipeline's warm-up does; what a first frame
    costs is :func:`signals_new_vehicles`), then ``count`` more update its usage, codes and
    ``vehicle_state`` row, and the first of each UTC day has it forecast again (usage, warranty,
    next service and bill, equity; signals published where they moved materially).

    The fleet is ``count // SIGNALS_FRAMES_PER_DAY`` vehicles (``fleet``, the other stages'
    fleet, does not apply): each reports a whole day after its first frame, so it is forecast
    exactly once among its :data:`SIGNALS_FRAMES_PER_DAY` measured frames whatever the hour of
    the run (fewer frames a vehicle would cross midnight or not depending on the wall clock)."""
    del fleet
    fleet = signals_fleet(count)
    count = fleet * SIGNALS_FRAMES_PER_DAY
    sc = lab.scenario("signals", fleet, signals=True)
    try:
        register_fleet(sc.settings.database_url, sc.fleet)
        records = list(
            frame_records(sc.fleet, fleet + count, period_ms=SIGNALS_PERIOD_MS, trips=SIGNALS_TRIPS)
        )
        asyncio.run(produce(sc.settings, sc.topics.frames, records[:fleet]))
        progress = StoredOffsets(sc.settings.database_url, sc.settings.topic(SIGNALS_GROUP))
        running = drive.start_stage(sc, "signals")
        try:
            asyncio.run(drive.watch(progress, [running], fleet, timeout_s=STAGE_TIMEOUT_S))
            probes = asyncio.run(
                _produce_watching(sc, records[fleet:], progress, running, fleet + count)
            )
        finally:
            drive.stop_all([running])
        return active_run([p.shifted(fleet) for p in probes[running.name]], count)
    finally:
        lab.release(sc)


def signals_new_vehicles(lab: Lab, fleet: int, count: int) -> Run:
    """The signals processor on the first frame of each vehicle of a registered fleet (of
    ``min(fleet, count)`` vehicles): each loads the vehicle's registry row and is forecast,
    priced and valued in full, and its first signals are published and stored."""
    vehicles = min(fleet, count)
    sc = lab.scenario("signals-new", vehicles, signals=True)
    try:
        register_fleet(sc.settings.database_url, sc.fleet)
        records = frame_records(sc.fleet, vehicles, period_ms=SIGNALS_PERIOD_MS)
        asyncio.run(produce(sc.settings, sc.topics.frames, records))
        progress = StoredOffsets(sc.settings.database_url, sc.settings.topic(SIGNALS_GROUP))
        return _measure(sc, "signals", lambda _: progress, vehicles)
    finally:
        lab.release(sc)


async def _produce_watching(
    sc: Scenario, records: list[Record], progress: Progress, running: drive.Stage, goal: int
) -> dict[str, list[Probe]]:
    """Send ``records`` to the running signals processor while probing it, until its progress
    reaches ``goal``."""
    watching = asyncio.create_task(
        drive.watch(progress, [running], goal, timeout_s=STAGE_TIMEOUT_S)
    )
    await produce(sc.settings, sc.topics.frames, records)
    return await watching


def journey_alone(lab: Lab, fleet: int, count: int) -> Run:
    """The journey processor on the daily signals of a registered fleet with consent
    (:mod:`journeygate.bench.journey_input`): every vehicle is new to it at its first signal
    (state and registry loaded), then its gates open, stage and close, alerts go to
    ``dealer.alerts`` and the ``alerts`` table, and time-driven evaluations run between its
    signals."""
    sc = lab.scenario("journey", fleet, signals=True)
    try:
        register_fleet(sc.settings.database_url, sc.fleet)
        register_consent(sc.settings.database_url, consent_rows(sc.fleet))
        records = list(signal_records(sc.fleet, count))
        asyncio.run(produce(sc.settings, sc.topics.signals, records))
        progress = StoredOffsets(sc.settings.database_url, sc.settings.topic(JOURNEY_GROUP))
        return _measure(sc, "journey", lambda _: progress, len(records))
    finally:
        lab.release(sc)
