"""The fleet at scale: a million vehicles reporting every 5 minutes, sustained.

Every vehicle of the fleet reports once per period (messages ``n`` with ``n % fleet`` as the
vehicle, so each vehicle's ``seq`` grows by one per period), paced by the feeder at
``fleet / period`` messages per second times the acceleration. The run lasts a whole number of
periods; the first warms up (every vehicle is new to the normalizer's state), the rest must not
grow memory. Measured: what was lost or stored twice, how far the store fell behind, each stage
process's memory, and the normalizer's memory per vehicle (its growth from before the fleet was
registered to the end, over the fleet size: the registry and the repeat window together).
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

SAMPLE_EVERY_S = 0.5
JOIN_WAIT_S = 3.0
DRAIN_TIMEOUT_S = 600.0
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


def run_scale(lab: Lab, sizes: Sizes, *, bridges: int = 1, normalizers: int = 1) -> ScaleResult:
    fleet = sizes.scale_fleet
    share = SHARE_GROUP if bridges > 1 else ""
    sc = lab.scenario("scale", fleet, bridge_share_group=share)
    running: list[drive.Stage] = []
    try:
        running += [
            drive.start_stage(sc, "normalize", label=f"normalize-{i + 1}")
            for i in range(normalizers)
        ]
        running.append(drive.start_stage(sc, "store"))
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
        )
        watch = asyncio.run(
            _feed_and_watch(
                sc.settings.database_url, store_group(sc), plan, running, fleet, sc.log_dir
            )
        )
        counts = _count_rows(sc.settings.database_url)
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
    )


HANDLED_METRIC = {
    "bridge": "journeygate_bridge_forwarded_total",
    "normalize": "journeygate_normalize_consumed_total",
    "store": "journeygate_store_rows_written_total",
}


def handled_by(name: str, metrics: dict[str, float]) -> int:
    """What the process named ``name`` (``bridge-2``, ``store``...) took through."""
    return int(metrics.get(HANDLED_METRIC[name.split("-")[0]], 0.0))


@dataclass(frozen=True, slots=True)
class _Watch:
    published: int
    feed_elapsed_s: float
    max_lag: int
    drain_s: float
    warm: dict[str, int]


async def _feed_and_watch(
    database_url: str,
    group: str,
    plan: FeedPlan,
    running: list[drive.Stage],
    fleet: int,
    log_dir: Path,
) -> _Watch:
    progress = StoredOffsets(database_url, group)
    await progress.start()
    feeding = asyncio.create_task(drive.feed_async(plan, log_dir))
    started = time.monotonic()
    warm: dict[str, int] = {}
    max_lag = stored = 0
    fed_at: float | None = None
    try:
        while True:
            await asyncio.sleep(SAMPLE_EVERY_S)
            now = time.monotonic()
            stored = await progress.total()
            offered = min(plan.count, int((now - started) * plan.rate_per_s))
            if fed_at is None:
                max_lag = max(max_lag, offered - stored)
            if not warm and stored >= fleet:
                warm = {s.name: rss_bytes(s.pid) for s in running}
            for s in running:
                if not s.child.alive():
                    raise drive.BenchFailed(f"{s.name} exited:\n{s.child.log_tail()}")
            if fed_at is None and feeding.done():
                fed_at = now
            if fed_at is not None and stored >= plan.count:
                break
            if fed_at is not None and now - fed_at > DRAIN_TIMEOUT_S:
                break
        result = await feeding
    finally:
        await progress.stop()
    done_at = time.monotonic()
    if not warm:
        warm = {s.name: rss_bytes(s.pid) for s in running}
    return _Watch(
        result.acknowledged,
        result.elapsed_s,
        max_lag,
        max(0.0, done_at - (fed_at or done_at)),
        warm,
    )


def _count_rows(database_url: str) -> tuple[int, int]:
    """Rows stored, and distinct sample keys among them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (vin, boot_id, seq, sample_idx)) FROM telemetry"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
