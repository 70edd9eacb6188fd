"""The whole pipeline: its maximum sustainable rate, and its latency at half that rate.

*Maximum rate*: bridge, normalizer and store writer run together (the normalizer and store
writer have joined their groups first) and drain a queue preloaded into the bridge's MQTT
session; the rate is rows stored per second from the first row to the last, while all three
compete for the machine's cores as they do under a sustained load. The same with the signals
and journey processors beside them (:func:`drain_to_alerts`) gives the rate at which the
telemetry-to-alert latency is measured (half of it).

*Latency*: a fresh pipeline, warmed up with one message per vehicle, is fed at half the maximum
rate by a paced feeder that stamps each message's event time when it sends it; the latency of a
sample is ``stored_at - event_ts`` (``stored_at`` is PostgreSQL's ``now()``, the start of the
store writer's transaction, on the same host clock: a row becomes visible at most one commit
later). ``ingest_ts - event_ts`` is the part up to the bridge.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import psycopg

from journeygate.bench import drive
from journeygate.bench.feeder import FeedPlan
from journeygate.bench.kafkaio import StoreCount, StoredOffsets
from journeygate.bench.lab import Lab, Scenario, register_consent, register_fleet
from journeygate.bench.stages import STAGE_TIMEOUT_S, preload_mqtt
from journeygate.bench.stats import Run, whole_run
from journeygate.demo import BRIDGE_READY_METRIC
from processors.signals.runner import GROUP as SIGNALS_GROUP
from processors.store.runner import GROUP as STORE_GROUP

STAGES = ("bridge", "normalize", "store")
READY_TIMEOUT_S = 60.0

_LATENCY_SQL = """
SELECT count(*),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s),
       max(s),
       percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY i)
FROM (SELECT extract(epoch FROM stored_at - event_ts) * 1000 AS s,
             extract(epoch FROM ingest_ts - event_ts) * 1000 AS i
      FROM telemetry WHERE seq >= %s) AS t
"""


@dataclass(frozen=True, slots=True)
class DrainRun:
    """One drain of the whole pipeline: all stages together, and each stage's share."""

    total: Run
    stages: dict[str, Run]


@dataclass(frozen=True, slots=True)
class Latency:
    """End-to-end latency of samples fed at ``offered_per_s`` for ``duration_s``."""

    offered_per_s: float
    duration_s: float
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    to_bridge_p50_ms: float
    to_bridge_p99_ms: float


def wait_ready(bridges: list[drive.Stage], timeout_s: float = READY_TIMEOUT_S) -> None:
    """Block until every bridge reports a subscribed MQTT session."""
    deadline = time.monotonic() + timeout_s
    for bridge in bridges:
        while drive.scrape(bridge).get(BRIDGE_READY_METRIC) != 1.0:
            if not bridge.child.alive():
                raise drive.BenchFailed(f"{bridge.name} exited:\n{bridge.child.log_tail()}")
            if time.monotonic() > deadline:
                raise drive.BenchFailed(f"{bridge.name} did not connect within {timeout_s:.0f} s")
            time.sleep(0.1)


def store_group(scenario: Scenario) -> str:
    return scenario.settings.topic(STORE_GROUP)


def drain(lab: Lab, fleet: int, count: int) -> DrainRun:
    """One repetition of the maximum-rate measurement."""
    sc = lab.scenario("pipeline", fleet)
    register_fleet(sc.settings.database_url, sc.fleet)
    return _drain(lab, sc, count, ("normalize", "store"), STORE_GROUP)


def drain_to_alerts(lab: Lab, fleet: int, count: int) -> DrainRun:
    """The maximum rate of the five-stage pipeline (the signals and journey processors beside
    the three; every owner consents to service reminders): frames the signals processor
    committed per second, the slowest of them, while all five share the cores."""
    sc = lab.scenario("pipeline-alerts", fleet, signals=True)
    register_fleet(sc.settings.database_url, sc.fleet)
    given = datetime(2020, 1, 1, tzinfo=UTC)
    rows = ((sc.fleet.vin(i), "service_reminders", True, given, "bench") for i in range(fleet))
    register_consent(sc.settings.database_url, rows)
    stages = ("normalize", "store", "signals", "journey")
    return _drain(lab, sc, count, stages, SIGNALS_GROUP)


def _drain(lab: Lab, sc: Scenario, count: int, stages: tuple[str, ...], group: str) -> DrainRun:
    """``stages`` started and warmed up, then the bridge drains ``count`` preloaded messages;
    the rate is that of ``group``'s stored offsets, from its first record to its last."""
    running: list[drive.Stage] = []
    try:
        running += [drive.start_stage(sc, stage) for stage in stages]
        warm_up(sc, running, group)
        preload_mqtt(sc, sc.settings.bridge_id, count, first=sc.fleet.size)
        running.append(drive.start_stage(sc, "bridge"))
        progress = StoredOffsets(sc.settings.database_url, sc.settings.topic(group))
        goal = sc.fleet.size + count
        probes = asyncio.run(drive.watch(progress, running, goal, timeout_s=STAGE_TIMEOUT_S))
    finally:
        drive.stop_all(running)
        lab.release(sc)
    shifted = {name: [p.shifted(sc.fleet.size) for p in ps] for name, ps in probes.items()}
    runs = {name: whole_run(ps, count) for name, ps in shifted.items()}
    first = next(iter(runs.values()))
    total = Run(first.count, first.wall_s, sum(r.cpu_s for r in runs.values()))
    return DrainRun(total, runs)


def warm_up(scenario: Scenario, running: list[drive.Stage], group: str = STORE_GROUP) -> None:
    """Send one message per vehicle through a temporary bridge so that every consumer has
    joined its group and every cache is warm; waits until ``group`` has them all."""
    sc = scenario
    bridge = drive.start_stage(sc, "bridge", label="bridge-warmup")
    try:
        wait_ready([bridge])
        drive.feed(_plan(sc, 0, sc.fleet.size, 0.0), sc.log_dir)
        progress = StoredOffsets(sc.settings.database_url, sc.settings.topic(group))
        asyncio.run(drive.watch(progress, running, sc.fleet.size, timeout_s=READY_TIMEOUT_S))
    finally:
        bridge.child.stop()


def _plan(sc: Scenario, first: int, count: int, rate_per_s: float) -> FeedPlan:
    return FeedPlan(
        sc.broker,
        f"feed-{sc.settings.bridge_id}-{first}",
        sc.settings.mqtt_topic_root,
        sc.fleet.size,
        sc.fleet.tag,
        first,
        count,
        rate_per_s,
    )


def latency(lab: Lab, fleet: int, rate_per_s: float, duration_s: float) -> Latency:
    """Feed a warm pipeline at ``rate_per_s`` for ``duration_s`` and read the latencies."""
    sc = lab.scenario("latency", fleet)
    running: list[drive.Stage] = []
    count = max(1, round(rate_per_s * duration_s))
    try:
        register_fleet(sc.settings.database_url, sc.fleet)
        running += [drive.start_stage(sc, "normalize"), drive.start_stage(sc, "store")]
        warm_up(sc, running)
        running.append(drive.start_stage(sc, "bridge"))
        wait_ready([running[-1]])
        drive.feed(_plan(sc, sc.fleet.size, count, rate_per_s), sc.log_dir)
        progress = StoredOffsets(sc.settings.database_url, store_group(sc))
        goal = sc.fleet.size + count
        asyncio.run(drive.watch(progress, running, goal, timeout_s=STAGE_TIMEOUT_S))
        return _read_latency(sc, rate_per_s, duration_s)
    finally:
        drive.stop_all(running)
        lab.release(sc)


def _read_latency(sc: Scenario, rate_per_s: float, duration_s: float) -> Latency:
    with psycopg.connect(sc.settings.database_url, autocommit=True) as conn:
        row = conn.execute(_LATENCY_SQL, (1,)).fetchone()
    assert row is not None
    samples, (p50, p95, p99), worst, (b50, b99) = row
    return Latency(
        offered_per_s=rate_per_s,
        duration_s=duration_s,
        samples=int(samples),
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        max_ms=float(worst),
        to_bridge_p50_ms=float(b50),
        to_bridge_p99_ms=float(b99),
    )


# --- telemetry to dealer alert --------------------------------------------------------------

ALERT_CODE = "P0420"
"""The diagnostic code the alert-latency feed reports: medium severity, so it opens the
``fault_active`` gate (processors/journey/alert_rules.toml)."""

_ALERT_LATENCY_SQL = """
SELECT count(*),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s),
       max(s)
FROM (SELECT extract(epoch FROM stored_at - created_ts) * 1000 AS s
      FROM alerts WHERE alert_type = 'fault_active') AS t
"""


@dataclass(frozen=True, slots=True)
class AlertLatency:
    """From a telemetry sample that completes a gate to its dealer alert, fed at
    ``offered_per_s`` for ``duration_s``."""

    offered_per_s: float
    duration_s: float
    alerts: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def alert_latency(lab: Lab, fleet: int, rate_per_s: float, duration_s: float) -> AlertLatency:
    """The whole pipeline with the signals and journey processors: warmed up with one message
    per vehicle (each vehicle evaluated once, its journey live), then fed at ``rate_per_s``
    with messages that report :data:`ALERT_CODE`. A vehicle's first such sample raises the code
    (the signals processor evaluates at once on a change of codes), the journey opens
    ``fault_active`` and raises a service alert (every owner consents to service reminders and
    nothing else, so no other alert competes for the contact budget). Latency of an alert:
    ``alerts.stored_at - created_ts``: ``created_ts`` is the sample's event time (stamped by the
    feeder when it sends it), ``stored_at`` PostgreSQL's ``now()`` in the transaction that
    stores the alert, which starts after ``dealer.alerts`` acknowledged it."""
    sc = lab.scenario("alert-latency", fleet, signals=True)
    running: list[drive.Stage] = []
    count = max(1, round(rate_per_s * duration_s))
    db = sc.settings.database_url
    try:
        register_fleet(db, sc.fleet)
        given = datetime(2020, 1, 1, tzinfo=UTC)
        rows = ((sc.fleet.vin(i), "service_reminders", True, given, "bench") for i in range(fleet))
        register_consent(db, rows)
        for stage in ("normalize", "store", "signals", "journey"):
            running.append(drive.start_stage(sc, stage))
        warm_up(sc, running)
        live = StoreCount(db, "SELECT count(*) FROM journey_state")
        asyncio.run(drive.watch(live, running, fleet, timeout_s=STAGE_TIMEOUT_S))
        running.append(drive.start_stage(sc, "bridge"))
        wait_ready([running[-1]])
        plan = replace(_plan(sc, sc.fleet.size, count, rate_per_s), dtcs=(ALERT_CODE,))
        drive.feed(plan, sc.log_dir)
        goal = min(count, fleet)
        raised = StoreCount(db, "SELECT count(*) FROM alerts WHERE alert_type = 'fault_active'")
        asyncio.run(drive.watch(raised, running, goal, timeout_s=STAGE_TIMEOUT_S))
        with psycopg.connect(db, autocommit=True) as conn:
            row = conn.execute(_ALERT_LATENCY_SQL).fetchone()
        assert row is not None
        alerts, (p50, p95, p99), worst = row
        return AlertLatency(
            rate_per_s, duration_s, int(alerts), float(p50), float(p95), float(p99), float(worst)
        )
    finally:
        drive.stop_all(running)
        lab.release(sc)
