"""The signals processor SIGKILLed mid-stream and restarted ends exactly where an uninterrupted
one does: the same vehicle_state, the same signals, each stored once, the same usage shifts.

Two deployments (topics and databases of their own) get the same registry, frames and visits.
One runs ``journeygate process signals`` in small batches and is killed with SIGKILL while it
works through them, then started again; the other runs undisturbed. Both are processes. The
fleet drives a quarter above its habits (a season), with enough cars in each partition for the
partitions' usage shifts (processors/signals/fleetshift.py) to move during the run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pipeline_kit import stage_env

from journeygate.embedded.procs import Child
from kernel.kafka import VEHICLE_SERVICES, Topics, ensure_topics, make_producer
from kernel.settings import Settings
from processors.signals.runner import GROUP
from schemas.codec import FrameCodec
from schemas.records import Sample, TelemetryFrame
from schemas.services import ServiceItem, ServiceVisitCodec, ServiceVisitRecord

pytestmark = pytest.mark.e2e

START = datetime(2025, 1, 1, tzinfo=UTC)
DELIVERED = datetime(2023, 6, 1, tzinfo=UTC)
VINS = [f"WVWZZZ1KZ8W{n:06d}" for n in range(120)]
VISITED = VINS[0]
DAYS = 36
SEASON = 1.25
Ends = dict[tuple[str, int], int]


def habit_km(n: int) -> float:
    return 20.0 + 9.0 * (n % 8)


def odometer_m(n: int, day: float) -> float:
    """Delivered at 5 km, a habit's distance a day until START, a quarter more since."""
    before = (START - DELIVERED).days * habit_km(n)
    return 5_000 + (before + day * habit_km(n) * SEASON) * 1000


def frames() -> list[TelemetryFrame]:
    """36 days of a frame a day (2 samples each) per vehicle, in time order; codes come and
    go."""
    out = []
    for day in range(DAYS):
        at = START + timedelta(days=day, hours=12)
        for n, vin in enumerate(VINS):
            km = habit_km(n) * SEASON
            odo = odometer_m(n, day + 0.5)
            codes = ("P0420",) if (day + n) % 17 in (3, 4) else ()
            samples = tuple(
                Sample(
                    i,
                    at + timedelta(minutes=15 * i),
                    odometer_m=round(odo + i * km * 250),
                    dtcs=codes,
                )
                for i in range(2)
            )
            out.append(TelemetryFrame(vin, "boot", day, at, "bridge", samples))
    return out


def visits() -> list[ServiceVisitRecord]:
    items = (
        ServiceItem("scheduled", None, "scheduled service", 262.0),
        ServiceItem("wear", "wiper_blades", "wipers", 44.0),
    )
    return [
        ServiceVisitRecord(
            f"INV-{d}",
            VISITED,
            START + timedelta(days=d, hours=12),
            round(odometer_m(0, d + 0.5)),
            "D-1",
            "USD",
            items,
        )
        for d in (15, 30)
    ]


def register(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for n, vin in enumerate(VINS):
            model = ("Toyota", "Camry", "ice") if n % 2 else ("Kia", "EV6", "ev")
            conn.execute(
                "INSERT INTO vehicles (vin, brand, model, model_year, powertrain, delivery_date,"
                " delivery_odometer_m, dealer_id, finance_kind, finance_amount, finance_apr_pct,"
                " finance_term_months, finance_start) VALUES (%s, %s, %s, 2023, %s, '2023-06-01',"
                " 5000, 'D-1', 'loan', 26000, 5.9, 60, '2023-06-01')",
                (vin, *model),
            )


async def produce(settings: Settings) -> Ends:
    await ensure_topics(settings, [settings.topic(VEHICLE_SERVICES)])
    producer = make_producer(settings)
    await producer.start()
    try:
        codec = FrameCodec()
        topic = Topics.from_settings(settings).frames
        services = settings.topic(VEHICLE_SERVICES)
        # each visit published after its day's frames, as a dealer's system would: a visit
        # published weeks late may join its dealer's pool at another tick in a run that reads
        # it later than one that reads it first (docs/signals.md, "A dealer's prices")
        due = sorted(visits(), key=lambda v: v.visit_ts)
        pending = []
        for f in frames():
            while due and due[0].visit_ts.date() < f.ingest_ts.date():
                v = due.pop(0)
                pending.append(
                    await producer.send(services, ServiceVisitCodec().encode(v), key=v.vin.encode())
                )
            pending.append(await producer.send(topic, codec.encode(f), key=f.vin.encode()))
        pending += [
            await producer.send(services, ServiceVisitCodec().encode(v), key=v.vin.encode())
            for v in due
        ]
        ends: Ends = {}
        for meta in [await p for p in pending]:
            key = (meta.topic, meta.partition)
            ends[key] = max(ends.get(key, 0), meta.offset + 1)
        return ends
    finally:
        await producer.stop()


def query(settings: Settings, sql: str) -> list[Any]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def offsets(settings: Settings) -> Ends:
    rows = query(
        settings,
        "SELECT topic, kafka_partition, next_offset FROM consumer_offsets"
        f" WHERE consumer_group = '{settings.topic(GROUP)}'",
    )
    return {(t, p): o for t, p, o in rows}


def start(settings: Settings, log: Path, batch: int) -> Child:
    env = {**os.environ, **stage_env(settings), "JOURNEYGATE_BATCH_MAX_RECORDS": str(batch)}
    argv = [sys.executable, "-m", "journeygate", "process", "signals"]
    return Child("signals", argv, log_path=log, env=env)


def wait_until(
    condition: Callable[[], bool], what: str, child: Child, timeout_s: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if not child.alive():
            raise AssertionError(f"signals exited while waiting until {what}:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}:\n{child.log_tail()}")
        time.sleep(0.02)


async def kill_between_publish_and_commit(
    settings: Settings, child: Child, after: Callable[[], bool], by: int
) -> bool:
    """Once ``after`` holds, SIGKILL ``child`` as soon as vehicle.signals holds more records than
    the signals table, or once ``by`` records are stored; True if the moment was caught. The
    signals table is locked against writes meanwhile (reads go on), so the next batch that
    publishes signals waits at its write, before its commit, until the kill: the moment is held
    open rather than raced for (a busy machine missed it). ``after`` is awaited here, once the
    watcher is connected, so that the lock follows it closely (a processor fast enough finished
    the whole input while the watcher connected)."""
    topic = Topics.from_settings(settings).signals
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, fetch_max_wait_ms=5)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        on_kafka = 0
        async with (
            await psycopg.AsyncConnection.connect(settings.database_url) as lock,
            await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn,
        ):
            wait_until(after, "a fifth is stored", child)
            await lock.execute("LOCK TABLE signals IN SHARE MODE")  # until the kill's rollback
            while True:
                for part in (await consumer.getmany(timeout_ms=2)).values():
                    on_kafka += len(part)
                row = await (await conn.execute("SELECT count(*) FROM signals")).fetchone()
                if row is not None and on_kafka > row[0]:
                    child.kill()
                    return True
                stored = await (
                    await conn.execute(
                        "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets"
                        " WHERE consumer_group = %s",
                        (settings.topic(GROUP),),
                    )
                ).fetchone()
                if stored is not None and stored[0] >= by:
                    child.kill()
                    return False
    finally:
        await consumer.stop()


async def kafka_ids(settings: Settings) -> Counter[str]:
    """How many times each signal_id is on vehicle.signals."""
    topic = Topics.from_settings(settings).signals
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ids: Counter[str] = Counter()
        idle = 0
        while idle < 3:
            got = await consumer.getmany(timeout_ms=200)
            idle = 0 if got else idle + 1
            for part in got.values():
                ids.update(dict(rec.headers)["signal_id"].decode() for rec in part)
        return ids
    finally:
        await consumer.stop()


COLUMNS = (  # of vehicle_state, compared between the runs
    "as_of_ts",
    "odometer_m",
    "usage",
    "warranty",
    "service",
    "equity",
    "active_faults",
    "last_service",
    "predicted_as_of_ts",
)


def differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """One line per vehicle whose vehicle_state rows differ, naming the differing columns and,
    for a JSON column, the differing keys with both values."""
    out = []
    for vin in sorted(ours.keys() | theirs.keys()):
        a, b = ours.get(vin), theirs.get(vin)
        if a == b:
            continue
        if a is None or b is None:
            out.append(f"{vin}: only in {'theirs' if a is None else 'ours'}")
            continue
        parts = []
        for name, x, y in zip(COLUMNS, a, b, strict=True):
            if x == y:
                continue
            if isinstance(x, dict) and isinstance(y, dict):
                keys = sorted(k for k in x.keys() | y.keys() if x.get(k) != y.get(k))
                parts.append(
                    f"{name}: " + ", ".join(f"{k} {x.get(k)!r} != {y.get(k)!r}" for k in keys)
                )
            else:
                parts.append(f"{name}: {x!r} != {y!r}")
        out.append(f"{vin}: " + "; ".join(parts))
    return out


def snapshot(settings: Settings) -> tuple[dict[str, Any], list[tuple[str, str]], list[Any]]:
    states = query(settings, f"SELECT vin, {', '.join(COLUMNS)} FROM vehicle_state")
    signals = query(settings, "SELECT signal_id, vin FROM signals ORDER BY signal_id")
    visits = query(settings, "SELECT visit_id, vin, invoiced_amount FROM service_visits ORDER BY 1")
    return {row[0]: row[1:] for row in states}, [(a, b) for a, b in signals], visits


def usage_shifts(settings: Settings) -> dict[int, tuple[int, Any]]:
    rows = query(
        settings,
        "SELECT kafka_partition, next_offset, state FROM usage_shift"
        f" WHERE consumer_group = '{settings.topic(GROUP)}'",
    )
    return {p: (o, state) for p, o, state in rows}


def test_sigkill_mid_stream_then_restart_matches_an_uninterrupted_run(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # A short session: the restarted member waits for the killed one's to expire.
    quick = {"kafka_session_timeout_ms": 1500, "kafka_heartbeat_interval_ms": 300}
    killed, steady = make_settings(**quick), make_settings(**quick)
    ends: dict[str, Ends] = {}
    for settings in (killed, steady):
        register(settings)
        ends[settings.topic_prefix] = asyncio.run(produce(settings))
    total = sum(ends[killed.topic_prefix].values())
    victim = start(killed, tmp_path / "killed.log", batch=40)
    reference = start(steady, tmp_path / "steady.log", batch=5000)

    def fifth() -> bool:
        return sum(offsets(killed).values()) >= total // 5

    try:
        # Kill once a fifth is stored, at a moment some signals are on Kafka but not yet in
        # PostgreSQL: a batch published and not committed.
        caught = asyncio.run(kill_between_publish_and_commit(killed, victim, fifth, total * 4 // 5))
        victim.stop()  # already dead: closes its log
        stored_at_kill = sum(offsets(killed).values())
        assert stored_at_kill < total, "the processor finished before it could be killed"
        victim = start(killed, tmp_path / "killed.log", batch=40)
        wait_until(lambda: offsets(killed) == ends[killed.topic_prefix], "drained", victim)
        wait_until(lambda: offsets(steady) == ends[steady.topic_prefix], "drained", reference)
    finally:
        victim.stop()
        reference.stop()

    states, signals, stored_visits = snapshot(killed)
    ref_states, ref_signals, ref_visits = snapshot(steady)
    assert len(states) == len(VINS)
    others = {v: s for v, s in states.items() if v != VISITED}
    differ = differences(others, {v: s for v, s in ref_states.items() if v != VISITED})
    assert not differ, "\n".join([f"{len(differ)} vehicles differ", *differ[:5]])
    # The visited vehicle's observed state is the same; its forecasts (warranty, service,
    # equity: columns 3-5) were last evaluated where its visit fell among the batch's frames,
    # which the two runs cut differently (a known limit, docs/signals.md).
    keep = (0, 1, 2, 6, 7)
    assert [states[VISITED][i] for i in keep] == [ref_states[VISITED][i] for i in keep]
    assert stored_visits == ref_visits and len(stored_visits) == 2
    # Vehicles without visits publish exactly the same signals; a visit is folded with the batch
    # it arrives in, which the two runs cut differently.
    assert [s for s in signals if s[1] != VISITED] == [s for s in ref_signals if s[1] != VISITED]
    assert len({s for s, _ in signals}) == len(signals)
    published = asyncio.run(kafka_ids(killed))
    assert set(published) == {s for s, _ in signals}
    # Killed after publishing a batch's signals and before committing it: the batch was read
    # again, and whatever it published again (same ids when the restart cut the batch the same
    # way; consumers drop repeats) is stored once, as the set equality above shows.
    assert caught
    # The partitions' usage shifts moved with the season, the same in both runs.
    shifts = usage_shifts(killed)
    assert shifts == usage_shifts(steady)
    frames_topic = Topics.from_settings(killed).frames
    assert {p: o for p, (o, _) in shifts.items()} == {
        p: o for (t, p), o in ends[killed.topic_prefix].items() if t == frames_topic
    }
    in_force = sorted(state["shift"] for _, state in shifts.values())
    assert len(in_force) == killed.kafka_partitions and in_force[0] >= 3, shifts
    # and the visited vehicle's dealer invoices joined its partition's pool, the same in both
    pools = [state["dealer_prices"] for _, state in shifts.values()]
    assert sum(bool(pool["dealers"]) for pool in pools) == 1, pools
    # A visit read before any frame of its vehicle has no predicted bill to score.
    scored = {row[0] for row in query(killed, "SELECT visit_id FROM bill_errors")}
    assert scored <= {"INV-15", "INV-30"}
