"""The fleet at scale: a million vehicles reporting every 5 minutes, sustained.

Every vehicle of the fleet reports once per period (messages ``n`` with ``n % fleet`` as the
vehicle, so each vehicle's ``seq`` grows by one per period), paced by the feeder at
``fleet / period`` messages per second times the acceleration. The run lasts a whole number of
periods; the first warms up (every vehicle is new to the normalizer's state), the rest must not
grow memory. Measured: what was lost or stored twice, how far the store fell behind, each stage
process's memory, and the normalizer's memory per vehicle (its growth from before the fleet was
registered to the end, over the fleet size: the registry and the repeat window together).

The signals processor runs beside the store writer on the same frames. Its figures: frames
whose offsets it did not commit in PostgreSQL (lost), frames it consumed more than once
(doubled: consumed less committed), vehicles of the fleet without a state row, the state's bytes
per vehicle in ``signal_state``, and how long after the last publish it caught up. Its warm-up
ends when it has taken the first period through (every vehicle seen once), which may be later
than the other stages.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from journeygate.bench import drive
from journeygate.bench.feeder import FeedPlan
from journeygate.bench.kafkaio import StoredOffsets
from journeygate.bench.lab import Lab, register_fleet
from journeygate.bench.options import Sizes
from journeygate.bench.pipeline import store_group, wait_ready
from journeygate.bench.procstat import peak_rss_bytes, rss_bytes
from processors.signals.runner import GROUP as SIGNALS_GROUP

SAMPLE_EVERY_S = 0.5
JOIN_WAIT_S = 3.0
DRAIN_TIMEOUT_S = 600.0
SIGNALS_DRAIN_TIMEOUT_S = 5400.0
"""The signals processor may take longer than the store: its first period is a full forecast
of every vehicle (about 1,400 CPU-seconds for a million vehicles on the reference machine), so
the run waits up to 90 minutes after the last publish for it and reports how long it took."""
SHARE_GROUP = "bench"
# The embedded broker's (Tansu) in-memory storage slows down as a partition accumulates record
# batches (a fetch at the tail: ~50 ms after 20,000 batches, over 1 s after 60,000), so in a
# run of millions of messages the bridge lingers longer and writes fewer, larger batches.
SCALE_BRIDGE_LINGER_MS = 50


@dataclass(frozen=True, slots=True)
class ProcessMemory:
    """Resident memory of one stage process: before load, after the first period, at the end."""

    name: str
    baseline_bytes: int
    warm_bytes: int
    end_bytes: int
    peak_bytes: int
    handled: int = 0
    """Messages this process took through (bridge: forwarded, normalizer: consumed, store:
    rows written): shows how a share group or a consumer group spread the load."""

    @property
    def growth_after_warmup_pct(self) -> float:
        return 100.0 * (self.end_bytes - self.warm_bytes) / self.warm_bytes


@dataclass(frozen=True, slots=True)
class SignalsScale:
    """The signals processor in the scale run (see the module docstring)."""

    frames: int
    """Frames in ``telemetry.frames`` (one per stored message)."""
    committed: int
    """Frames whose next offsets the processor committed in PostgreSQL."""
    consumed: int
    """Frames it consumed (its ``consumed_total`` metric): more than committed if any twice."""
    lost: int
    doubled: int
    vehicles_with_state: int
    missing_state: int
    """Vehicles of the fleet with no ``signal_state`` row."""
    state_bytes_per_vehicle: float
    """Mean ``octet_length(state)``: the memory as the processor writes it."""
    stored_bytes_per_vehicle: float
    """Mean ``pg_column_size(state)``: what PostgreSQL stores (compressed if it could)."""
    max_state_bytes: int
    drain_s: float
    """From the last publish to the last frame committed."""
    evaluations: int
    signals_emitted: int


@dataclass(frozen=True, slots=True)
class ScaleResult:
    fleet: int
    acceleration: float
    offered_per_s: float
    duration_s: float
    feed_elapsed_s: float
    published: int
    stored: int
    lost: int
    duplicated: int
    """Rows in the store sharing a sample key (the primary key makes this 0)."""
    repeats_absorbed: int
    """Repeats dropped by the normalizer's window or the store's ON CONFLICT (none are sent)."""
    seq_gaps: int
    max_lag: int
    """The most messages that were published but not yet stored, at any time of the run."""
    drain_s: float
    """From the last publish to the last row stored."""
    processes: tuple[ProcessMemory, ...]
    state_bytes_per_vehicle: float
    bridges: int
    normalizers: int
    signals: SignalsScale | None = None


def run_scale(lab: Lab, sizes: Sizes, *, bridges: int = 1, normalizers: int = 1) -> ScaleResult:
    fleet = sizes.scale_fleet
    share = SHARE_GROUP if bridges > 1 else ""
    sc = lab.scenario("scale", fleet, signals=True, bridge_share_group=share)
    running: list[drive.Stage] = []
    try:
        running += [
            drive.start_stage(sc, "normalize", label=f"normalize-{i + 1}")
            for i in range(normalizers)
        ]
        running.append(drive.start_stage(sc, "store"))
        running.append(drive.start_stage(sc, "signals"))
        bridge_procs = [
            drive.start_stage(
                sc,
                "bridge",
                label=f"bridge-{i + 1}",
                env={
                    "JOURNEYGATE_BRIDGE_ID": f"{sc.settings.bridge_id}-{i + 1}",
                    "JOURNEYGATE_BRIDGE_KAFKA_LINGER_MS": str(SCALE_BRIDGE_LINGER_MS),
                },
            )
            for i in range(bridges)
        ]
        running += bridge_procs
        wait_ready(bridge_procs)
        time.sleep(JOIN_WAIT_S)
        baseline = {s.name: rss_bytes(s.pid) for s in running}
        register_fleet(sc.settings.database_url, sc.fleet)
        plan = FeedPlan(
            sc.broker,
            f"feed-{sc.settings.bridge_id}",
            sc.settings.mqtt_topic_root,
            fleet,
            sc.fleet.tag,
            0,
            sizes.scale_messages,
            sizes.scale_rate_per_s,
            event_rate=sizes.scale_acceleration,
        )
        groups = _Groups(store_group(sc), sc.settings.topic(SIGNALS_GROUP))
        watch = asyncio.run(
            _feed_and_watch(sc.settings.database_url, groups, plan, running, fleet, sc.log_dir)
        )
        counts = _count_rows(sc.settings.database_url)
        state = _signal_state(sc.settings.database_url)
        metrics = [drive.scrape(s) for s in running]
        procs = tuple(
            ProcessMemory(
                s.name,
                baseline[s.name],
                watch.warm[s.name],
                rss_bytes(s.pid),
                peak_rss_bytes(s.pid),
                handled_by(s.name, m),
            )
            for s, m in zip(running, metrics, strict=True)
        )
    finally:
        drive.stop_all(running)
        lab.release(sc)
    normalizer_growth = sum(
        p.end_bytes - p.baseline_bytes for p in procs if p.name.startswith("normalize")
    )

    def total(name: str) -> int:
        return int(sum(m.get(name, 0.0) for m in metrics))

    consumed = total(SIGNALS_FRAMES_CONSUMED)
    signals = SignalsScale(
        frames=counts[1],
        committed=watch.signals_committed,
        consumed=consumed,
        lost=max(0, counts[1] - watch.signals_committed),
        doubled=max(0, consumed - watch.signals_committed),
        vehicles_with_state=state.vehicles,
        missing_state=fleet - state.vehicles,
        state_bytes_per_vehicle=state.mean_bytes,
        stored_bytes_per_vehicle=state.mean_stored_bytes,
        max_state_bytes=state.max_bytes,
        drain_s=watch.signals_drain_s,
        evaluations=total("journeygate_signals_evaluations_total"),
        signals_emitted=int(
            sum(v for m in metrics for k, v in m.items() if k.startswith(SIGNALS_EMITTED))
        ),
    )
    return ScaleResult(
        fleet=fleet,
        acceleration=sizes.scale_acceleration,
        offered_per_s=sizes.scale_rate_per_s,
        duration_s=sizes.scale_duration_s,
        feed_elapsed_s=watch.feed_elapsed_s,
        published=watch.published,
        stored=counts[0],
        lost=watch.published - counts[1],
        duplicated=counts[0] - counts[1],
        repeats_absorbed=total("journeygate_normalize_duplicates_total")
        + total("journeygate_store_duplicates_absorbed_total"),
        seq_gaps=total("journeygate_normalize_seq_gaps_total"),
        max_lag=watch.max_lag,
        drain_s=watch.drain_s,
        processes=procs,
        state_bytes_per_vehicle=normalizer_growth / fleet,
        bridges=bridges,
        normalizers=normalizers,
        signals=signals,
    )


SIGNALS_FRAMES_CONSUMED = "journeygate_signals_consumed_total{input=frames}"
SIGNALS_EMITTED = "journeygate_signals_signals_emitted_total"
HANDLED_METRIC = {
    "bridge": "journeygate_bridge_forwarded_total",
    "normalize": "journeygate_normalize_consumed_total",
    "store": "journeygate_store_rows_written_total",
    "signals": SIGNALS_FRAMES_CONSUMED,
}


def handled_by(name: str, metrics: dict[str, float]) -> int:
    """What the process named ``name`` (``bridge-2``, ``store``...) took through."""
    return int(metrics.get(HANDLED_METRIC[name.split("-")[0]], 0.0))


@dataclass(frozen=True, slots=True)
class _Groups:
    """The consumer groups whose offsets in PostgreSQL show progress."""

    store: str
    signals: str


@dataclass(frozen=True, slots=True)
class _Watch:
    published: int
    feed_elapsed_s: float
    max_lag: int
    drain_s: float
    warm: dict[str, int]
    signals_committed: int
    signals_drain_s: float


async def _feed_and_watch(
    database_url: str,
    groups: _Groups,
    plan: FeedPlan,
    running: list[drive.Stage],
    fleet: int,
    log_dir: Path,
) -> _Watch:
    progress = StoredOffsets(database_url, groups.store)
    signals = StoredOffsets(database_url, groups.signals)
    await progress.start()
    await signals.start()
    feeding = asyncio.create_task(drive.feed_async(plan, log_dir))
    started = time.monotonic()
    warm: dict[str, int] = {}
    max_lag = stored = signalled = 0
    fed_at: float | None = None
    stored_at: float | None = None
    try:
        while True:
            await asyncio.sleep(SAMPLE_EVERY_S)
            now = time.monotonic()
            stored = await progress.total()
            signalled = await signals.total()
            offered = min(plan.count, int((now - started) * plan.rate_per_s))
            if fed_at is None:
                max_lag = max(max_lag, offered - stored)
            for s in running:
                # warm once the stage has taken the first period through (every vehicle once)
                done = signalled if s.name == "signals" else stored
                if s.name not in warm and done >= fleet:
                    warm[s.name] = rss_bytes(s.pid)
                if not s.child.alive():
                    raise drive.BenchFailed(f"{s.name} exited:\n{s.child.log_tail()}")
            if fed_at is None and feeding.done():
                fed_at = now
            if fed_at is not None and stored_at is None and stored >= plan.count:
                stored_at = now
            waited = 0.0 if fed_at is None else now - fed_at
            store_over = stored_at is not None or waited > DRAIN_TIMEOUT_S
            if store_over and (signalled >= plan.count or waited > SIGNALS_DRAIN_TIMEOUT_S):
                break
        result = await feeding
    finally:
        await progress.stop()
        await signals.stop()
    done_at = time.monotonic()
    for s in running:
        warm.setdefault(s.name, rss_bytes(s.pid))
    fed = fed_at or done_at
    return _Watch(
        result.acknowledged,
        result.elapsed_s,
        max_lag,
        max(0.0, (stored_at or done_at) - fed),
        warm,
        signalled,
        max(0.0, done_at - fed),
    )


@dataclass(frozen=True, slots=True)
class _StateSize:
    vehicles: int
    mean_bytes: float
    mean_stored_bytes: float
    max_bytes: int


def _signal_state(database_url: str) -> _StateSize:
    """How many vehicles have a ``signal_state`` row, and how large their states are."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(avg(octet_length(state)), 0),"
            " coalesce(avg(pg_column_size(state)), 0), coalesce(max(octet_length(state)), 0)"
            " FROM signal_state"
        ).fetchone()
    assert row is not None
    return _StateSize(int(row[0]), float(row[1]), float(row[2]), int(row[3]))


def _count_rows(database_url: str) -> tuple[int, int]:
    """Rows stored, and distinct sample keys among them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (vin, boot_id, seq, sample_idx)) FROM telemetry"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
