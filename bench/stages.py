"""One repetition of each ceiling and of each stage alone, on preloaded input.

A stage is started as ``journeygate <command>``, the process production runs, after its input
was preloaded, so it works at its maximum rate from the first poll. Its run goes from its first
finished output to its last (see :func:`bench.stats.active_run`), CPU time read from outside the
process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bench import drive
from bench.feeder import FeedPlan, open_session
from bench.kafkaio import (
    CommittedOffsets,
    Progress,
    StoredOffsets,
    TopicCount,
    frame_records,
    produce,
    raw_records,
)
from bench.lab import Lab, Scenario, register_fleet
from bench.stats import Run, active_run
from processors.normalize.runner import GROUP as NORMALIZE_GROUP
from processors.store.runner import GROUP as STORE_GROUP

STAGE_TIMEOUT_S = 600.0

Rep = Callable[[Lab, int, int], Run]
"""One repetition: (lab, fleet size, message count) → the measured run."""


def subscription(scenario: Scenario) -> str:
    return f"{scenario.settings.mqtt_topic_root}/+/telemetry"


def preload_mqtt(scenario: Scenario, client_id: str, count: int, first: int = 0) -> None:
    """Queue ``count`` messages in the broker for ``client_id``'s persistent session."""
    open_session(scenario.broker, client_id, subscription(scenario))
    plan = FeedPlan(
        scenario.broker, f"feed-{client_id}", scenario.settings.mqtt_topic_root,
        scenario.fleet.size, scenario.fleet.tag, first, count,
    )
    drive.feed(plan, scenario.log_dir)


def _measure(scenario: Scenario, stage: str, progress: Progress, goal: int) -> Run:
    running = drive.start_stage(scenario, stage)
    try:
        probes = asyncio.run(drive.watch(progress, [running], goal, timeout_s=STAGE_TIMEOUT_S))
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
            "host": b.host, "port": b.port, "username": b.username, "password": b.password,
            "client_id": client_id, "count": count,
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
            "database_url": sc.settings.database_url, "fleet_size": fleet,
            "fleet_tag": sc.fleet.tag, "count": count,
            "batch_rows": sc.settings.batch_max_records,
        }
        return drive.ceiling("copy", args, sc.log_dir)
    finally:
        lab.release(sc)


def avro_ceiling(lab: Lab, fleet: int, count: int) -> Run:
    args = {"fleet_size": fleet, "fleet_tag": 1, "count": count}
    return drive.ceiling("avro", args, lab.root / "logs")


# --- stages alone ----------------------------------------------------------------------------


def bridge_alone(lab: Lab, fleet: int, count: int) -> Run:
    sc = lab.scenario("bridge", fleet)
    try:
        preload_mqtt(sc, sc.settings.bridge_id, count)
        return _measure(sc, "bridge", TopicCount(sc.settings, sc.topics.raw), count)
    finally:
        lab.release(sc)


def normalizer_alone(lab: Lab, fleet: int, count: int) -> Run:
    sc = lab.scenario("normalize", fleet)
    try:
        register_fleet(sc.settings.database_url, sc.fleet)
        asyncio.run(produce(sc.settings, sc.topics.raw, raw_records(sc.settings, sc.fleet, count)))
        group = sc.settings.topic(NORMALIZE_GROUP)
        progress = CommittedOffsets(sc.settings, group, sc.topics.raw)
        return _measure(sc, "normalize", progress, count)
    finally:
        lab.release(sc)


def store_alone(lab: Lab, fleet: int, count: int) -> Run:
    sc = lab.scenario("store", fleet)
    try:
        asyncio.run(produce(sc.settings, sc.topics.frames, frame_records(sc.fleet, count)))
        group = sc.settings.topic(STORE_GROUP)
        return _measure(sc, "store", StoredOffsets(sc.settings.database_url, group), count)
    finally:
        lab.release(sc)

